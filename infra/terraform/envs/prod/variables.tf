# What this environment sets or may override (terraform.tfvars), with its defaults. The
# validations live in modules/platform/variables.tf; only the stricter ones of this
# environment, and those of the variables only the root reads (provider, tags), are here.

variable "project" {
  description = "Project name: the first part of every resource name (\"<project>-<environment>-...\")."
  type        = string
  default     = "mtx"
}

variable "environment" {
  description = "Environment name: the second part of every resource name."
  type        = string
  default     = "prod"

  validation {
    condition     = contains(["dev", "prod"], var.environment)
    error_message = "environment must be dev or prod."
  }
}

variable "region" {
  description = "AWS region of the stack."
  type        = string
  default     = "eu-west-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.region))
    error_message = "region must be an AWS region name such as eu-west-1."
  }
}

variable "allowed_account_ids" {
  description = "AWS account ids this environment may be applied to (a guard against the wrong credentials); empty allows any."
  type        = list(string)
  default     = []
}

variable "cost_center" {
  description = "Cost-allocation tag CostCenter on every resource."
  type        = string
  default     = "data-platform"
}

variable "owner" {
  description = "Cost-allocation tag Owner on every resource (a team or an e-mail address)."
  type        = string
  default     = "data-engineering"
}

variable "extra_tags" {
  description = "Further tags on every resource (the cost-allocation tags above win on a clash)."
  type        = map(string)
  default     = {}
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
}

variable "state_machine_log_level" {
  description = "Step Functions execution logging level (execution data is never included)."
  type        = string
  default     = "ALL"
}

variable "state_machine_live_versions" {
  description = "Rollback: workflow -> the published version (number or ARN) its alias \"live\" routes to; not listed: the latest published (infra/README.md, \"Rolling a workflow back\")."
  type        = map(string)
  default     = {}
}

variable "log_retention_days" {
  description = "Retention of every log group, in days."
  type        = number
  default     = 365
}

variable "vpc_cidr" {
  description = "CIDR block of the VPC."
  type        = string
  default     = "10.41.0.0/16"
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
}

variable "lambda_architecture" {
  description = "Instruction set of the Lambdas (the layer must be built for the same platform)."
  type        = string
  default     = "x86_64"
}

variable "api_producer_authorization" {
  description = "How producers (game servers) authenticate to POST /transactions: AWS_IAM (SigV4 with each producer's own role; the default) or API_KEY (each producer's own key, throttled per key). Analysts always sign with the analyst role."
  type        = string
  default     = "AWS_IAM"
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
}

variable "max_future_skew_hours" {
  description = "How many hours after its receipt a transaction's event_timestamp may be (game servers' clock skew); later ones are refused (rule timestamp.in_future, docs/acceptance-rules.md)."
  type        = number
  default     = 24
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
  description = "libpq sslmode of every database connection the functions open (MTX_DB_SSLMODE). verify-full: TLS, the server's certificate checked against db_sslrootcert and its host name."
  type        = string
  default     = "verify-full"

  validation {
    condition     = contains(["verify-full"], var.db_sslmode)
    error_message = "db_sslmode must be verify-full outside the local stack."
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
}

variable "dlq_archive_after_days" {
  description = "Age in days at which the scheduled archive_dead_letters function moves a dead letter to archive/dead-letters/ of the raw bucket; below the queue's 14-day retention."
  type        = number
  default     = 10
}

variable "monthly_budget_usd" {
  description = "Monthly cost budget of the environment in USD (AWS Budgets over the Project cost-allocation tag, alerting the alerts topic); null for no budget."
  type        = number
  default     = 1000
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
