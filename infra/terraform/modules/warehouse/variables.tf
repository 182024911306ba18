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
  description = "IAM roles or users (ARNs) allowed to assume the analysts role, with MFA. Empty (the default): no analysts role is created. Never an account root or a wildcard: a trust of the root would let any principal of the account whose own policy allows it assume the role."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for arn in var.analyst_principal_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(role|user)/[^*]+$", arn))])
    error_message = "analyst_principal_arns must name IAM roles or users (arn:aws:iam::<account>:role/<name> or :user/<name>), never an account root (:root), an account id or a wildcard."
  }
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
