variable "name_prefix" {
  description = "Prefix of every resource name, \"<project>-<environment>\" (e.g. mtx-dev)."
  type        = string
}

variable "kms_key_arn" {
  description = "ARN of the KMS key of the secrets (decrypted through Secrets Manager only) and of the proxy's log group."
  type        = string
}

variable "db_instance_identifier" {
  description = "RDS instance behind the proxy (modules/database instance_identifier); null (an external database, envs/local) creates nothing."
  type        = string
  default     = null
}

variable "db_max_connections" {
  description = "max_connections of the instance (modules/database sets it in the parameter group): the pool is max_connections_percent of it."
  type        = number
}

variable "subnet_ids" {
  description = "Private subnets of the proxy (at least two availability zones)."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 2
    error_message = "RDS Proxy needs subnets in at least two availability zones."
  }
}

variable "security_group_id" {
  description = "Security group of the proxy (modules/network database_proxy: PostgreSQL from the Lambdas, to RDS)."
  type        = string
}

variable "secret_arns" {
  description = "Secret ARN per runtime database role that logs in through the proxy: exactly compliance_writer and compliance_reader (modules/database_roles). Never a master secret."
  type        = map(string)

  validation {
    condition     = toset(keys(var.secret_arns)) == toset(["compliance_reader", "compliance_writer"])
    error_message = "secret_arns must hold exactly compliance_writer and compliance_reader: the master and migrator secrets never go through the proxy."
  }
}

variable "client_connections_at_most" {
  description = "Connections the functions behind the proxy can hold at once (modules/lambda database_connections_at_most: reserved concurrency x connections per container), checked against the pool."
  type        = number
}

variable "max_connections_percent" {
  description = "Share of the instance's max_connections the proxy's pool may use, in percent; the rest is kept for the migration step, monitoring and operators."
  type        = number
  default     = 80

  validation {
    condition     = var.max_connections_percent >= 10 && var.max_connections_percent <= 90
    error_message = "max_connections_percent must be between 10 and 90 (leave connections for migrations and operators)."
  }
}

variable "max_idle_connections_percent" {
  description = "Share of the instance's max_connections the proxy keeps open while idle, in percent (at most max_connections_percent)."
  type        = number
  default     = 20

  validation {
    condition     = var.max_idle_connections_percent >= 0 && var.max_idle_connections_percent <= 90
    error_message = "max_idle_connections_percent must be between 0 and 90."
  }
}

variable "connection_borrow_timeout_seconds" {
  description = "How long a client waits for a pooled connection before an error (which the store functions map to DatabaseUnavailable, retried by the workflow)."
  type        = number
  default     = 30
}

variable "idle_client_timeout_seconds" {
  description = "Idle time after which the proxy closes a client connection (a warm Lambda container's pooled connection); lambdas/common/db.py reconnects."
  type        = number
  default     = 900
}

variable "log_retention_days" {
  description = "Retention of the proxy's log group, in days."
  type        = number
  default     = 365
}
