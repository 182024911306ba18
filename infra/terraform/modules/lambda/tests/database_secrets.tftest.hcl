# `terraform test` (offline: mocked provider) of who may read which database secret: each function
# only the secret of the role it logs in as (lambdas/migrate_databases/roles.py), and the master
# secrets (compliance_admin, warehouse_admin) the deploy-time migrate_databases function alone.
# Run by infra/scripts/tf_check.sh.

mock_provider "aws" {
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
  override_data {
    target = data.aws_caller_identity.this
    values = { account_id = "123456789012" }
  }
  override_data {
    target = data.aws_region.this
    values = { name = "eu-west-1" }
  }
  override_data {
    target = data.aws_partition.this
    values = { partition = "aws" }
  }
}

variables {
  name_prefix                  = "mtx-dev"
  package_path                 = "main.tf" # any existing file: the preconditions check that the zips exist
  layer_path                   = "variables.tf"
  runtime                      = "python3.12"
  architecture                 = "x86_64"
  environment                  = { MTX_NAME_PREFIX = "mtx-dev" }
  kms_key_arn                  = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000"
  subnet_ids                   = ["subnet-00000000000000001"]
  subnet_arns                  = ["arn:aws:ec2:eu-west-1:123456789012:subnet/subnet-00000000000000001"]
  security_group_id            = "sg-00000000000000001"
  security_group_arn           = "arn:aws:ec2:eu-west-1:123456789012:security-group/sg-00000000000000001"
  migration_security_group_id  = "sg-00000000000000002"
  migration_security_group_arn = "arn:aws:ec2:eu-west-1:123456789012:security-group/sg-00000000000000002"
  table_arns                   = { for t in ["item_catalogue", "analytics", "execution_status", "batch_runs", "analytics_cache", "analytics_jobs", "execution_dead_letters", "players", "realtime_aggregates"] : t => "arn:aws:dynamodb:eu-west-1:123456789012:table/mtx-dev-${t}" }
  bucket_arns                  = { for b in ["raw", "analytics", "curated", "query_results", "glue_scripts"] : b => "arn:aws:s3:::mtx-dev-${b}" }
  dead_letter_queue_arn        = "arn:aws:sqs:eu-west-1:123456789012:mtx-dev-dead-letter.fifo"
  database_secret_arns = {
    compliance_admin      = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:mtx-dev/compliance-db-abcdef"
    compliance_migrator   = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:mtx-dev/compliance-migrator-abcdef"
    compliance_writer     = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:mtx-dev/compliance-writer-abcdef"
    compliance_reader     = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:mtx-dev/compliance-reader-abcdef"
    warehouse_admin       = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:mtx-dev/warehouse-db-abcdef"
    warehouse_transformer = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:mtx-dev/warehouse-transformer-abcdef"
    warehouse_reader      = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:mtx-dev/warehouse-reader-abcdef"
  }
  alerts_topic_arn   = "arn:aws:sns:eu-west-1:123456789012:mtx-dev-alerts"
  log_retention_days = 30
}


