output "name_prefix" {
  description = "Prefix of every resource name."
  value       = module.platform.name_prefix
}

output "api_invoke_url" {
  description = "POST <api_invoke_url>/transactions starts the transaction workflow."
  value       = module.platform.api_invoke_url
}

output "api_producer_key_ids" {
  description = "Id of each producer's API key by application id (api_producer_authorization = API_KEY)."
  value       = module.platform.api_producer_key_ids
}

output "api_producer_role_arns" {
  description = "Role of each producer by application id (api_producer_authorization = AWS_IAM)."
  value       = module.platform.api_producer_role_arns
}

output "api_analyst_role_arn" {
  description = "Role analysts sign /health and /analytics* requests with (null without analyst_principal_arns)."
  value       = module.platform.api_analyst_role_arn
}

output "state_machine_arns" {
  description = "State machine ARNs by workflow (unqualified; executions start through state_machine_alias_arns)."
  value       = module.platform.state_machine_arns
}

output "state_machine_alias_arns" {
  description = "ARN of each workflow's alias (<state machine ARN>:live) by workflow: what starts its executions."
  value       = module.platform.state_machine_alias_arns
}

output "state_machine_live_version_arns" {
  description = "The published version each workflow's alias routes to, by workflow (state_machine_live_versions pins one for a rollback)."
  value       = module.platform.state_machine_live_version_arns
}

output "function_names" {
  description = "Lambda function names by short name."
  value       = module.platform.function_names
}

output "bucket_names" {
  description = "Bucket names by role."
  value       = module.platform.bucket_names
}

output "table_names" {
  description = "DynamoDB table names by role."
  value       = module.platform.table_names
}

output "dead_letter_queue_url" {
  description = "URL of the dead-letter queue."
  value       = module.platform.dead_letter_queue_url
}

output "alerts_topic_arn" {
  description = "ARN of the alert topic."
  value       = module.platform.alerts_topic_arn
}

output "glue_database_name" {
  description = "Glue catalog database."
  value       = module.platform.glue_database_name
}

output "glue_crawler_name" {
  description = "Glue crawler over the analytics copy."
  value       = module.platform.glue_crawler_name
}

output "glue_job_name" {
  description = "Glue flatten job."
  value       = module.platform.glue_job_name
}

output "redshift_workgroup_name" {
  description = "Redshift Serverless workgroup."
  value       = module.platform.redshift_workgroup_name
}

output "redshift_endpoint_address" {
  description = "Redshift Serverless endpoint (inside the VPC)."
  value       = module.platform.redshift_endpoint_address
}

output "analysts_role_arn" {
  description = "Role SQL analysts assume (null without analyst_principal_arns, or with external_databases)."
  value       = module.platform.analysts_role_arn
}

output "dlq_redrive_role_arn" {
  description = "ARN of the role that reads and redrives the dead-letter queue (null without dlq_redrive_principal_arns)."
  value       = module.platform.dlq_redrive_role_arn
}

output "compliance_secret_name" {
  description = "Master secret of the compliance database (read by the deploy-time migration step only)."
  value       = module.platform.compliance_secret_name
}

output "warehouse_secret_name" {
  description = "Admin secret of the warehouse (read by the deploy-time migration step only)."
  value       = module.platform.warehouse_secret_name
}

output "database_role_secret_names" {
  description = "Secret of each database login role (compliance_migrator, compliance_writer, compliance_reader, warehouse_transformer: dbt and the Glue job, warehouse_reader)."
  value       = module.platform.database_role_secret_names
}

output "database_migration_result" {
  description = "What the deploy-time migration step answered (migrations applied), null where it is not invoked."
  value       = module.platform.database_migration_result
}

output "dashboard_name" {
  description = "CloudWatch dashboard."
  value       = module.platform.dashboard_name
}

output "analytics_image_repository_url" {
  description = "Where to push the analytics image (infra/docker/analytics); null when the repository is not created."
  value       = module.platform.analytics_image_repository_url
}

output "settings_env" {
  description = "The MTX_* settings of the deployed stack (export them to point `mtx`, dbt or a shell at it)."
  value       = module.platform.settings_env
}
