# The local stack (`mtx up --terraform`, against the moto server): the whole pipeline is
# modules/platform; this root gives it this environment's variables, its provider (providers.tf)
# and its state (versions.tf).

module "platform" {
  source = "../../modules/platform"

  project                     = var.project
  environment                 = var.environment
  alert_email                 = var.alert_email
  log_level                   = var.log_level
  openlineage_url             = var.openlineage_url
  state_machine_log_level     = var.state_machine_log_level
  state_machine_live_versions = var.state_machine_live_versions
  log_retention_days          = var.log_retention_days
  vpc_cidr                    = var.vpc_cidr
  az_count                    = var.az_count
  force_destroy               = var.force_destroy
  deletion_protection         = var.deletion_protection
  db_instance_class           = var.db_instance_class
  db_multi_az                 = var.db_multi_az
  lambda_runtime              = var.lambda_runtime
  lambda_architecture         = var.lambda_architecture
  api_producer_authorization  = var.api_producer_authorization
  api_producers               = var.api_producers
  cors_allowed_origins        = var.cors_allowed_origins
  max_future_skew_hours       = var.max_future_skew_hours
  api_throttling_rate_limit   = var.api_throttling_rate_limit
  api_throttling_burst_limit  = var.api_throttling_burst_limit
  manage_account_singletons   = var.manage_account_singletons
  analytics_refresh_schedule  = var.analytics_refresh_schedule
  glue_number_of_workers      = var.glue_number_of_workers
  redshift_base_capacity      = var.redshift_base_capacity
  redshift_max_capacity       = var.redshift_max_capacity
  analyst_principal_arns      = var.analyst_principal_arns
  dlq_redrive_principal_arns  = var.dlq_redrive_principal_arns
  external_databases          = var.external_databases
  external_database_password  = var.external_database_password
  analytics_image_uri         = var.analytics_image_uri
  create_image_repository     = var.create_image_repository
  run_database_migrations     = var.run_database_migrations
  db_role_password_version    = var.db_role_password_version
  db_max_connections          = var.db_max_connections
  db_sslmode                  = var.db_sslmode
  db_sslrootcert              = var.db_sslrootcert
  sweep_pending_after_minutes = var.sweep_pending_after_minutes
  sweep_pending_schedule      = var.sweep_pending_schedule
  dlq_max_redrives            = var.dlq_max_redrives
  dlq_archive_after_days      = var.dlq_archive_after_days

  monthly_budget_usd             = var.monthly_budget_usd
  budget_alert_threshold_percent = var.budget_alert_threshold_percent
}

# State migration: before the composition module the env roots called the modules themselves
# (module.kms, module.network, ...). These blocks move an existing state's resources under
# module.platform on the next plan/apply instead of destroying and recreating them
# (docs/deploying.md, "Upgrading an existing state"). Keep them until every state has been applied.
moved {
  from = module.kms
  to   = module.platform.module.kms
}

moved {
  from = module.network
  to   = module.platform.module.network
}

moved {
  from = module.storage
  to   = module.platform.module.storage
}

moved {
  from = module.tables
  to   = module.platform.module.tables
}

moved {
  from = module.messaging
  to   = module.platform.module.messaging
}

moved {
  from = module.database
  to   = module.platform.module.database
}

moved {
  from = module.database_proxy
  to   = module.platform.module.database_proxy
}

moved {
  from = module.database_roles
  to   = module.platform.module.database_roles
}

moved {
  from = module.lambda
  to   = module.platform.module.lambda
}

moved {
  from = module.state_machines
  to   = module.platform.module.state_machines
}

moved {
  from = module.api
  to   = module.platform.module.api
}

moved {
  from = module.triggers
  to   = module.platform.module.triggers
}

moved {
  from = module.glue
  to   = module.platform.module.glue
}

moved {
  from = module.warehouse
  to   = module.platform.module.warehouse
}

moved {
  from = module.monitoring
  to   = module.platform.module.monitoring
}
