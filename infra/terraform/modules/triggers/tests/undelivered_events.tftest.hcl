# `terraform test` (offline: mocked provider) of the batch-ingest trigger's delivery guarantees (issue 18):
# EventBridge retries starting the workflow for an hour, then puts the event in a queue of its own
# (KMS, writable only by events.amazonaws.com for this rule), never drops it. Run by infra/scripts/tf_check.sh.

mock_provider "aws" {
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
  # mocked ARNs that are ARNs (the provider checks them)
  mock_resource "aws_sqs_queue" {
    defaults = {
      arn = "arn:aws:sqs:eu-west-1:123456789012:mtx-dev-raw-incoming-undelivered"
      id  = "https://sqs.eu-west-1.amazonaws.com/123456789012/mtx-dev-raw-incoming-undelivered"
    }
  }
  mock_resource "aws_iam_role" {
    defaults = { arn = "arn:aws:iam::123456789012:role/mtx-dev-raw-incoming-events" }
  }
  mock_resource "aws_cloudwatch_event_rule" {
    defaults = { arn = "arn:aws:events:eu-west-1:123456789012:rule/mtx-dev-raw-incoming" }
  }
  override_data {
    target = data.aws_caller_identity.this
    values = { account_id = "123456789012" }
  }
}

variables {
  name_prefix                    = "mtx-dev"
  raw_bucket_name                = "mtx-dev-raw"
  kms_key_arn                    = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000"
  enable_batch_ingest            = true
  batch_ingest_state_machine_arn = "arn:aws:states:eu-west-1:123456789012:stateMachine:mtx-dev-batch-ingest"
  watched_state_machine_arns     = ["arn:aws:states:eu-west-1:123456789012:stateMachine:mtx-dev-batch-ingest"]
  net_function_arn               = "arn:aws:lambda:eu-west-1:123456789012:function:mtx-dev-dead-letter-failed-execution"
  net_function_name              = "mtx-dev-dead-letter-failed-execution"
  sweep_function_arn             = "arn:aws:lambda:eu-west-1:123456789012:function:mtx-dev-sweep-pending"
  sweep_function_name            = "mtx-dev-sweep-pending"
  async_failures_queue_arn       = "arn:aws:sqs:eu-west-1:123456789012:mtx-dev-lambda-async-failures"
}

run "undelivered_file_events_go_to_an_encrypted_queue_only_this_rule_writes" {
  command = apply

  assert {
    condition     = aws_cloudwatch_event_target.this[0].dead_letter_config[0].arn == aws_sqs_queue.this[0].arn
    error_message = "The batch-ingest target must dead-letter undeliverable events to its own queue."
  }

  assert {
    condition = (aws_cloudwatch_event_target.this[0].retry_policy[0].maximum_retry_attempts > 0
      && aws_cloudwatch_event_target.this[0].retry_policy[0].maximum_event_age_in_seconds >= 3600
    && aws_cloudwatch_event_target.this[0].retry_policy[0].maximum_event_age_in_seconds <= 86400)
    error_message = "The target must retry (at least once, for an hour to a day) before it dead-letters."
  }

  assert {
    condition     = aws_sqs_queue.this[0].kms_master_key_id == var.kms_key_arn && aws_sqs_queue.this[0].message_retention_seconds == 1209600
    error_message = "The undelivered-events queue must be encrypted with the CMK and keep events 14 days."
  }

  assert {
    condition = anytrue([for s in data.aws_iam_policy_document.undelivered[0].statement : s.effect != "Deny" && tolist(s.actions) == tolist(["sqs:SendMessage"]) && anytrue([
      for p in s.principals : p.type == "Service" && tolist(p.identifiers) == tolist(["events.amazonaws.com"])
      ]) && anytrue([
      for c in s.condition : c.test == "ArnEquals" && c.variable == "aws:SourceArn" && tolist(c.values) == tolist([aws_cloudwatch_event_rule.this[0].arn])
    ])])
    error_message = "Only events.amazonaws.com, for the raw-incoming rule's ARN, may send to the queue."
  }

  assert {
    condition     = aws_sqs_queue_policy.this[0].queue_url == aws_sqs_queue.this[0].id
    error_message = "The queue policy must be attached to the undelivered-events queue."
  }
}

run "no_batch_workflow_no_rule_and_no_queue" {
  command = plan

  variables {
    enable_batch_ingest            = false
    batch_ingest_state_machine_arn = null
  }

  assert {
    condition     = length(aws_cloudwatch_event_target.this) == 0 && length(aws_sqs_queue.this) == 0
    error_message = "Without the batch_ingest workflow there is no rule target and no queue."
  }
}