run "each_function_reads_only_its_own_database_secret" {
  command = plan

  assert {
    condition     = toset(flatten([for s in data.aws_iam_policy_document.this["store_compliance"].statement : s.resources if contains(s.actions, "secretsmanager:GetSecretValue")])) == toset([var.database_secret_arns["compliance_writer"]])
    error_message = "store_compliance must read exactly the database secret(s) of its role."
  }

  assert {
    condition     = toset(flatten([for s in data.aws_iam_policy_document.this["undo_partial_write"].statement : s.resources if contains(s.actions, "secretsmanager:GetSecretValue")])) == toset([var.database_secret_arns["compliance_writer"]])
    error_message = "undo_partial_write must read exactly the database secret(s) of its role."
  }

  assert {
    condition     = toset(flatten([for s in data.aws_iam_policy_document.this["process_chunk"].statement : s.resources if contains(s.actions, "secretsmanager:GetSecretValue")])) == toset([var.database_secret_arns["compliance_writer"]])
    error_message = "process_chunk must read exactly the database secret(s) of its role."
  }

  assert {
    condition     = toset(flatten([for s in data.aws_iam_policy_document.this["dead_letter_chunk"].statement : s.resources if contains(s.actions, "secretsmanager:GetSecretValue")])) == toset([var.database_secret_arns["compliance_writer"]])
    error_message = "dead_letter_chunk must read exactly the database secret(s) of its role."
  }

  assert {
    condition     = toset(flatten([for s in data.aws_iam_policy_document.this["build_marts"].statement : s.resources if contains(s.actions, "secretsmanager:GetSecretValue")])) == toset([var.database_secret_arns["warehouse_transformer"]])
    error_message = "build_marts must read exactly the database secret(s) of its role."
  }

  assert {
    condition     = toset(flatten([for s in data.aws_iam_policy_document.this["run_data_checks"].statement : s.resources if contains(s.actions, "secretsmanager:GetSecretValue")])) == toset([var.database_secret_arns["compliance_reader"], var.database_secret_arns["warehouse_reader"]])
    error_message = "run_data_checks must read exactly the database secret(s) of its role."
  }

  assert {
    condition     = toset(flatten([for s in data.aws_iam_policy_document.this["analytics_api"].statement : s.resources if contains(s.actions, "secretsmanager:GetSecretValue")])) == toset([var.database_secret_arns["compliance_reader"], var.database_secret_arns["warehouse_reader"]])
    error_message = "analytics_api must read exactly the database secret(s) of its role."
  }

  assert {
    condition     = toset(flatten([for s in data.aws_iam_policy_document.this["sweep_pending"].statement : s.resources if contains(s.actions, "secretsmanager:GetSecretValue")])) == toset([var.database_secret_arns["compliance_reader"]])
    error_message = "sweep_pending must read exactly the compliance reader's secret (it asks which ids are stored)."
  }

  assert {
    condition     = toset(flatten([for s in data.aws_iam_policy_document.this["ingest_stream"].statement : s.resources if contains(s.actions, "secretsmanager:GetSecretValue")])) == toset([var.database_secret_arns["compliance_writer"]])
    error_message = "ingest_stream must read exactly the compliance writer's secret."
  }

  assert {
    condition     = length(flatten([for s in data.aws_iam_policy_document.this["dead_letter_failed_execution"].statement : s.resources if contains(s.actions, "secretsmanager:GetSecretValue")])) == 0
    error_message = "dead_letter_failed_execution reads no database secret."
  }

  assert {
    condition     = toset(flatten([for s in data.aws_iam_policy_document.this["dead_letter_failed_execution"].statement : s.resources if contains(s.actions, "states:DescribeExecution")])) == toset([for w in ["batch-ingest", "analytics-refresh", "analytics-job"] : "arn:aws:states:eu-west-1:123456789012:execution:mtx-dev-${w}:*"])
    error_message = "the net describes executions of the Standard state machines it watches, and nothing else."
  }

  assert {
    condition     = toset(flatten([for s in data.aws_iam_policy_document.this["run_analytics_job"].statement : s.resources if contains(s.actions, "secretsmanager:GetSecretValue")])) == toset([var.database_secret_arns["compliance_reader"], var.database_secret_arns["warehouse_reader"]])
    error_message = "run_analytics_job must read exactly the database secret(s) of its role."
  }

  assert {
    condition     = toset(flatten([for s in data.aws_iam_policy_document.this["migrate_databases"].statement : s.resources if contains(s.actions, "secretsmanager:GetSecretValue")])) == toset(values(var.database_secret_arns))
    error_message = "migrate_databases must read exactly the database secret(s) of its role."
  }

  assert {
    condition     = alltrue([for f, doc in data.aws_iam_policy_document.this : length([for s in doc.statement : s if contains(s.actions, "secretsmanager:GetSecretValue")]) == 0 if !contains(["store_compliance", "undo_partial_write", "process_chunk", "ingest_stream", "dead_letter_chunk", "build_marts", "run_data_checks", "analytics_api", "run_analytics_job", "migrate_databases", "sweep_pending"], f)])
    error_message = "Only the functions that log in to a database may read a database secret."
  }
}

run "the_secrets_map_names_every_role" {
  command = plan

  variables {
    database_secret_arns = {
      compliance_admin = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:mtx-dev/compliance-db-abcdef"
    }
  }

  expect_failures = [var.database_secret_arns]
}
