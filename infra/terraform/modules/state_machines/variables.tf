variable "name_prefix" {
  description = "Prefix of every resource name, \"<project>-<environment>\" (e.g. mtx-dev)."
  type        = string
}

variable "state_machines_dir" {
  description = "Folder holding the ASL files (orchestration/state_machines); one state machine per <workflow>.asl.json present."
  type        = string
}

variable "workflow_types" {
  description = "Step Functions type of every known workflow (file stem -> EXPRESS | STANDARD), as in orchestration/runtime/manifest.py."
  type        = map(string)
  default = {
    transaction       = "EXPRESS"
    batch_ingest      = "STANDARD"
    analytics_refresh = "STANDARD"
    analytics_job     = "STANDARD"
  }

  validation {
    condition     = alltrue([for t in values(var.workflow_types) : contains(["EXPRESS", "STANDARD"], t)])
    error_message = "Every workflow type must be EXPRESS or STANDARD."
  }
}

variable "template_values" {
  description = "Values of the ASL $${...} placeholders passed to templatefile(): exactly Manifest.placeholders() of orchestration/runtime/manifest.py."
  type        = map(string)
}

variable "queue_arns_by_url" {
  description = "SQS queue ARN by queue URL, to scope sqs:SendMessage of the states that send to a QueueUrl."
  type        = map(string)
}

variable "kms_key_arn" {
  description = "ARN of the KMS key of the encrypted targets (queue, topic, tables, buckets) and of the log groups."
  type        = string
}

variable "log_level" {
  description = "Execution logging level. Execution data (card numbers, IPs) is never included, whatever the level."
  type        = string
  default     = "ALL"

  validation {
    condition     = contains(["ALL", "ERROR", "FATAL"], var.log_level)
    error_message = "log_level must be ALL, ERROR or FATAL (logging is never OFF)."
  }
}

variable "log_retention_days" {
  description = "Retention of the state machines' log groups, in days."
  type        = number
  default     = 365
}
