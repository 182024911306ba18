variable "name_prefix" {
  description = "Prefix of every resource name, \"<project>-<environment>\" (e.g. mtx-dev)."
  type        = string
}

variable "kms_key_arn" {
  description = "ARN of the KMS key that encrypts the queue and the topic."
  type        = string
}

variable "alert_email" {
  description = "E-mail address subscribed to the alert topic (the subscription must be confirmed from the mail); null for none."
  type        = string
  default     = null

  validation {
    condition     = var.alert_email == null || can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.alert_email))
    error_message = "alert_email must be an e-mail address or null."
  }
}

variable "message_retention_seconds" {
  description = "How long a dead-lettered transaction stays in the queue (max 14 days)."
  type        = number
  default     = 1209600

  validation {
    condition     = var.message_retention_seconds >= 60 && var.message_retention_seconds <= 1209600
    error_message = "message_retention_seconds must be between 60 and 1209600."
  }
}

variable "dead_letter_sender_role_arns" {
  description = "ARNs of the roles that put failed transactions on the dead-letter queue (the state machines and functions that dead-letter); the queue's policy denies sqs:SendMessage to every other principal."
  type        = list(string)

  validation {
    condition     = length(var.dead_letter_sender_role_arns) > 0
    error_message = "dead_letter_sender_role_arns is empty: nothing could dead-letter a transaction."
  }

  validation {
    condition     = alltrue([for arn in var.dead_letter_sender_role_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$", arn))])
    error_message = "dead_letter_sender_role_arns must be IAM role ARNs."
  }
}

variable "redrive_principal_arns" {
  description = "IAM roles or users (ARNs) allowed to assume the redrive role, with MFA. Empty (the default): no redrive role is created and nobody can read the dead-letter queue. Never an account root or a wildcard."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for arn in var.redrive_principal_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(role|user)/[^*]+$", arn))])
    error_message = "redrive_principal_arns must name IAM roles or users (arn:aws:iam::<account>:role/<name> or :user/<name>), never an account root (:root) or a wildcard."
  }
}

variable "redrive_state_machine_arn" {
  description = "ARN of the transaction state machine the redrive role starts again with a dead-lettered transaction."
  type        = string
}

variable "redrive_alias_arn" {
  description = "ARN of the transaction state machine's alias (<state machine ARN>:live): what a redrive starts."
  type        = string
}
