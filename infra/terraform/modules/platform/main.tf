# The MTX pipeline in one AWS account and region: every module and the locals that wire them.
# Each environment (envs/dev, envs/prod, envs/local) is a thin root that calls this module once
# with its own variables, provider and state (tests/unit/infra/test_terraform.py keeps them thin).

data "aws_caller_identity" "this" {}
data "aws_region" "this" {}

locals {
  name_prefix = "${var.project}-${var.environment}"

  repo_root = abspath("${path.module}/../../../..")
  build_dir = "${local.repo_root}/infra/build"

  # Where the databases are external (envs/local: the local stack's PostgreSQL), the
  # database and warehouse modules create no RDS / Redshift and their secrets hold these.
  external_compliance = var.external_databases == null ? null : {
    host     = var.external_databases.host
    port     = var.external_databases.port
    username = var.external_databases.username
    dbname   = var.external_databases.compliance_dbname
  }
  external_warehouse = var.external_databases == null ? null : {
    host     = var.external_databases.host
    port     = var.external_databases.port
    username = var.external_databases.username
    dbname   = var.external_databases.warehouse_dbname
  }


  # The alias every starter of an execution targets (modules/state_machines): the version it routes to runs.
  state_machine_alias = "live"

  # The MTX_* variables of contracts/config.py Settings.to_env(), for AWS:
  # no endpoint anywhere (the SDK's defaults), AWS_REGION is set
  # by Lambda itself. The Lambdas get them as environment variables; the Glue job
  # gets its own arguments from the same module outputs (modules/glue).
  settings = {
    MTX_NAME_PREFIX            = local.name_prefix
    MTX_REGION                 = data.aws_region.this.name
    MTX_ACCOUNT_ID             = data.aws_caller_identity.this.account_id
    MTX_RAW_BUCKET             = module.storage.bucket_names["raw"]
    MTX_ANALYTICS_BUCKET       = module.storage.bucket_names["analytics"]
    MTX_CURATED_BUCKET         = module.storage.bucket_names["curated"]
    MTX_GLUE_SCRIPTS_BUCKET    = module.storage.bucket_names["glue_scripts"]
    MTX_QUERY_RESULTS_BUCKET   = module.storage.bucket_names["query_results"]
    MTX_ITEM_CATALOGUE_TABLE   = module.tables.table_names["item_catalogue"]
    MTX_ANALYTICS_TABLE        = module.tables.table_names["analytics"]
    MTX_EXECUTION_STATUS_TABLE = module.tables.table_names["execution_status"]
    MTX_BATCH_RUNS_TABLE       = module.tables.table_names["batch_runs"]
    MTX_ANALYTICS_CACHE_TABLE  = module.tables.table_names["analytics_cache"]
    MTX_ANALYTICS_JOBS_TABLE   = module.tables.table_names["analytics_jobs"]
    MTX_DEAD_LETTER_QUEUE_NAME = module.messaging.queue_name
    MTX_ALERTS_TOPIC_NAME      = module.messaging.topic_name
    # one secret per database role (lambdas/migrate_databases/roles.py); the admin ones are the
    # master users', read by the deploy-time migration step alone
    MTX_COMPLIANCE_ADMIN_SECRET_ID      = module.database.secret_name
    MTX_COMPLIANCE_MIGRATOR_SECRET_ID   = module.database_roles.secret_names["compliance_migrator"]
    MTX_COMPLIANCE_WRITER_SECRET_ID     = module.database_roles.secret_names["compliance_writer"]
    MTX_COMPLIANCE_READER_SECRET_ID     = module.database_roles.secret_names["compliance_reader"]
    MTX_WAREHOUSE_ADMIN_SECRET_ID       = module.warehouse.secret_name
    MTX_WAREHOUSE_TRANSFORMER_SECRET_ID = module.database_roles.secret_names["warehouse_transformer"]
    MTX_WAREHOUSE_READER_SECRET_ID      = module.database_roles.secret_names["warehouse_reader"]
    MTX_GLUE_DATABASE                   = module.glue.database_name
    MTX_EXECUTION_DEAD_LETTERS_TABLE    = module.tables.table_names["execution_dead_letters"]
    MTX_PLAYERS_TABLE                   = module.tables.table_names["players"]
    MTX_REALTIME_AGGREGATES_TABLE       = module.tables.table_names["realtime_aggregates"]
    # the daily FX table of the Enrich stage (lambdas/common/enrich/fx.py), written by refresh_fx_rates
    MTX_FX_RATES_BUCKET        = module.storage.bucket_names["raw"]
    MTX_FX_RATES_KEY           = "reference/fx/daily.json"
    MTX_FX_RATES_SOURCE_URL    = var.fx_rates_source_url
    MTX_DEFAULT_APPLICATION_ID = var.default_application_id
    MTX_HOME                   = "/tmp/mtx"
    MTX_SFN_TIME_SCALE         = "1.0"
    MTX_LOG_LEVEL              = var.log_level
    MTX_STATE_MACHINE_ALIAS    = local.state_machine_alias
    MTX_DBT_TARGET             = "redshift"
    MTX_CORS_ALLOWED_ORIGINS   = join(",", var.cors_allowed_origins)
    MTX_MAX_FUTURE_SKEW_HOURS  = tostring(var.max_future_skew_hours)
    # TLS to the compliance database (through the RDS Proxy) and the warehouse: verify-full against the
    # CA bundle shipped in the functions' package (lambdas/common/certs/), a path relative to its root
    MTX_DB_SSLMODE                  = var.db_sslmode
    MTX_DB_SSLROOTCERT              = var.db_sslrootcert
    MTX_SWEEP_PENDING_AFTER_MINUTES = tostring(var.sweep_pending_after_minutes)
    MTX_DLQ_MAX_REDRIVES            = tostring(var.dlq_max_redrives)
    MTX_DLQ_ARCHIVE_AFTER_DAYS      = tostring(var.dlq_archive_after_days)
  }

  # The values templatefile() gives every ASL file: orchestration/runtime/resources.py Manifest.placeholders().
  template_values = merge(
    { for short, arn in module.lambda.function_arns : "${short}_function_arn" => arn },
    {
      execution_status_table = module.tables.table_names["execution_status"]
      item_catalogue_table   = module.tables.table_names["item_catalogue"]
      analytics_table        = module.tables.table_names["analytics"]
      batch_runs_table       = module.tables.table_names["batch_runs"]
      analytics_jobs_table   = module.tables.table_names["analytics_jobs"]
      dead_letter_queue_url  = module.messaging.queue_url
      alerts_topic_arn       = module.messaging.topic_arn
      raw_bucket             = module.storage.bucket_names["raw"]
      analytics_bucket       = module.storage.bucket_names["analytics"]
      curated_bucket         = module.storage.bucket_names["curated"]
      query_results_bucket   = module.storage.bucket_names["query_results"]
      glue_database          = module.glue.database_name
      glue_crawler_name      = module.glue.crawler_name
      glue_job_name          = module.glue.job_name
    },
  )
}

