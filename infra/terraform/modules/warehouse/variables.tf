variable "name_prefix" {
  description = "Prefix of every resource name, \"<project>-<environment>\" (e.g. mtx-dev)."
  type        = string
}

variable "kms_key_arn" {
  description = "ARN of the KMS key of the namespace and the warehouse secret."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets of the workgroup (Redshift Serverless wants three availability zones)."
  type        = list(string)
}

variable "security_group_id" {
  description = "Security group of the workgroup."
  type        = string
}

variable "curated_bucket_arn" {
  description = "ARN of the curated bucket the warehouse COPYs Parquet from."
  type        = string
}

variable "query_results_bucket_arn" {
  description = "ARN of the query results bucket analysts UNLOAD to."
  type        = string
}

variable "base_capacity" {
  description = "Base capacity of the workgroup in Redshift Processing Units (8-512, steps of 8)."
  type        = number
  default     = 8

  validation {
    condition     = var.base_capacity >= 8 && var.base_capacity <= 512 && var.base_capacity % 8 == 0
    error_message = "base_capacity must be 8-512 in steps of 8."
  }
}

variable "max_capacity" {
  description = "Upper bound of the workgroup's capacity in RPUs (caps cost)."
  type        = number
  default     = 32
}

variable "admin_password_version" {
  description = "Bump to generate and write a new admin password (write-only: never in plan or state)."
  type        = number
  default     = 1
}

variable "analyst_principal_arns" {
  description = "IAM principals allowed to assume the analysts role; empty means any principal of this account allowed to by its own policy (with MFA)."
  type        = list(string)
  default     = []
}

variable "external_connection" {
  description = "An existing database to use instead of creating Redshift Serverless (envs/local: the local stack's PostgreSQL): host, port, username, dbname. Null, the default, creates the namespace and workgroup."
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
