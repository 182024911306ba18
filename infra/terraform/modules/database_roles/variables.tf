variable "name_prefix" {
  description = "Prefix of every resource name, \"<project>-<environment>\" (e.g. mtx-dev)."
  type        = string
}

variable "kms_key_arn" {
  description = "ARN of the KMS key of the secrets."
  type        = string
}

variable "compliance_connection" {
  description = "Where the compliance roles log in: engine (postgres), host, port and dbname of the compliance database."
  type = object({
    engine = string
    host   = string
    port   = number
    dbname = string
  })

  validation {
    condition     = var.compliance_connection.engine == "postgres"
    error_message = "The compliance store is PostgreSQL: compliance_connection.engine must be postgres."
  }
}

variable "compliance_proxy_host" {
  description = "Host the runtime compliance roles (writer, reader) log in to: the RDS Proxy endpoint (modules/database_proxy). Null (no proxy, envs/local): compliance_connection's host."
  type        = string
  default     = null
}

variable "warehouse_connection" {
  description = "Where the warehouse roles log in: engine (redshift, or postgres for the local stand-in), host, port and dbname."
  type = object({
    engine = string
    host   = string
    port   = number
    dbname = string
  })

  validation {
    condition     = contains(["redshift", "postgres"], var.warehouse_connection.engine)
    error_message = "warehouse_connection.engine must be redshift or postgres."
  }
}

variable "password_version" {
  description = "Bump to generate new passwords for every role (write-only to the secrets; the migration step sets them on the roles)."
  type        = number
  default     = 1
}

variable "run_migrations" {
  description = "Invoke the migration step on apply (envs/local: false, the local stack runs the same step itself: moto cannot run a Lambda)."
  type        = bool
  default     = true
}

variable "migrate_function_name" {
  description = "Name of the migrate_databases function (module lambda), the only function allowed the master secrets."
  type        = string
}

variable "migrations_dir" {
  description = "Folder of the compliance migrations (lambdas/store_compliance/migrations): a change invokes the migration step again."
  type        = string
}

variable "roles_source_path" {
  description = "Path of lambdas/migrate_databases/roles.py (the role definitions): a change invokes the migration step again."
  type        = string
}