module "kms" {
  source = "../kms"

  name_prefix = local.name_prefix
}

module "network" {
  source = "../network"

  name_prefix        = local.name_prefix
  cidr_block         = var.vpc_cidr
  az_count           = var.az_count
  kms_key_arn        = module.kms.key_arn
  log_retention_days = var.log_retention_days
}

module "storage" {
  source = "../storage"

  name_prefix   = local.name_prefix
  kms_key_arn   = module.kms.key_arn
  force_destroy = var.force_destroy
}

module "tables" {
  source = "../tables"

  name_prefix         = local.name_prefix
  kms_key_arn         = module.kms.key_arn
  deletion_protection = var.deletion_protection
}

module "messaging" {
  source = "../messaging"

  name_prefix = local.name_prefix
  kms_key_arn = module.kms.key_arn
  alert_email = var.alert_email

  # Who may send to the dead-letter queue: the state machines whose definitions send to it and the
  # functions whose permissions do (each derived in its module); who may read it: the redrive role.
  dead_letter_sender_role_arns = concat(
    lookup(module.state_machines.queue_sender_role_arns, module.messaging.queue_arn, []),
    module.lambda.dead_letter_sender_role_arns,
  )
  redrive_principal_arns    = var.dlq_redrive_principal_arns
  redrive_state_machine_arn = module.state_machines.state_machine_arns["transaction"]
  redrive_alias_arn         = module.state_machines.alias_arns["transaction"]
}

