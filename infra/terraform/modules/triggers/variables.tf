variable "name_prefix" {
  description = "Prefix of every resource name, \"<project>-<environment>\" (e.g. mtx-dev)."
  type        = string
}

variable "raw_bucket_name" {
  description = "Raw bucket whose incoming/ objects start the batch workflow."
  type        = string
}

variable "batch_ingest_state_machine_arn" {
  description = "ARN of the batch_ingest state machine's alias (<state machine ARN>:live), which the rule starts; null when orchestration/state_machines/batch_ingest.asl.json does not exist."
  type        = string
  default     = null
}

variable "enable_batch_ingest" {
  description = "Create the EventBridge rule for incoming/ objects (true when the batch_ingest workflow is deployed; known at plan time)."
  type        = bool
  default     = false
}

variable "analytics_refresh_state_machine_arn" {
  description = "ARN of the analytics_refresh state machine's alias (<state machine ARN>:live), which the schedule starts; null when its ASL file does not exist."
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

variable "watched_state_machine_arns" {
  description = "ARNs of the Standard state machines whose failed, timed-out or aborted executions the last-resort net dead-letters (Express ones emit no status events)."
  type        = list(string)

  validation {
    condition     = length(var.watched_state_machine_arns) > 0
    error_message = "watched_state_machine_arns is empty: the net would watch nothing."
  }
}

variable "net_function_arn" {
  description = "ARN of the dead_letter_failed_execution function (the last-resort net)."
  type        = string
}

variable "net_function_name" {
  description = "Name of the dead_letter_failed_execution function (the last-resort net)."
  type        = string
}

variable "sweep_function_arn" {
  description = "ARN of the sweep_pending function (the PENDING sweeper)."
  type        = string
}

variable "sweep_function_name" {
  description = "Name of the sweep_pending function (the PENDING sweeper)."
  type        = string
}

variable "sweep_pending_schedule" {
  description = "EventBridge schedule of the PENDING sweeper: a rate() expression (the local runtime runs rate() only)."
  type        = string
  default     = "rate(5 minutes)"

  validation {
    condition     = can(regex("^rate\\([1-9][0-9]* (minute|minutes|hour|hours|day|days)\\)$", var.sweep_pending_schedule))
    error_message = "sweep_pending_schedule must be a rate(...) expression, e.g. rate(5 minutes)."
  }
}

variable "async_failures_queue_arn" {
  description = "ARN of the queue that keeps events the net's and the sweeper's rules could not deliver (modules/lambda output async_failures_queue_arn)."
  type        = string
}
