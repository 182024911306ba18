variable "name_prefix" {
  description = "Prefix of every resource name, \"<project>-<environment>\" (e.g. mtx-dev)."
  type        = string
}

variable "schema_path" {
  description = "Path of the contract's committed JSON Schema (contracts/transaction.schema.json); the request model is derived from it."
  type        = string
}

variable "state_machine_arn" {
  description = "ARN of the transaction workflow that POST /transactions starts."
  type        = string
}

variable "analytics_function_name" {
  description = "Name of the analytics_api function behind GET /health, GET /analytics and /analytics/jobs (API Gateway gets permission to invoke it)."
  type        = string
}

variable "analytics_function_invoke_arn" {
  description = "Invoke ARN of the analytics_api function (the URI of the Lambda proxy integrations)."
  type        = string
}

variable "authorization" {
  description = "How callers authenticate: API_KEY (x-api-key header, per-key usage plan) or AWS_IAM (SigV4-signed requests)."
  type        = string
  default     = "API_KEY"

  validation {
    condition     = contains(["API_KEY", "AWS_IAM"], var.authorization)
    error_message = "authorization must be API_KEY or AWS_IAM."
  }
}

variable "stage_name" {
  description = "Name of the deployed stage (first path segment of the invoke URL)."
  type        = string
  default     = "v1"

  validation {
    condition     = can(regex("^[a-zA-Z0-9_]{1,32}$", var.stage_name))
    error_message = "stage_name must be 1-32 letters, digits or underscores."
  }
}

variable "throttling_rate_limit" {
  description = "Steady-state requests per second allowed on the stage (and per API key)."
  type        = number
  default     = 100
}

variable "throttling_burst_limit" {
  description = "Burst of requests allowed on the stage (and per API key)."
  type        = number
  default     = 200
}

variable "waf_rate_limit" {
  description = "Requests per 5 minutes from one IP address before WAF blocks it."
  type        = number
  default     = 20000

  validation {
    condition     = var.waf_rate_limit >= 100
    error_message = "waf_rate_limit must be at least 100 (the WAF minimum)."
  }
}

variable "manage_account_logging_role" {
  description = "Set API Gateway's account-wide CloudWatch Logs role (one per account and region: keep true in exactly one environment of an account)."
  type        = bool
  default     = true
}

variable "kms_key_arn" {
  description = "ARN of the KMS key of the access-log and WAF log groups."
  type        = string
}

variable "log_retention_days" {
  description = "Retention of the API's log groups, in days."
  type        = number
  default     = 365
}
