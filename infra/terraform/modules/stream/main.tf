# The streaming entrance (issue 23; docs/stream-ingest.md): game servers put transactions into a Kinesis
# data stream (on-demand by default, encrypted with the customer-managed key), and a Lambda event source
# mapping hands them in batches to the ingest_stream function (module lambda), which stores them in bulk.
#
# The mapping: batches of up to batch_size records or maximum_batching_window_in_seconds, one batch per
# shard at a time (parallelization_factor), ReportBatchItemFailures (the function reports the records to
# retry; it reports the whole batch on a transient fault, see lambdas/ingest_stream/handler.py), a batch
# split in two on a function error (bisect), retried at most maximum_retry_attempts times and never past
# maximum_record_age_in_seconds; what is given up on is described (shard, sequence range, not the records)
# in an SQS queue (KMS, TLS only), while the records stay in the stream for its retention.
#
# The function's own role (module lambda) gets the stream's read permissions here, where the stream is.

locals {
  stream_name = "${var.name_prefix}-transaction-stream"
  # Enhanced fan-out: a dedicated consumer with its own 2 MiB/s per shard, read with SubscribeToShard.
  use_consumer = var.enhanced_fan_out
  source_arn   = local.use_consumer ? aws_kinesis_stream_consumer.this[0].arn : aws_kinesis_stream.this.arn
}

resource "aws_kinesis_stream" "this" {
  name             = local.stream_name
  shard_count      = var.stream_mode == "PROVISIONED" ? var.shard_count : null
  retention_period = var.retention_period_hours
  encryption_type  = "KMS"
  kms_key_id       = var.kms_key_arn

  stream_mode_details {
    stream_mode = var.stream_mode
  }
}

resource "aws_kinesis_stream_consumer" "this" {
  count = local.use_consumer ? 1 : 0

  name       = "${var.name_prefix}-ingest-stream"
  stream_arn = aws_kinesis_stream.this.arn
}

# The on-failure destination: one message per batch given up on (AWS's KinesisBatchInfo: shard, first and
# last sequence numbers, arrival times), no record data. 14 days, the most SQS keeps.
resource "aws_sqs_queue" "this" {
  name                              = "${local.stream_name}-failures"
  message_retention_seconds         = 1209600
  kms_master_key_id                 = var.kms_key_arn
  kms_data_key_reuse_period_seconds = 300
}

module "queue_secure_transport" {
  source = "../secure_transport"

  actions       = ["sqs:*"]
  resource_arns = [aws_sqs_queue.this.arn]
}

data "aws_iam_policy_document" "queue" {
  source_policy_documents = [module.queue_secure_transport.json]
}

resource "aws_sqs_queue_policy" "this" {
  queue_url = aws_sqs_queue.this.id
  policy    = data.aws_iam_policy_document.queue.json
}

# What the event source mapping does with the function's role (Lambda docs, "Process Amazon Kinesis Data
# Streams records with Lambda"): read the stream, decrypt its records, describe a failed batch in the queue.
data "aws_iam_policy_document" "read_stream" {
  statement {
    sid = "ReadTheStream"
    actions = [
      "kinesis:DescribeStream", "kinesis:DescribeStreamSummary", "kinesis:GetRecords",
      "kinesis:GetShardIterator", "kinesis:ListShards",
    ]
    resources = [aws_kinesis_stream.this.arn]
  }

  dynamic "statement" {
    for_each = local.use_consumer ? [aws_kinesis_stream_consumer.this[0].arn] : []
    content {
      sid       = "ReadThroughTheConsumer"
      actions   = ["kinesis:SubscribeToShard", "kinesis:DescribeStreamConsumer"]
      resources = [statement.value]
    }
  }

  statement {
    sid       = "DescribeFailedBatches"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.this.arn]
  }

  # the stream's records are encrypted with the key (Decrypt), and so is the queue (GenerateDataKey to send)
  statement {
    sid       = "UseTheDataKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.kms_key_arn]
  }
}

resource "aws_iam_role_policy" "this" {
  name   = "${local.stream_name}-read"
  role   = var.function_role_name
  policy = data.aws_iam_policy_document.read_stream.json
}

# What POST /events does with the put_events function's role (module api -> lambdas/put_events): one
# PutRecords call per request on this stream, its records encrypted with the key (GenerateDataKey: a
# producer of a KMS-encrypted stream needs no Decrypt).
data "aws_iam_policy_document" "put_records" {
  statement {
    sid       = "PutRecordsIntoTheStream"
    actions   = ["kinesis:PutRecords"]
    resources = [aws_kinesis_stream.this.arn]
  }

  statement {
    sid       = "EncryptTheRecords"
    actions   = ["kms:GenerateDataKey"]
    resources = [var.kms_key_arn]
  }
}

resource "aws_iam_role_policy" "producer" {
  count = var.producer_role_name == null ? 0 : 1

  name   = "${local.stream_name}-put"
  role   = var.producer_role_name
  policy = data.aws_iam_policy_document.put_records.json
}

resource "aws_lambda_event_source_mapping" "this" {
  event_source_arn                   = local.source_arn
  function_name                      = var.function_arn
  starting_position                  = var.starting_position
  batch_size                         = var.batch_size
  maximum_batching_window_in_seconds = var.maximum_batching_window_in_seconds
  parallelization_factor             = var.parallelization_factor
  function_response_types            = ["ReportBatchItemFailures"]
  bisect_batch_on_function_error     = true
  maximum_retry_attempts             = var.maximum_retry_attempts
  maximum_record_age_in_seconds      = var.maximum_record_age_in_seconds

  destination_config {
    on_failure {
      destination_arn = aws_sqs_queue.this.arn
    }
  }

  # the mapping is validated against the role when it is created
  depends_on = [aws_iam_role_policy.this]
}
