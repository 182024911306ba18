variable "name_prefix" {
  description = "Prefix of every resource name, \"<project>-<environment>\" (e.g. mtx-dev)."
  type        = string
}

variable "raw_bucket_name" {
  description = "Raw bucket whose incoming/ objects start the batch workflow."
  type        = string
}

variable "batch_ingest_state_machine_arn" {
  description = "ARN of the batch_ingest state machine; null when orchestration/state_machines/batch_ingest.asl.json does not exist."
  type        = string
  default     = null
}

variable "enable_batch_ingest" {
  description = "Create the EventBridge rule for incoming/ objects (true when the batch_ingest workflow is deployed; known at plan time)."
  type        = bool
  default     = false
}

variable "analytics_refresh_state_machine_arn" {
  description = "ARN of the analytics_refresh state machine; null when its ASL file does not exist."
  type        = string
  default     = null
}

variable "enable_analytics_refresh" {
  description = "Create the analytics refresh schedule (true when the analytics_refresh workflow is deployed; known at plan time)."
  type        = bool
  default     = false
}

variable "analytics_refresh_schedule" {
  description = "EventBridge Scheduler expression of the analytics refresh (UTC)."
  type        = string
  default     = "cron(0 3 * * ? *)"

  validation {
    condition     = can(regex("^(cron|rate|at)\\(.+\\)$", var.analytics_refresh_schedule))
    error_message = "analytics_refresh_schedule must be a cron(...), rate(...) or at(...) expression."
  }
}

variable "kms_key_arn" {
  description = "ARN of the KMS key that encrypts the schedule's input and the undelivered-events queue."
  type        = string
}
