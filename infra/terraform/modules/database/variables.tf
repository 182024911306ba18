variable "name_prefix" {
  description = "Prefix of every resource name, \"<project>-<environment>\" (e.g. mtx-dev)."
  type        = string
}

variable "kms_key_arn" {
  description = "ARN of the KMS key for storage, Performance Insights, logs and the secret."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets of the DB subnet group (at least two availability zones)."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 2
    error_message = "RDS needs subnets in at least two availability zones."
  }
}

variable "security_group_id" {
  description = "Security group of the instance (PostgreSQL from the Lambdas only)."
  type        = string
}

variable "engine_version" {
  description = "PostgreSQL major version (minor versions are upgraded automatically)."
  type        = string
  default     = "16"

  validation {
    condition     = contains(["15", "16", "17"], var.engine_version)
    error_message = "engine_version must be one of 15, 16, 17."
  }
}

variable "instance_class" {
  description = "RDS instance class."
  type        = string
  default     = "db.t4g.small"

  validation {
    condition     = startswith(var.instance_class, "db.")
    error_message = "instance_class must be an RDS class such as db.t4g.small."
  }
}

variable "max_connections" {
  description = "max_connections of the instance (parameter group). Keep it within what the class's memory allows (AWS's default is memory / 9.5 MB: about 190 on db.t4g.small, 800 on db.m7g.large)."
  type        = number
  default     = 150

  validation {
    condition     = var.max_connections >= 20 && var.max_connections <= 5000
    error_message = "max_connections must be between 20 and 5000."
  }
}

variable "allocated_storage" {
  description = "Initial storage in GiB (gp3); storage autoscaling goes up to max_allocated_storage."
  type        = number
  default     = 20
}

variable "max_allocated_storage" {
  description = "Upper bound of storage autoscaling in GiB."
  type        = number
  default     = 100
}

variable "multi_az" {
  description = "Run a standby in a second availability zone."
  type        = bool
  default     = true
}

variable "deletion_protection" {
  description = "Refuse to delete the instance (disable before `terraform destroy`)."
  type        = bool
  default     = true
}

variable "skip_final_snapshot" {
  description = "Delete without a final snapshot (dev only)."
  type        = bool
  default     = false
}

variable "backup_retention_days" {
  description = "Days of automated backups (point-in-time restore window)."
  type        = number
  default     = 7

  validation {
    condition     = var.backup_retention_days >= 1 && var.backup_retention_days <= 35
    error_message = "backup_retention_days must be between 1 and 35."
  }
}

variable "master_password_version" {
  description = "Bump to generate and write a new master password (write-only: never in plan or state)."
  type        = number
  default     = 1
}

variable "log_retention_days" {
  description = "Retention of the exported PostgreSQL log groups, in days."
  type        = number
  default     = 365
}

variable "external_connection" {
  description = "An existing PostgreSQL to use instead of creating RDS (envs/local: the local stack's server): host, port, username, dbname. Null, the default, creates the RDS instance."
  type = object({
    host     = string
    port     = number
    username = string
    dbname   = string
  })
  default = null
}

variable "external_password" {
  description = "Password of external_connection. Ephemeral: written only to the secret, never to plan or state."
  type        = string
  default     = null
  ephemeral   = true
}
