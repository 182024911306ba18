# `terraform test` (offline: mocked provider) of the streaming entrance: the stream encrypted with the
# customer-managed key and on demand by default, the mapping's batches (500 records / 1 s), partial batch
# failures, bisect, bounded retries and the on-failure queue, and the read permissions given to the function's
# role only for what the mapping reads. Run by infra/scripts/tf_check.sh.

mock_provider "aws" {
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
  mock_resource "aws_kinesis_stream" {
    defaults = { arn = "arn:aws:kinesis:eu-west-1:123456789012:stream/mtx-dev-transaction-stream" }
  }
  mock_resource "aws_kinesis_stream_consumer" {
    defaults = { arn = "arn:aws:kinesis:eu-west-1:123456789012:stream/mtx-dev-transaction-stream/consumer/mtx-dev-ingest-stream:1" }
  }
  mock_resource "aws_sqs_queue" {
    defaults = { arn = "arn:aws:sqs:eu-west-1:123456789012:mtx-dev-transaction-stream-failures" }
  }
}

variables {
  name_prefix        = "mtx-dev"
  kms_key_arn        = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000"
  function_arn       = "arn:aws:lambda:eu-west-1:123456789012:function:mtx-dev-ingest-stream"
  function_role_name = "mtx-dev-ingest-stream"
}

run "defaults_on_demand_encrypted_batches_of_500_in_1_s_partial_failures_bisect_and_on_failure" {
  command = apply

  assert {
    condition     = aws_kinesis_stream.this.name == "mtx-dev-transaction-stream" && aws_kinesis_stream.this.stream_mode_details[0].stream_mode == "ON_DEMAND" && aws_kinesis_stream.this.shard_count == null
    error_message = "The stream must be <prefix>-transaction-stream (orchestration/manifest.py stream_name), on demand by default."
  }

  assert {
    condition     = aws_kinesis_stream.this.encryption_type == "KMS" && aws_kinesis_stream.this.kms_key_id == var.kms_key_arn && aws_kinesis_stream.this.retention_period == 24
    error_message = "The stream must be encrypted with the customer-managed key and keep records 24 hours by default."
  }

  assert {
    condition     = aws_lambda_event_source_mapping.this.batch_size == 500 && aws_lambda_event_source_mapping.this.maximum_batching_window_in_seconds == 1
    error_message = "Batches of 500 records or 1 s by default (docs/capacity.md; orchestration/runtime/stream_poller.py StreamMapping)."
  }

  assert {
    condition     = length(aws_lambda_event_source_mapping.this.function_response_types) == 1 && contains(aws_lambda_event_source_mapping.this.function_response_types, "ReportBatchItemFailures") && aws_lambda_event_source_mapping.this.bisect_batch_on_function_error
    error_message = "The mapping must honour the function's partial batch failures and bisect a batch on a function error."
  }

  assert {
    condition     = aws_lambda_event_source_mapping.this.maximum_retry_attempts == 10 && aws_lambda_event_source_mapping.this.maximum_record_age_in_seconds == 3600 && aws_lambda_event_source_mapping.this.parallelization_factor == 1
    error_message = "Retries must be bounded (10 attempts, records up to an hour old) and one batch per shard at a time by default."
  }

  assert {
    condition     = aws_lambda_event_source_mapping.this.destination_config[0].on_failure[0].destination_arn == aws_sqs_queue.this.arn && aws_lambda_event_source_mapping.this.event_source_arn == aws_kinesis_stream.this.arn
    error_message = "The mapping reads the stream and sends what it gives up on to the failures queue."
  }

  assert {
    condition     = aws_sqs_queue.this.kms_master_key_id == var.kms_key_arn && aws_sqs_queue.this.name == "mtx-dev-transaction-stream-failures"
    error_message = "The on-failure queue must be encrypted with the customer-managed key and named as the manifest names it."
  }

  assert {
    condition     = aws_iam_role_policy.this.role == var.function_role_name && length(aws_kinesis_stream_consumer.this) == 0
    error_message = "The read permissions go to the function's own role; no consumer without enhanced fan-out."
  }

  assert {
    condition     = alltrue([for s in data.aws_iam_policy_document.read_stream.statement : !contains(s.actions, "kinesis:SubscribeToShard") && !contains(s.resources, "*")])
    error_message = "Without enhanced fan-out the role may not SubscribeToShard, and no statement names every resource."
  }
}

run "enhanced_fan_out_reads_through_a_consumer" {
  command = apply

  variables {
    enhanced_fan_out = true
  }

  assert {
    condition     = length(aws_kinesis_stream_consumer.this) == 1 && aws_lambda_event_source_mapping.this.event_source_arn == aws_kinesis_stream_consumer.this[0].arn
    error_message = "With enhanced fan-out the mapping reads through the stream's consumer."
  }

  assert {
    condition     = anytrue([for s in data.aws_iam_policy_document.read_stream.statement : contains(s.actions, "kinesis:SubscribeToShard") && length(s.resources) == 1 && contains(s.resources, aws_kinesis_stream_consumer.this[0].arn)])
    error_message = "SubscribeToShard on the consumer alone."
  }
}

run "a_provisioned_stream_takes_its_shard_count" {
  command = plan

  variables {
    stream_mode = "PROVISIONED"
    shard_count = 100
  }

  assert {
    condition     = aws_kinesis_stream.this.shard_count == 100 && aws_kinesis_stream.this.stream_mode_details[0].stream_mode == "PROVISIONED"
    error_message = "A provisioned stream (a pre-warmed launch) has shard_count shards."
  }
}

run "post_events_may_only_put_records_into_this_stream" {
  command = apply

  variables {
    producer_role_name = "mtx-dev-put-events"
  }

  assert {
    condition     = aws_iam_role_policy.producer[0].role == "mtx-dev-put-events"
    error_message = "The put_events function's role gets the producer policy."
  }

  assert {
    condition     = length(data.aws_iam_policy_document.put_records.statement) == 2 && data.aws_iam_policy_document.put_records.statement[0].actions == toset(["kinesis:PutRecords"]) && data.aws_iam_policy_document.put_records.statement[0].resources == toset([aws_kinesis_stream.this.arn])
    error_message = "POST /events may call kinesis:PutRecords on this stream only."
  }

  assert {
    condition     = data.aws_iam_policy_document.put_records.statement[1].actions == toset(["kms:GenerateDataKey"]) && data.aws_iam_policy_document.put_records.statement[1].resources == toset([var.kms_key_arn])
    error_message = "POST /events may only generate data keys with the customer-managed key (no Decrypt)."
  }
}

run "no_producer_policy_without_a_producer_role" {
  command = plan

  assert {
    condition     = length(aws_iam_role_policy.producer) == 0
    error_message = "Without put_events no role may put records."
  }
}