module "database" {
  source = "../database"

  name_prefix         = local.name_prefix
  kms_key_arn         = module.kms.key_arn
  subnet_ids          = module.network.private_subnet_ids
  security_group_id   = module.network.database_security_group_id
  instance_class      = var.db_instance_class
  multi_az            = var.db_multi_az
  deletion_protection = var.deletion_protection
  skip_final_snapshot = var.force_destroy
  log_retention_days  = var.log_retention_days
  max_connections     = var.db_max_connections
  external_connection = local.external_compliance
  external_password   = var.external_database_password
}

# The RDS Proxy the runtime roles log in through (none where the database is external: envs/local).
module "database_proxy" {
  source = "../database_proxy"

  name_prefix            = local.name_prefix
  kms_key_arn            = module.kms.key_arn
  db_instance_identifier = module.database.instance_identifier
  db_max_connections     = module.database.max_connections
  subnet_ids             = module.network.private_subnet_ids
  security_group_id      = module.network.database_proxy_security_group_id
  secret_arns = {
    compliance_writer = module.database_roles.secret_arns["compliance_writer"]
    compliance_reader = module.database_roles.secret_arns["compliance_reader"]
  }
  client_connections_at_most = module.lambda.database_connections_at_most
  log_retention_days         = var.log_retention_days
}

# The login roles of both databases, one secret each, and the deploy-time migration step (the
# migrate_databases function, invoked once the databases, the secrets and the function exist).
module "database_roles" {
  source = "../database_roles"

  name_prefix = local.name_prefix
  kms_key_arn = module.kms.key_arn
  compliance_connection = {
    engine = "postgres"
    host   = module.database.instance_address
    port   = module.database.instance_port
    dbname = var.external_databases == null ? "compliance" : var.external_databases.compliance_dbname
  }
  compliance_proxy_host = module.database_proxy.endpoint
  warehouse_connection = {
    engine = var.external_databases == null ? "redshift" : "postgres"
    host   = module.warehouse.endpoint_address
    port   = var.external_databases == null ? 5439 : var.external_databases.port
    dbname = var.external_databases == null ? "warehouse" : var.external_databases.warehouse_dbname
  }
  password_version      = var.db_role_password_version
  run_migrations        = var.run_database_migrations
  migrate_function_name = module.lambda.function_names["migrate_databases"]
  migrations_dir        = "${local.repo_root}/lambdas/store_compliance/migrations"
  roles_source_path     = "${local.repo_root}/lambdas/migrate_databases/roles.py"

  # the master secrets must hold their connection before the step reads them
  depends_on = [module.database, module.warehouse]
}

module "lambda" {
  source = "../lambda"

  state_machine_alias_name = local.state_machine_alias
  name_prefix              = local.name_prefix
  package_path             = "${local.build_dir}/lambda/functions.zip"
  layer_path               = "${local.build_dir}/lambda/layer.zip"
  runtime                  = var.lambda_runtime
  architecture             = var.lambda_architecture
  environment              = local.settings
  openlineage_url          = var.openlineage_url
  kms_key_arn              = module.kms.key_arn
  subnet_ids               = module.network.private_subnet_ids
  subnet_arns              = module.network.private_subnet_arns
  security_group_id        = module.network.lambda_security_group_id
  security_group_arn       = module.network.lambda_security_group_arn

