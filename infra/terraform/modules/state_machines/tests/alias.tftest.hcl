# `terraform test` (offline: mocked provider) of the alias every starter targets: it routes to the
# version this apply published, or to the one var.live_versions pins (a rollback), never to a version
# of another state machine. Run by infra/scripts/tf_check.sh.

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
  override_resource {
    target = aws_iam_role.this
    values = { arn = "arn:aws:iam::123456789012:role/mtx-dev-sfn" }
  }
  override_resource {
    target = aws_cloudwatch_log_group.this
    values = { arn = "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/vendedlogs/states/mtx-dev" }
  }
  override_resource {
    target = aws_sfn_state_machine.this
    values = {
      arn                       = "arn:aws:states:eu-west-1:123456789012:stateMachine:mtx-dev-transaction"
      state_machine_version_arn = "arn:aws:states:eu-west-1:123456789012:stateMachine:mtx-dev-transaction:7"
    }
  }
}

variables {
  name_prefix        = "mtx-dev"
  state_machines_dir = "../../../../orchestration/state_machines"
  kms_key_arn        = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000"
  queue_arns_by_url = {
    "https://sqs.eu-west-1.amazonaws.com/123456789012/mtx-dev-dead-letter.fifo" = "arn:aws:sqs:eu-west-1:123456789012:mtx-dev-dead-letter.fifo"
  }
  template_values = {
    validate_transaction_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:mtx-dev-validate-transaction"
    check_item_function_arn           = "arn:aws:lambda:eu-west-1:123456789012:function:mtx-dev-check-item"
    enrich_transaction_function_arn   = "arn:aws:lambda:eu-west-1:123456789012:function:mtx-dev-enrich-transaction"
    store_compliance_function_arn     = "arn:aws:lambda:eu-west-1:123456789012:function:mtx-dev-store-compliance"
    strip_pii_function_arn            = "arn:aws:lambda:eu-west-1:123456789012:function:mtx-dev-strip-pii"
    store_analytics_function_arn      = "arn:aws:lambda:eu-west-1:123456789012:function:mtx-dev-store-analytics"
    undo_partial_write_function_arn   = "arn:aws:lambda:eu-west-1:123456789012:function:mtx-dev-undo-partial-write"
    split_file_function_arn           = "arn:aws:lambda:eu-west-1:123456789012:function:mtx-dev-split-file"
    process_chunk_function_arn        = "arn:aws:lambda:eu-west-1:123456789012:function:mtx-dev-process-chunk"
    dead_letter_chunk_function_arn    = "arn:aws:lambda:eu-west-1:123456789012:function:mtx-dev-dead-letter-chunk"
    finalize_run_function_arn         = "arn:aws:lambda:eu-west-1:123456789012:function:mtx-dev-finalize-run"
    quarantine_file_function_arn      = "arn:aws:lambda:eu-west-1:123456789012:function:mtx-dev-quarantine-file"
    build_marts_function_arn          = "arn:aws:lambda:eu-west-1:123456789012:function:mtx-dev-build-marts"
    run_data_checks_function_arn      = "arn:aws:lambda:eu-west-1:123456789012:function:mtx-dev-run-data-checks"
    run_analytics_job_function_arn    = "arn:aws:lambda:eu-west-1:123456789012:function:mtx-dev-run-analytics-job"
    execution_status_table            = "mtx-dev-execution-status"
    item_catalogue_table              = "mtx-dev-item-catalogue"
    analytics_table                   = "mtx-dev-analytics-transactions"
    batch_runs_table                  = "mtx-dev-batch-runs"
    analytics_jobs_table              = "mtx-dev-analytics-jobs"
    dead_letter_queue_url             = "https://sqs.eu-west-1.amazonaws.com/123456789012/mtx-dev-dead-letter.fifo"
    alerts_topic_arn                  = "arn:aws:sns:eu-west-1:123456789012:mtx-dev-alerts"
    raw_bucket                        = "mtx-dev-raw"
    analytics_bucket                  = "mtx-dev-analytics"
    curated_bucket                    = "mtx-dev-curated"
    query_results_bucket              = "mtx-dev-query-results"
    glue_database                     = "mtx_dev"
    glue_crawler_name                 = "mtx-dev-transactions-crawler"
    glue_job_name                     = "mtx-dev-flatten-transactions"
  }
}

run "the_alias_routes_to_the_version_this_apply_published" {
  command = apply

  assert {
    condition     = alltrue([for r in aws_sfn_alias.this["transaction"].routing_configuration : r.state_machine_version_arn == "arn:aws:states:eu-west-1:123456789012:stateMachine:mtx-dev-transaction:7" && r.weight == 100])
    error_message = "With no pin, the alias must route all executions to the version just published."
  }

  assert {
    condition     = aws_sfn_alias.this["transaction"].name == "live" && aws_sfn_state_machine.this["transaction"].publish
    error_message = "Every state machine publishes its versions behind the alias live."
  }
}

run "a_rollback_pins_a_version_by_number" {
  command = apply

  variables {
    live_versions = { transaction = "3" }
  }

  assert {
    condition     = output.live_version_arns["transaction"] == "arn:aws:states:eu-west-1:123456789012:stateMachine:mtx-dev-transaction:3"
    error_message = "live_versions = { transaction = \"3\" } must route the alias to version 3."
  }

  assert {
    condition     = alltrue([for r in aws_sfn_alias.this["transaction"].routing_configuration : r.state_machine_version_arn == output.live_version_arns["transaction"]])
    error_message = "The alias must route to the pinned version."
  }
}

run "a_version_of_another_state_machine_is_refused" {
  command = plan

  variables {
    live_versions = { transaction = "arn:aws:states:eu-west-1:123456789012:stateMachine:someone-else:3" }
  }

  expect_failures = [aws_sfn_alias.this["transaction"]]
}

run "a_pin_that_is_no_version_is_refused" {
  command = plan

  variables {
    live_versions = { transaction = "latest" }
  }

  expect_failures = [var.live_versions]
}
