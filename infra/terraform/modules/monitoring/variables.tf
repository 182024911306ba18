variable "name_prefix" {
  description = "Prefix of every resource name, \"<project>-<environment>\" (e.g. mtx-dev)."
  type        = string
}

variable "alerts_topic_arn" {
  description = "SNS topic every alarm notifies (alarm and OK)."
  type        = string
}

variable "dead_letter_queue_name" {
  description = "Name of the dead-letter queue."
  type        = string
}

variable "state_machine_arns" {
  description = "State machine ARNs by workflow."
  type        = map(string)
}

variable "state_machine_log_group_names" {
  description = "Log group of each workflow's execution history (modules/state_machines log_group_names), by workflow."
  type        = map(string)
}

variable "reject_error_names" {
  description = "Errors that end an execution by design (the contract's rejects, dead-lettered with their reason): graphed apart, never paged on. The transaction workflow's Fail state for them is DataValidationError."
  type        = list(string)
  default     = ["DataValidationError"]

  validation {
    condition     = length(var.reject_error_names) > 0 && alltrue([for e in var.reject_error_names : can(regex("^[A-Za-z][A-Za-z0-9_.]*$", e)) && !startswith(e, "States.")])
    error_message = "reject_error_names are error names of the workflows' own Fail states (letters, digits, _ and .), never a States.* runtime error."
  }
}

variable "failures_namespace" {
  description = "CloudWatch namespace prefix of the per-error-class failure metrics; the environment's name_prefix is appended."
  type        = string
  default     = "MTX/Workflows"
}

variable "workflows" {
  description = "Workflows deployed (known at plan time; keys of state_machine_arns)."
  type        = list(string)
}

variable "function_names" {
  description = "Lambda function names by short name."
  type        = map(string)
}

variable "glue_job_name" {
  description = "Name of the flatten job."
  type        = string
}

variable "api_name" {
  description = "Name of the REST API (ApiName dimension)."
  type        = string
}

variable "api_stage_name" {
  description = "Name of the API stage (Stage dimension)."
  type        = string
}

variable "db_instance_identifier" {
  description = "Identifier of the RDS instance; null where the database is external (envs/local): no RDS widget."
  type        = string
  default     = null
}

variable "alarm_period_seconds" {
  description = "Period of the alarms' metrics, in seconds."
  type        = number
  default     = 300

  validation {
    condition     = contains([60, 300, 900, 3600], var.alarm_period_seconds)
    error_message = "alarm_period_seconds must be 60, 300, 900 or 3600."
  }
}

variable "monthly_budget_usd" {
  description = "Monthly cost budget of the environment in USD (AWS Budgets, over the cost-allocation tag); null for no budget."
  type        = number
  default     = null

  validation {
    condition     = var.monthly_budget_usd == null || try(var.monthly_budget_usd > 0, false)
    error_message = "monthly_budget_usd must be a positive amount, or null for no budget."
  }
}

variable "budget_alert_threshold_percent" {
  description = "Percentage of the monthly budget the actual cost may reach before the alert topic is told (the forecast alerts at 100 %)."
  type        = number
  default     = 80

  validation {
    condition     = var.budget_alert_threshold_percent > 0 && var.budget_alert_threshold_percent <= 100
    error_message = "budget_alert_threshold_percent must be in (0, 100]."
  }
}

variable "cost_allocation_tag" {
  description = "The cost-allocation tag the budget filters on (key and value, as the provider's default_tags set it)."
  type        = object({ key = string, value = string })
  default     = { key = "Project", value = "mtx" }
}

variable "functions_raising_rejects" {
  description = "Functions (short names) that raise the contract's, the catalogue's or the lifecycle's rejects by design (Step Functions catches them by name): no Errors alarm (it would page on every reject); their unexpected failures end their workflow's execution, which the executions-failed alarm pages on."
  type        = list(string)
  default     = ["validate_transaction", "check_item", "store_compliance"]
}

variable "failure_queue_names" {
  description = "The queues that keep what failed past every retry, besides the dead-letter queue, by alarm key (async-invocation-failures, stream-failures, raw-incoming-undelivered): each pages when not empty."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k in keys(var.failure_queue_names) : contains(["async-invocation-failures", "stream-failures", "raw-incoming-undelivered"], k)])
    error_message = "failure_queue_names keys are async-invocation-failures, stream-failures or raw-incoming-undelivered (each has its runbook line in docs/runbook.md)."
  }
}
