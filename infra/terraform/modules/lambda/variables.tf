variable "name_prefix" {
  description = "Prefix of every resource name, \"<project>-<environment>\" (e.g. mtx-dev)."
  type        = string
}

variable "package_path" {
  description = "Path of the functions zip built by infra/scripts/package.py (lambdas/, contracts/, glue_jobs/, expectations/)."
  type        = string
}

variable "layer_path" {
  description = "Path of the dependencies layer zip built by infra/scripts/package.py (python/ with the pinned wheels)."
  type        = string
}

variable "runtime" {
  description = "Lambda Python runtime; must match the Python version the layer was built for."
  type        = string
  default     = "python3.12"

  validation {
    condition     = contains(["python3.11", "python3.12"], var.runtime)
    error_message = "runtime must be python3.11 or python3.12 (the project supports Python 3.11-3.12)."
  }
}

variable "architecture" {
  description = "Instruction set of the functions; must match the platform the layer was built for."
  type        = string
  default     = "x86_64"

  validation {
    condition     = contains(["x86_64", "arm64"], var.architecture)
    error_message = "architecture must be x86_64 or arm64."
  }
}

variable "environment" {
  description = "Environment variables of every function: the MTX_* variables read by contracts/config.py."
  type        = map(string)

  validation {
    condition     = alltrue([for k in keys(var.environment) : startswith(k, "MTX_")])
    error_message = "Only MTX_* settings variables (never an AWS_* SDK setting such as AWS_ENDPOINT_URL)."
  }
}

variable "kms_key_arn" {
  description = "ARN of the KMS key for environment variables, log groups and the encrypted data the functions touch."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets the functions run in."
  type        = list(string)
}

variable "subnet_arns" {
  description = "ARNs of the private subnets (scope of ec2:CreateNetworkInterface)."
  type        = list(string)
}

variable "security_group_id" {
  description = "Security group of the functions."
  type        = string
}

variable "security_group_arn" {
  description = "ARN of the functions' security group (scope of ec2:CreateNetworkInterface)."
  type        = string
}

variable "table_arns" {
  description = "DynamoDB table ARNs by role (output table_arns of module tables)."
  type        = map(string)
}

variable "bucket_arns" {
  description = "S3 bucket ARNs by role (output bucket_arns of module storage)."
  type        = map(string)
}

variable "dead_letter_queue_arn" {
  description = "ARN of the dead-letter queue (the batch functions dead-letter rejected records themselves)."
  type        = string
}

variable "database_secret_arns" {
  description = <<-EOT
    Secret ARN per database login: compliance_admin and warehouse_admin (the master users: read by
    migrate_databases alone), compliance_migrator, compliance_writer, compliance_reader,
    warehouse_transformer, warehouse_reader (modules/database_roles). Each function may read only the
    secret of the role it uses.
  EOT
  type        = map(string)

  validation {
    condition = sort(keys(var.database_secret_arns)) == sort([
      "compliance_admin", "compliance_migrator", "compliance_writer", "compliance_reader",
      "warehouse_admin", "warehouse_transformer", "warehouse_reader",
    ])
    error_message = "database_secret_arns needs exactly the keys compliance_admin, compliance_migrator, compliance_writer, compliance_reader, warehouse_admin, warehouse_transformer, warehouse_reader."
  }
}

variable "alerts_topic_arn" {
  description = "ARN of the alert topic, to which run_data_checks publishes failed expectations."
  type        = string
}

variable "state_machine_alias_name" {
  description = "Name of the state machines' alias (modules/state_machines alias_name): analytics_api starts the analytics job through it."
  type        = string
  default     = "live"
}

variable "log_retention_days" {
  description = "Retention of the functions' log groups, in days."
  type        = number
  default     = 365
}

variable "reserved_concurrency" {
  description = "Reserved concurrent executions of each function that does not log in to the compliance database; null leaves the account pool unreserved."
  type        = number
  default     = null
}

variable "database_reserved_concurrency" {
  description = <<-EOT
    Replaces the reserved concurrent executions of the functions that log in to the compliance database
    through the RDS Proxy; null (the default) takes each function's reserved_concurrency from
    infra/functions.json. Every such function must have one (a precondition says which is missing). Each
    container holds one compliance connection, so the sum is what the proxy can be asked for at once;
    modules/database_proxy refuses a sum above its pool (80 % of max_connections). The defaults sum to 110,
    within the pool of 120 of max_connections 150 (infra/README.md, "Database connections"); the account
    keeps at least 100 unreserved executions, so the account's concurrency limit must be at least 210.
  EOT
  type        = map(number)
  default     = null

  validation {
    condition     = alltrue([for n in values(var.database_reserved_concurrency == null ? {} : var.database_reserved_concurrency) : n >= 1 && floor(n) == n])
    error_message = "database_reserved_concurrency values must be whole numbers of at least 1 (0 would stop the function)."
  }
}

variable "migration_security_group_id" {
  description = "Security group of migrate_databases, the one function that logs in to RDS directly (as the master user, at deploy time)."
  type        = string
}

variable "migration_security_group_arn" {
  description = "ARN of the migration function's security group (scope of its ec2:CreateNetworkInterface)."
  type        = string
}

variable "analytics_image_uri" {
  description = <<-EOT
    Container image (ECR URI with a tag or digest) of build_marts and run_data_checks, built from
    infra/docker/analytics/Dockerfile and pushed to the analytics_image repository: dbt and Great
    Expectations are far too big for a layer. Null until the image is pushed: those two functions are
    then created from the zip, without dbt or Great Expectations, and a refresh stops at BuildMarts with
    an error saying so.
  EOT
  type        = string
  default     = null

  validation {
    condition     = var.analytics_image_uri == null || can(regex("^[0-9]{12}\\.dkr\\.ecr\\.[a-z0-9-]+\\.amazonaws\\.com(\\.cn)?/[a-z0-9._/-]+(:[A-Za-z0-9._-]+|@sha256:[0-9a-f]{64})$", var.analytics_image_uri))
    error_message = "analytics_image_uri must be an ECR image URI with a tag or digest (<account>.dkr.ecr.<region>.amazonaws.com/<repository>:<tag>)."
  }
}

variable "create_image_repository" {
  description = "Create the ECR repository the analytics image is pushed to (KMS-encrypted, immutable tags, scanned on push)."
  type        = bool
  default     = true
}

variable "image_repository_force_delete" {
  description = "Let `terraform destroy` delete the analytics image repository with its images (dev)."
  type        = bool
  default     = false
}

variable "openlineage_url" {
  description = "OpenLineage HTTP endpoint the functions send lineage events to (OPENLINEAGE_URL, docs/lineage.md); empty: none sent."
  type        = string
  default     = ""

  validation {
    condition     = var.openlineage_url == "" || can(regex("^https?://", var.openlineage_url))
    error_message = "openlineage_url must be empty (lineage off) or an http(s):// URL."
  }
}
