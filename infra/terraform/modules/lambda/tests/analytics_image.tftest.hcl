# `terraform test` (offline: mocked provider) of how the functions are packaged:
# every function is a zip on the shared layer, except build_marts and
# run_data_checks once the analytics image (dbt, Great Expectations) is given.
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

run "without_the_image_every_function_is_a_zip" {
  command = plan

  assert {
    condition     = alltrue([for f in aws_lambda_function.this : f.package_type == "Zip" && f.image_uri == null])
    error_message = "without analytics_image_uri every function must be a zip"
  }
  assert {
    condition     = aws_lambda_function.this["build_marts"].handler == "lambdas.build_marts.handler.handler"
    error_message = "the zip build_marts must keep its handler"
  }
  assert {
    condition     = length(aws_ecr_repository.this) == 1 && aws_ecr_repository.this[0].image_tag_mutability == "IMMUTABLE"
    error_message = "the analytics image repository must exist, with immutable tags"
  }
}

run "with_the_image_the_analytics_functions_run_from_it" {
  command = plan

  variables {
    analytics_image_uri = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/mtx-dev-analytics:2026-11-29"
  }

  assert {
    condition = alltrue([
      for k in ["build_marts", "run_data_checks"] :
      aws_lambda_function.this[k].package_type == "Image"
      && aws_lambda_function.this[k].image_uri == "123456789012.dkr.ecr.eu-west-1.amazonaws.com/mtx-dev-analytics:2026-11-29"
    ])
    error_message = "build_marts and run_data_checks must run from the image"
  }
  assert {
    condition = alltrue([
      for k in ["build_marts", "run_data_checks"] :
      join(",", aws_lambda_function.this[k].image_config[0].command) == "lambdas.${k}.handler.handler"
    ])
    error_message = "the image's command must be the function's handler"
  }
  assert {
    condition = alltrue([
      for k in ["build_marts", "run_data_checks"] :
      aws_lambda_function.this[k].handler == null && aws_lambda_function.this[k].runtime == null
      && aws_lambda_function.this[k].filename == null && length(coalesce(aws_lambda_function.this[k].layers, [])) == 0
    ])
    error_message = "an image function has no handler, runtime, zip or layer"
  }
  assert {
    condition = alltrue([
      for k, f in aws_lambda_function.this : f.package_type == "Zip"
      if !contains(["build_marts", "run_data_checks"], k)
    ])
    error_message = "every other function stays a zip on the layer"
  }
}

run "the_image_uri_must_be_an_ecr_image" {
  command = plan

  variables {
    analytics_image_uri = "docker.io/library/python:3.12"
  }

  expect_failures = [var.analytics_image_uri]
}
