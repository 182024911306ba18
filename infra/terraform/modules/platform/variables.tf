# What the composition needs from an environment. Defaults are the stricter (prod) values;
# each env root (envs/<env>/variables.tf) sets its own defaults and passes every variable through.

variable "project" {
  description = "Project name: the first part of every resource name (\"<project>-<environment>-...\")."
  type        = string
  default     = "mtx"

  validation {
    condition     = can(regex("^[a-z][a-z0-9]{1,11}$", var.project))
    error_message = "project must be 2-12 lower-case letters or digits, starting with a letter (it is part of S3 bucket names)."
  }
}

variable "environment" {
  description = "Environment name: the second part of every resource name."
  type        = string

  validation {
    condition     = contains(["dev", "prod", "local"], var.environment)
    error_message = "environment must be dev, prod or local."
  }
}

variable "alert_email" {
  description = "E-mail address subscribed to the alert topic (confirm the subscription from the mail); null for none."
  type        = string
  default     = null
}

variable "log_level" {
  description = "Log level of the Lambdas and the Glue job (MTX_LOG_LEVEL)."
  type        = string
  default     = "INFO"

  validation {
    condition     = contains(["DEBUG", "INFO", "WARNING", "ERROR"], var.log_level)
    error_message = "log_level must be DEBUG, INFO, WARNING or ERROR."
  }
}

variable "state_machine_log_level" {
  description = "Step Functions execution logging level (execution data is never included)."
  type        = string
  default     = "ALL"

  validation {
    condition     = contains(["ALL", "ERROR", "FATAL"], var.state_machine_log_level)
    error_message = "state_machine_log_level must be ALL, ERROR or FATAL."
  }
}

variable "state_machine_live_versions" {
  description = <<-EOT
    Rollback of a workflow: workflow -> the published version its alias "live" routes to (a version number
    such as "3", or a version ARN). Every starter (API Gateway, EventBridge, the schedule, the redrive)
    targets the alias. Not listed (the default): the version this apply published. See infra/README.md,
    "Rolling a workflow back".
  EOT
  type        = map(string)
  default     = {}
}

variable "log_retention_days" {
  description = "Retention of every log group, in days."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a retention CloudWatch Logs accepts (e.g. 30, 90, 365)."
  }
}

variable "vpc_cidr" {
  description = "CIDR block of the VPC (each environment its own)."
  type        = string
}

variable "az_count" {
  description = "Availability zones with a private subnet (Redshift Serverless wants three)."
  type        = number
  default     = 3
}

variable "force_destroy" {
  description = "Let `terraform destroy` empty the buckets and skip the final database snapshot (dev only)."
  type        = bool
  default     = false
}

variable "deletion_protection" {
  description = "Deletion protection of the RDS instance and the DynamoDB tables (turn off before `terraform destroy`)."
  type        = bool
  default     = true
}

variable "db_instance_class" {
  description = "RDS instance class of the compliance database."
  type        = string
  default     = "db.m7g.large"
}

variable "db_multi_az" {
  description = "Run the compliance database with a standby in a second availability zone."
  type        = bool
  default     = true
}

variable "lambda_runtime" {
  description = "Python runtime of the Lambdas (the layer must be built for the same version: infra/scripts/package.py --python-version)."
  type        = string
  default     = "python3.12"

  validation {
    condition     = contains(["python3.11", "python3.12"], var.lambda_runtime)
    error_message = "lambda_runtime must be python3.11 or python3.12."
  }
}

variable "lambda_architecture" {
  description = "Instruction set of the Lambdas (the layer must be built for the same platform)."
  type        = string
  default     = "x86_64"

  validation {
    condition     = contains(["x86_64", "arm64"], var.lambda_architecture)
    error_message = "lambda_architecture must be x86_64 or arm64."
  }
}

variable "api_producer_authorization" {
  description = "How producers (game servers) authenticate to POST /transactions: AWS_IAM (SigV4 with each producer's own role; the default) or API_KEY (each producer's own key, throttled per key). Analysts always sign with the analyst role."
  type        = string
  default     = "AWS_IAM"

  validation {
    condition     = contains(["API_KEY", "AWS_IAM"], var.api_producer_authorization)
    error_message = "api_producer_authorization must be AWS_IAM or API_KEY."
  }
}

variable "api_producers" {
  description = "The applications that send transactions, by application id: enabled, key_version (API_KEY: raise it to rotate that key), principal_arns (AWS_IAM: who may assume that producer's role). No default key: API_KEY with no producer is refused at plan."
  type = map(object({
    enabled        = optional(bool, true)
    key_version    = optional(number, 1)
    principal_arns = optional(list(string), [])
  }))
  default = {}
}

