variable "name_prefix" {
  description = "Prefix of every resource name, \"<project>-<environment>\" (e.g. mtx-dev)."
  type        = string
}

variable "schema_path" {
  description = "Path of the contract's committed JSON Schema (contracts/transaction.schema.json); the request model is derived from it."
  type        = string
}

variable "openapi_path" {
  description = "Path of the committed OpenAPI document (orchestration/openapi.json), served at GET /openapi.json."
  type        = string
}

variable "state_machine_arn" {
  description = "ARN of the transaction workflow's alias (<state machine ARN>:live) that POST /transactions starts: the version it routes to runs."
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

variable "producer_authorization" {
  description = "How producers (game servers) authenticate to POST /transactions: AWS_IAM (SigV4, each producer signs with its own role; the default) or API_KEY (each producer's own key in x-api-key, throttled by a usage plan). The analytics routes always use AWS_IAM with the analyst role."
  type        = string
  default     = "AWS_IAM"

  validation {
    condition     = contains(["API_KEY", "AWS_IAM"], var.producer_authorization)
    error_message = "producer_authorization must be AWS_IAM or API_KEY."
  }
}

variable "producers" {
  description = "The applications (games) that send transactions, by application id (stamped as producer_id on each of their transactions): enabled = false refuses one producer without touching the others; with API_KEY each gets its own key (key_version + 1 rotates it: the old key is deleted, the new one created, its value read with `aws apigateway get-api-key --include-value`); with AWS_IAM each gets its own role, assumable by its principal_arns only. No key exists by default: API_KEY without producers is refused."
  type = map(object({
    enabled        = optional(bool, true)
    key_version    = optional(number, 1)
    principal_arns = optional(list(string), [])
  }))
  default = {}

  validation {
    condition     = alltrue([for id in keys(var.producers) : can(regex("^[a-z0-9][a-z0-9-]{0,39}$", id))])
    error_message = "producers: an application id is 1-40 lower-case letters, digits and hyphens, starting with a letter or digit."
  }

  validation {
    condition     = var.producer_authorization != "API_KEY" || length(var.producers) > 0
    error_message = "producer_authorization = API_KEY needs at least one producer in producers (e.g. producers = { \"my-game\" = {} }): every producer gets its own key and there is no default key."
  }

  validation {
    condition     = var.producer_authorization != "AWS_IAM" || alltrue([for p in values(var.producers) : length(p.principal_arns) > 0])
    error_message = "producer_authorization = AWS_IAM: every producer needs principal_arns, the IAM principals that may assume its role."
  }

  validation {
    condition = alltrue(flatten([for p in values(var.producers) : [
      for arn in p.principal_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(role|user)/.+$", arn))
    ]]))
    error_message = "producers[*].principal_arns: named IAM roles or users (arn:aws:iam::<account>:role/<name>), never an account root."
  }

  validation {
    condition     = alltrue([for p in values(var.producers) : p.key_version >= 1 && floor(p.key_version) == p.key_version])
    error_message = "producers[*].key_version is a whole number from 1."
  }
}

variable "analyst_principal_arns" {
  description = "The IAM principals (roles or users, by ARN) that may assume the API's analyst role, the only identity allowed on /health and /analytics*. Empty: no analyst role, the analytics routes refuse everyone."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for arn in var.analyst_principal_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(role|user)/.+$", arn))])
    error_message = "analyst_principal_arns: named IAM roles or users (arn:aws:iam::<account>:role/<name>), never an account root."
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
  description = "Steady-state requests per second allowed on the stage (and per producer's API key)."
  type        = number
  default     = 100
}

variable "throttling_burst_limit" {
  description = "Burst of requests allowed on the stage (and per producer's API key)."
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

variable "events_function_name" {
  description = "Name of the put_events function (module lambda) behind POST /events (the stream entrance); null: no POST /events."
  type        = string
  default     = null
}

variable "events_function_invoke_arn" {
  description = "Invoke ARN of the put_events function (a Lambda proxy integration); set with events_function_name."
  type        = string
  default     = null
}