  migration_security_group_id  = module.network.migration_security_group_id
  migration_security_group_arn = module.network.migration_security_group_arn
  table_arns                   = module.tables.table_arns
  bucket_arns                  = module.storage.bucket_arns
  dead_letter_queue_arn        = module.messaging.queue_arn
  database_secret_arns = merge(module.database_roles.secret_arns, {
    compliance_admin = module.database.secret_arn
    warehouse_admin  = module.warehouse.secret_arn
  })
  alerts_topic_arn   = module.messaging.topic_arn
  log_retention_days = var.log_retention_days

  analytics_image_uri           = var.analytics_image_uri
  create_image_repository       = var.create_image_repository
  image_repository_force_delete = var.force_destroy
}

module "state_machines" {
  source = "../state_machines"

  alias_name         = local.state_machine_alias
  name_prefix        = local.name_prefix
  state_machines_dir = "${local.repo_root}/orchestration/state_machines"
  template_values    = local.template_values
  queue_arns_by_url  = { (module.messaging.queue_url) = module.messaging.queue_arn }
  kms_key_arn        = module.kms.key_arn
  log_level          = var.state_machine_log_level
  log_retention_days = var.log_retention_days
  live_versions      = var.state_machine_live_versions
}

module "api" {
  source = "../api"

  name_prefix                   = local.name_prefix
  schema_path                   = "${local.repo_root}/contracts/transaction.schema.json"
  openapi_path                  = "${local.repo_root}/orchestration/openapi.json"
  state_machine_arn             = module.state_machines.alias_arns["transaction"]
  analytics_function_name       = module.lambda.function_names["analytics_api"]
  analytics_function_invoke_arn = module.lambda.invoke_arns["analytics_api"]
  # POST /events (the stream entrance through the API), with the stream
  events_function_name        = var.enable_stream ? module.lambda.function_names["put_events"] : null
  events_function_invoke_arn  = var.enable_stream ? module.lambda.invoke_arns["put_events"] : null
  producer_authorization      = var.api_producer_authorization
  producers                   = var.api_producers
  analyst_principal_arns      = var.analyst_principal_arns
  throttling_rate_limit       = var.api_throttling_rate_limit
  throttling_burst_limit      = var.api_throttling_burst_limit
  manage_account_logging_role = var.manage_account_singletons
  kms_key_arn                 = module.kms.key_arn
  log_retention_days          = var.log_retention_days
}

module "triggers" {
  source = "../triggers"

  name_prefix                         = local.name_prefix
  raw_bucket_name                     = module.storage.bucket_names["raw"]
  enable_batch_ingest                 = contains(module.state_machines.workflows, "batch_ingest")
  batch_ingest_state_machine_arn      = lookup(module.state_machines.alias_arns, "batch_ingest", null)
  enable_analytics_refresh            = contains(module.state_machines.workflows, "analytics_refresh")
  analytics_refresh_state_machine_arn = lookup(module.state_machines.alias_arns, "analytics_refresh", null)
  analytics_refresh_schedule          = var.analytics_refresh_schedule
  kms_key_arn                         = module.kms.key_arn

  # the last-resort net watches the Standard workflows; the sweeper covers the Express one
  watched_state_machine_arns = module.state_machines.standard_state_machine_arns
  net_function_arn           = module.lambda.function_arns["dead_letter_failed_execution"]
  net_function_name          = module.lambda.function_names["dead_letter_failed_execution"]
  sweep_function_arn         = module.lambda.function_arns["sweep_pending"]
  sweep_function_name        = module.lambda.function_names["sweep_pending"]
  sweep_pending_schedule     = var.sweep_pending_schedule
  async_failures_queue_arn   = module.lambda.async_failures_queue_arn
}

# The streaming entrance: Kinesis -> event source mapping -> ingest_stream (docs/stream-ingest.md).
module "stream" {
  source = "../stream"
  count  = var.enable_stream ? 1 : 0