variable "cors_allowed_origins" {
  description = "Origins a browser may call the analytics routes from (exact scheme://host[:port]); empty, the default, allows none."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for o in var.cors_allowed_origins : can(regex("^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$", o))])
    error_message = "cors_allowed_origins: exact origins such as https://dashboard.example.com, never \"*\" or a path."
  }
}

variable "max_future_skew_hours" {
  description = "How many hours after its receipt a transaction's event_timestamp may be (game servers' clock skew); later ones are refused (rule timestamp.in_future, docs/acceptance-rules.md)."
  type        = number
  default     = 24

  validation {
    condition     = var.max_future_skew_hours >= 0 && var.max_future_skew_hours <= 8784
    error_message = "max_future_skew_hours: between 0 and 8784 (366 days)."
  }
}

variable "api_throttling_rate_limit" {
  description = "Steady-state requests per second on POST /transactions."
  type        = number
  default     = 500
}

variable "api_throttling_burst_limit" {
  description = "Burst of requests on POST /transactions."
  type        = number
  default     = 1000
}

variable "manage_account_singletons" {
  description = "Manage the account-wide settings (API Gateway CloudWatch role, Glue Data Catalog encryption): true in exactly one environment per account and region."
  type        = bool
  default     = true
}

variable "analytics_refresh_schedule" {
  description = "When the analytics refresh runs (EventBridge Scheduler expression, UTC)."
  type        = string
  default     = "cron(0 3 * * ? *)"
}

variable "glue_number_of_workers" {
  description = "Workers of the Glue flatten job."
  type        = number
  default     = 4
}

variable "redshift_base_capacity" {
  description = "Base capacity of the Redshift Serverless workgroup, in RPUs."
  type        = number
  default     = 8
}

variable "redshift_max_capacity" {
  description = "Maximum capacity of the Redshift Serverless workgroup, in RPUs (caps cost)."
  type        = number
  default     = 64
}

variable "analyst_principal_arns" {
  description = "IAM roles or users (ARNs) allowed to assume the analysts role (with MFA). Empty: no analysts role. Never an account root or a wildcard."
  type        = list(string)
  default     = []
}

variable "dlq_redrive_principal_arns" {
  description = "IAM roles or users (ARNs) allowed to assume the dead-letter redrive role (with MFA); the only identity that can read the dead-letter queue. Empty: no redrive role."
  type        = list(string)
  default     = []
}

variable "external_databases" {
  description = "Use an existing PostgreSQL server for the compliance store and the warehouse instead of creating RDS and Redshift Serverless (envs/local sets it to the local stack's server). Null, the default in AWS, creates both."
  type = object({
    host              = string
    port              = number
    username          = string
    compliance_dbname = string
    warehouse_dbname  = string
  })
  default = null
}

variable "external_database_password" {
  description = "Password of external_databases' user. Ephemeral: written to the two secrets only, never to plan or state (TF_VAR_external_database_password)."
  type        = string
  default     = null
  ephemeral   = true
}

variable "analytics_image_uri" {
  description = "Image of build_marts and run_data_checks (dbt, Great Expectations), pushed to output analytics_image_repository_url; null until pushed (see infra/README.md, \"The analytics image\")."
  type        = string
  default     = null
}

variable "create_image_repository" {
  description = "Create the ECR repository of the analytics image."
  type        = bool
  default     = true
}

variable "run_database_migrations" {
  description = "Invoke the deploy-time migration step (database roles, compliance migrations) on apply. envs/local: false, the local stack runs the same step itself (moto runs no Lambda)."
  type        = bool
  default     = true
}

variable "db_role_password_version" {
  description = "Bump to rotate the passwords of every database login role (written to their secrets and set by the migration step)."
  type        = number
  default     = 1
}

variable "db_max_connections" {
  description = "max_connections of the compliance database (modules/database); the RDS Proxy's pool is 80 % of it and must hold the database functions' reserved concurrency (modules/lambda database_reserved_concurrency, 100 by default)."
  type        = number
  default     = 400
}

variable "db_sslmode" {
  description = "libpq sslmode of every database connection the functions open (MTX_DB_SSLMODE). verify-full (dev and prod, whose roots allow nothing else): TLS, the server's certificate checked against db_sslrootcert and its host name. envs/local: prefer (its PostgreSQL serves no TLS)."
  type        = string
  default     = "verify-full"

  validation {
    condition     = contains(["prefer", "require", "verify-ca", "verify-full"], var.db_sslmode)
    error_message = "db_sslmode must be prefer, require, verify-ca or verify-full."
  }
}

