# `terraform test` (offline: mocked provider) of the database functions: the functions that log in to the
# compliance database as a runtime role (derived from the secrets they may read) each have reserved
# concurrency, their sum is what the RDS Proxy is checked against, and only the migration step reaches RDS
# from its own security group. Run by infra/scripts/tf_check.sh.

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

run "the_database_functions_are_those_that_read_a_runtime_compliance_secret" {
  command = plan

  assert {
    condition = toset(output.database_function_names) == toset([
      "store_compliance", "undo_partial_write", "process_chunk", "ingest_stream", "dead_letter_chunk",
      "analytics_api", "run_analytics_job", "run_data_checks", "sweep_pending",
    ])
    error_message = "The database functions must be exactly those that read the compliance writer's or reader's secret."
  }
}

run "every_database_function_has_reserved_concurrency" {
  command = plan

  assert {
    condition     = alltrue([for f in output.database_function_names : aws_lambda_function.this[f].reserved_concurrent_executions == output.database_reserved_concurrency[f]])
    error_message = "Each database function must reserve its reserved_concurrency of infra/functions.json."
  }

  assert {
    condition     = alltrue([for f in output.database_function_names : aws_lambda_function.this[f].reserved_concurrent_executions >= 1])
    error_message = "A database function without reserved concurrency can open connections without bound."
  }

  assert {
    condition     = output.database_connections_at_most == sum([for f in output.database_function_names : output.database_reserved_concurrency[f]])
    error_message = "The connections the proxy is checked against must be the database functions' reserved concurrency (one connection per container)."
  }

  assert {
    condition     = output.database_connections_at_most == 110
    error_message = "The default reservations sum to 110 (infra/README.md, Database connections)."
  }
}

run "a_database_function_without_reserved_concurrency_is_refused" {
  command = plan

  variables {
    database_reserved_concurrency = {
      store_compliance   = 50
      undo_partial_write = 9
      process_chunk      = 20
      ingest_stream      = 10
      dead_letter_chunk  = 5
      analytics_api      = 10
      run_analytics_job  = 3
      sweep_pending      = 1
    }
  }

  expect_failures = [aws_lambda_function.this["run_data_checks"]]
}

run "only_the_migration_step_uses_the_migration_security_group" {
  command = plan

  assert {
    condition     = aws_lambda_function.this["migrate_databases"].vpc_config[0].security_group_ids == toset([var.migration_security_group_id])
    error_message = "migrate_databases (the master user, straight to RDS) must run in the migration security group."
  }

  assert {
    condition     = alltrue([for f, fn in aws_lambda_function.this : fn.vpc_config[0].security_group_ids == toset([var.security_group_id]) if f != "migrate_databases"])
    error_message = "Every other function must run in the Lambda security group, whose PostgreSQL goes to the proxy only."
  }
}
