variable "name_prefix" {
  description = "Prefix of every resource name, \"<project>-<environment>\" (e.g. mtx-dev)."
  type        = string
}

variable "kms_key_arn" {
  description = "ARN of the KMS key for the Glue security configuration (S3, logs, bookmarks)."
  type        = string
}

variable "crawler_definition_path" {
  description = "Path of the crawler definition shared with the local crawler (glue_jobs/crawlers/transactions.json), read with jsondecode(file())."
  type        = string
}

variable "script_path" {
  description = "Path of the flatten job's script (glue_jobs/flatten_transactions/job.py), uploaded as is."
  type        = string
}

variable "libs_path" {
  description = "Path of the zip of Python packages the job imports (glue_jobs/, contracts/), built by infra/scripts/package.py."
  type        = string
}

variable "wheels_dir" {
  description = "Folder of the wheels the job installs (pydantic and its dependencies for Glue's Python), built by infra/scripts/package.py; the subnets have no internet access, so they come from S3."
  type        = string
}

variable "bucket_names" {
  description = "Bucket names by role (output bucket_names of module storage)."
  type        = map(string)
}

variable "bucket_arns" {
  description = "Bucket ARNs by role (output bucket_arns of module storage)."
  type        = map(string)
}

variable "warehouse_secret_arn" {
  description = "ARN of the warehouse secret the job reads to merge into Redshift."
  type        = string
}

variable "warehouse_secret_name" {
  description = "Name of the warehouse secret, passed as --warehouse_secret_id."
  type        = string
}

variable "redshift_copy_role_arn" {
  description = "Role Redshift assumes to COPY the curated Parquet, passed as --redshift_copy_role_arn."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the Glue network connection."
  type        = string
}

variable "subnet_id" {
  description = "Private subnet of the Glue network connection (the job reaches Redshift from inside the VPC)."
  type        = string
}

variable "subnet_az" {
  description = "Availability zone of subnet_id."
  type        = string
}

variable "subnet_arns" {
  description = "ARNs of the private subnets (scope of the job's ec2:CreateNetworkInterface)."
  type        = list(string)
}

variable "security_group_id" {
  description = "Security group of the Glue connection."
  type        = string
}

variable "glue_version" {
  description = "AWS Glue version of the job (5.1: Spark 3.5.6, Python 3.11, as pinned for local runs)."
  type        = string
  default     = "5.1"

  validation {
    condition     = contains(["5.0", "5.1"], var.glue_version)
    error_message = "glue_version must be 5.0 or 5.1 (the local runs pin Glue 5.1's Spark)."
  }
}

variable "worker_type" {
  description = "Glue worker type."
  type        = string
  default     = "G.1X"

  validation {
    condition     = contains(["G.025X", "G.1X", "G.2X", "G.4X", "G.8X"], var.worker_type)
    error_message = "worker_type must be one of G.025X, G.1X, G.2X, G.4X, G.8X."
  }
}

variable "number_of_workers" {
  description = "Number of Glue workers."
  type        = number
  default     = 2
}

variable "job_timeout_minutes" {
  description = "Job run timeout, in minutes."
  type        = number
  default     = 60
}

variable "manage_catalog_encryption" {
  description = "Set the account's Data Catalog encryption to this environment's key (one setting per account and region: true in exactly one environment of an account)."
  type        = bool
  default     = true
}

variable "log_retention_days" {
  description = "Retention of the Glue log groups, in days."
  type        = number
  default     = 365
}

variable "vpc_connection" {
  description = "Give the job a NETWORK connection into the private subnets (to reach Redshift Serverless). False where the warehouse is external (envs/local)."
  type        = bool
  default     = true
}

variable "openlineage_url" {
  description = "OpenLineage HTTP endpoint the flatten job sends lineage events to (its --openlineage_url argument, docs/lineage.md); empty: none sent."
  type        = string
  default     = ""

  validation {
    condition     = var.openlineage_url == "" || can(regex("^https?://", var.openlineage_url))
    error_message = "openlineage_url must be empty (lineage off) or an http(s):// URL."
  }
}