  name_prefix  = local.name_prefix
  kms_key_arn  = module.kms.key_arn
  function_arn = module.lambda.function_arns["ingest_stream"]
  # the function's own role (module lambda names it as the function)
  function_role_name                 = module.lambda.function_names["ingest_stream"]
  producer_role_name                 = module.lambda.function_names["put_events"] # POST /events
  stream_mode                        = var.stream_mode
  shard_count                        = var.stream_shard_count
  batch_size                         = var.stream_batch_size
  maximum_batching_window_in_seconds = var.stream_batching_window_seconds
}

module "glue" {
  source = "../glue"

  name_prefix               = local.name_prefix
  kms_key_arn               = module.kms.key_arn
  crawler_definition_path   = "${local.repo_root}/glue_jobs/crawlers/transactions.json"
  script_path               = "${local.repo_root}/glue_jobs/flatten_transactions/job.py"
  libs_path                 = "${local.build_dir}/glue/libs.zip"
  wheels_dir                = "${local.build_dir}/glue/wheels"
  bucket_names              = module.storage.bucket_names
  bucket_arns               = module.storage.bucket_arns
  warehouse_secret_arn      = module.database_roles.secret_arns["warehouse_transformer"]
  warehouse_secret_name     = module.database_roles.secret_names["warehouse_transformer"]
  redshift_copy_role_arn    = module.warehouse.copy_role_arn
  vpc_id                    = module.network.vpc_id
  subnet_id                 = module.network.private_subnet_ids[0]
  subnet_az                 = module.network.private_subnet_azs[0]
  subnet_arns               = module.network.private_subnet_arns
  security_group_id         = module.network.glue_security_group_id
  number_of_workers         = var.glue_number_of_workers
  manage_catalog_encryption = var.manage_account_singletons
  log_retention_days        = var.log_retention_days
  vpc_connection            = var.external_databases == null
  openlineage_url           = var.openlineage_url
}

module "warehouse" {
  source = "../warehouse"

  name_prefix              = local.name_prefix
  kms_key_arn              = module.kms.key_arn
  subnet_ids               = module.network.private_subnet_ids
  security_group_id        = module.network.warehouse_security_group_id
  curated_bucket_arn       = module.storage.bucket_arns["curated"]
  query_results_bucket_arn = module.storage.bucket_arns["query_results"]
  base_capacity            = var.redshift_base_capacity
  max_capacity             = var.redshift_max_capacity
  analyst_principal_arns   = var.analyst_principal_arns
  external_connection      = local.external_warehouse
  external_password        = var.external_database_password
}

module "monitoring" {
  source = "../monitoring"

  name_prefix            = local.name_prefix
  alerts_topic_arn       = module.messaging.topic_arn
  dead_letter_queue_name = module.messaging.queue_name
  state_machine_arns     = module.state_machines.state_machine_arns
  workflows              = module.state_machines.workflows

  state_machine_log_group_names = module.state_machines.log_group_names
  function_names                = module.lambda.function_names
  glue_job_name                 = module.glue.job_name
  api_name                      = module.api.rest_api_name
  api_stage_name                = module.api.stage_name
  db_instance_identifier        = module.database.instance_identifier

  monthly_budget_usd             = var.monthly_budget_usd
  budget_alert_threshold_percent = var.budget_alert_threshold_percent
  # the provider's default_tags (envs/<env>/providers.tf) put Project = var.project on every resource
  cost_allocation_tag = { key = "Project", value = var.project }

  # queue name = the last part of its ARN / URL; the keys are known at plan time (the workflows deployed)
  failure_queue_names = merge(
    { async-invocation-failures = element(split(":", module.lambda.async_failures_queue_arn), 5) },
    var.enable_stream ? { stream-failures = element(split(":", module.stream[0].failures_queue_arn), 5) } : {},
    contains(module.state_machines.workflows, "batch_ingest") ? {
      raw-incoming-undelivered = element(split("/", module.triggers.raw_incoming_undelivered_queue_url), 4)
    } : {},
  )
}
