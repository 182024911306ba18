variable "actions" {
  description = "Actions denied without TLS, e.g. [\"sqs:*\"] for a queue, [\"sns:Publish\"] for a topic."
  type        = list(string)

  validation {
    condition     = length(var.actions) > 0
    error_message = "actions must name at least one action."
  }
}

variable "resource_arns" {
  description = "ARNs of the resources whose policy holds the statement (the queue, the topic)."
  type        = list(string)
}