variable "db_sslrootcert" {
  description = "CA bundle the functions verify the database's certificate against (MTX_DB_SSLROOTCERT), relative to the package root: the RDS CAs and the Amazon roots (RDS Proxy, Redshift) in lambdas/common/certs/ (infra/scripts/rds_ca_bundle.py)."
  type        = string
  default     = "lambdas/common/certs/aws-rds-ca-bundle.pem"
}

variable "sweep_pending_after_minutes" {
  description = "Minutes a transaction or batch run may stay PENDING before the sweeper reconciles it (beyond the Express workflow's 5-minute limit)."
  type        = number
  default     = 15

  validation {
    condition     = var.sweep_pending_after_minutes > 5
    error_message = "sweep_pending_after_minutes must exceed 5: an Express execution may run that long."
  }
}

variable "sweep_pending_schedule" {
  description = "How often the PENDING sweeper runs: an EventBridge rate() expression."
  type        = string
  default     = "rate(5 minutes)"
}

variable "dlq_max_redrives" {
  description = "Failed redrives after which `mtx dlq redrive` parks a dead letter (archive/parked/ of the raw bucket) instead of redriving it again."
  type        = number
  default     = 3

  validation {
    condition     = var.dlq_max_redrives >= 1 && floor(var.dlq_max_redrives) == var.dlq_max_redrives
    error_message = "dlq_max_redrives must be a whole number, at least 1."
  }
}

variable "dlq_archive_after_days" {
  description = "Age in days at which the scheduled archive_dead_letters function moves a dead letter to archive/dead-letters/ of the raw bucket; below the queue's 14-day retention."
  type        = number
  default     = 10

  validation {
    condition     = var.dlq_archive_after_days > 0 && var.dlq_archive_after_days < 14
    error_message = "dlq_archive_after_days must be more than 0 and less than the queue's 14-day retention."
  }
}

variable "enable_stream" {
  description = "The streaming entrance (module stream): a Kinesis stream and its event source mapping to the ingest_stream function (docs/stream-ingest.md)."
  type        = bool
  default     = true
}

variable "stream_mode" {
  description = "The stream's capacity mode: ON_DEMAND, or PROVISIONED with stream_shard_count shards (docs/capacity.md)."
  type        = string
  default     = "ON_DEMAND"
}

variable "stream_shard_count" {
  description = "Shards of a PROVISIONED stream (1,000 records/s each); ignored on demand."
  type        = number
  default     = 1
}

variable "stream_batch_size" {
  description = "Records per batch the event source mapping hands to ingest_stream at most (one COPY each)."
  type        = number
  default     = 500
}

variable "stream_batching_window_seconds" {
  description = "Seconds the event source mapping gathers records before it invokes with a batch that is not full."
  type        = number
  default     = 1
}

variable "monthly_budget_usd" {
  description = "Monthly cost budget of the environment in USD (AWS Budgets over the Project cost-allocation tag, alerting the alerts topic); null for no budget."
  type        = number
  default     = null
}

variable "budget_alert_threshold_percent" {
  description = "Percentage of the monthly budget the actual cost may reach before the alerts topic is told (the forecast alerts at 100 %)."
  type        = number
  default     = 80
}

variable "openlineage_url" {
  description = "OpenLineage HTTP endpoint (e.g. a Marquez API's /api/v1/lineage base URL) the functions and the Glue job send lineage events to, docs/lineage.md; empty (the default): lineage off. The endpoint must be reachable from the private subnets."
  type        = string
  default     = ""

  validation {
    condition     = var.openlineage_url == "" || can(regex("^https?://", var.openlineage_url))
    error_message = "openlineage_url must be empty (lineage off) or an http(s):// URL."
  }
}

variable "fx_rates_source_url" {
  description = "https URL refresh_fx_rates reads the daily USD rates from (the FX table's own JSON shape, docs/enrichment.md); empty: no source, the last table is kept and its age alarms (fx-table-stale)."
  type        = string
  default     = ""

  validation {
    condition     = var.fx_rates_source_url == "" || startswith(var.fx_rates_source_url, "https://")
    error_message = "fx_rates_source_url must be empty or an https:// URL."
  }
}

variable "default_application_id" {
  description = "Producing application stamped on records whose entrance does not identify one (files, stream); the API stamps the producer's own id."
  type        = string
  default     = "unattributed"
}
