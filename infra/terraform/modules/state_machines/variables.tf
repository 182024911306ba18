variable "name_prefix" {
  description = "Prefix of every resource name, \"<project>-<environment>\" (e.g. mtx-dev)."
  type        = string
}

variable "state_machines_dir" {
  description = "Folder holding the ASL files (orchestration/state_machines); one state machine per <workflow>.asl.json present."
  type        = string
}

variable "workflow_types" {
  description = "Step Functions type of every known workflow (file stem -> EXPRESS | STANDARD), as in orchestration/runtime/resources.py WORKFLOWS."
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
  description = "Values of the ASL $${...} placeholders passed to templatefile(): exactly Manifest.placeholders() of orchestration/runtime/resources.py."
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

variable "alias_name" {
  description = "Name of the alias every starter of an execution targets (<state machine ARN>:<alias_name>)."
  type        = string
  default     = "live"

  validation {
    condition     = can(regex("^[A-Za-z][A-Za-z0-9_-]{0,79}$", var.alias_name)) && !can(regex("^[0-9]+$", var.alias_name))
    error_message = "alias_name must be 1-80 letters, digits, '-' or '_', starting with a letter."
  }
}

variable "live_versions" {
  description = <<-EOT
    Rollback: workflow -> the published version its alias routes to, as a version number ("3") or a
    version ARN (arn:aws:states:<region>:<account>:stateMachine:<name>:3). A workflow not listed (the
    default: none) runs the version this apply published, i.e. the current definition. Remove the entry
    to roll forward again.
  EOT
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for v in values(var.live_versions) : can(regex("^([1-9][0-9]*|arn:aws[a-z-]*:states:[a-z0-9-]+:[0-9]{12}:stateMachine:[A-Za-z0-9_-]+:[1-9][0-9]*)$", v))])
    error_message = "Each live_versions value must be a version number (\"3\") or a state machine version ARN (...:stateMachine:<name>:3)."
  }
}
