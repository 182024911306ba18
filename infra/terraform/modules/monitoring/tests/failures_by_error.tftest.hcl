# `terraform test` (offline: mocked provider) of the failure alarms: failed executions are counted per
# error class from the workflows' logs, the contract's rejects (DataValidationError) are graphed apart
# and subtracted from what pages, and a timed-out execution still pages. Run by infra/scripts/tf_check.sh.

mock_provider "aws" {
  override_data {
    target = data.aws_region.this
    values = { name = "eu-west-1" }
  }
}

variables {
  name_prefix            = "mtx-dev"
  alerts_topic_arn       = "arn:aws:sns:eu-west-1:123456789012:mtx-dev-alerts"
  dead_letter_queue_name = "mtx-dev-dead-letter.fifo"
  workflows              = ["batch_ingest", "transaction"]
  state_machine_arns = {
    transaction  = "arn:aws:states:eu-west-1:123456789012:stateMachine:mtx-dev-transaction"
    batch_ingest = "arn:aws:states:eu-west-1:123456789012:stateMachine:mtx-dev-batch-ingest"
  }
  state_machine_log_group_names = {
    transaction  = "/aws/vendedlogs/states/mtx-dev-transaction"
    batch_ingest = "/aws/vendedlogs/states/mtx-dev-batch-ingest"
  }
  function_names = { store_compliance = "mtx-dev-store-compliance" }
  glue_job_name  = "mtx-dev-flatten-transactions"
  api_name       = "mtx-dev-api"
  api_stage_name = "v1"
}

run "failures_are_counted_per_error_class_from_each_workflows_log_group" {
  command = plan

  assert {
    condition     = aws_cloudwatch_log_metric_filter.this["transaction"].log_group_name == "/aws/vendedlogs/states/mtx-dev-transaction"
    error_message = "The transaction workflow's failures must be read from its own log group."
  }

  assert {
    condition     = aws_cloudwatch_log_metric_filter.this["transaction"].pattern == "{ $.type = \"ExecutionFailed\" }"
    error_message = "The filter must count ExecutionFailed events (logged without execution data)."
  }

  assert {
    condition     = aws_cloudwatch_log_metric_filter.this["transaction"].metric_transformation[0].dimensions == tomap({ Error = "$.details.error" })
    error_message = "The failure metric must have one dimension, Error, the failed execution's error name."
  }

  assert {
    condition     = aws_cloudwatch_log_metric_filter.this["transaction"].metric_transformation[0].name != aws_cloudwatch_log_metric_filter.this["batch_ingest"].metric_transformation[0].name
    error_message = "Each workflow must have its own failure metric."
  }
}

run "the_alarm_pages_on_unexpected_failures_and_timeouts_not_on_rejects" {
  command = plan

  assert {
    condition     = one([for q in aws_cloudwatch_metric_alarm.executions_failed["transaction"].metric_query : q.expression if q.return_data == true]) == "FILL(failed, 0) - FILL(reject0, 0) + FILL(timed_out, 0)"
    error_message = "The alarm must page on failed executions minus the rejects, plus timed-out ones."
  }

  assert {
    condition = one(flatten([for q in aws_cloudwatch_metric_alarm.executions_failed["transaction"].metric_query : [
      for m in q.metric : m if q.id == "reject0"
    ]])).dimensions == tomap({ Error = "DataValidationError" })
    error_message = "The rejects subtracted must be the DataValidationError failures."
  }

  assert {
    condition = one(flatten([for q in aws_cloudwatch_metric_alarm.executions_failed["transaction"].metric_query : [
      for m in q.metric : m.metric_name if q.id == "reject0"
    ]])) == aws_cloudwatch_log_metric_filter.this["transaction"].metric_transformation[0].name
    error_message = "The rejects must come from the transaction workflow's own failure metric."
  }

  assert {
    condition = one(flatten([for q in aws_cloudwatch_metric_alarm.executions_failed["transaction"].metric_query : [
      for m in q.metric : m.metric_name if q.id == "failed"
    ]])) == "ExecutionsFailed"
    error_message = "What pages must start from the authoritative AWS/States ExecutionsFailed (a lost log line pages, never silences)."
  }
}

run "a_runtime_error_cannot_be_declared_a_reject" {
  command = plan

  variables {
    reject_error_names = ["States.Runtime"]
  }

  expect_failures = [var.reject_error_names]
}
