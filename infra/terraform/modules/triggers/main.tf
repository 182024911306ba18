# What starts the Standard workflows (and what watches them): an EventBridge rule for new objects under
# incoming/ of the raw bucket (batch_ingest; the execution input is the S3
# "Object Created" event: detail.bucket.name, detail.object.key) and an
# EventBridge Scheduler schedule (analytics_refresh). Each exists only when its
# workflow's ASL file does. Then the safety nets: a rule on failed Standard executions
# (the last-resort net) and a scheduled rule running the PENDING sweeper.

data "aws_caller_identity" "this" {}

locals {
  account_id = data.aws_caller_identity.this.account_id
}

# --- batch ingest: S3 incoming/ -> EventBridge -> Step Functions ----------------------

resource "aws_cloudwatch_event_rule" "this" {
  count = var.enable_batch_ingest ? 1 : 0

  name        = "${var.name_prefix}-raw-incoming"
  description = "New batch files under s3://${var.raw_bucket_name}/incoming/ start the batch_ingest workflow"
  event_pattern = jsonencode({
    source      = ["aws.s3"]
    detail-type = ["Object Created"]
    detail = {
      bucket = { name = [var.raw_bucket_name] }
      object = { key = [{ prefix = "incoming/" }] }
    }
  })
}

data "aws_iam_policy_document" "events_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

data "aws_iam_policy_document" "start_batch_ingest" {
  count = var.enable_batch_ingest ? 1 : 0

  statement {
    sid       = "StartBatchIngest"
    actions   = ["states:StartExecution"]
    resources = [var.batch_ingest_state_machine_arn]
  }
}

resource "aws_iam_role" "events" {
  count = var.enable_batch_ingest ? 1 : 0

  name               = "${var.name_prefix}-raw-incoming-events"
  description        = "EventBridge starts the batch_ingest workflow"
  assume_role_policy = data.aws_iam_policy_document.events_assume.json
}

resource "aws_iam_role_policy" "events" {
  count = var.enable_batch_ingest ? 1 : 0

  name   = "start-batch-ingest"
  role   = aws_iam_role.events[0].id
  policy = data.aws_iam_policy_document.start_batch_ingest[0].json
}

resource "aws_cloudwatch_event_target" "this" {
  count = var.enable_batch_ingest ? 1 : 0

  rule     = aws_cloudwatch_event_rule.this[0].name
  arn      = var.batch_ingest_state_machine_arn
  role_arn = aws_iam_role.events[0].arn

  retry_policy {
    maximum_event_age_in_seconds = 3600
    maximum_retry_attempts       = 10
  }

  # an event EventBridge could not deliver within the retry policy (the workflow throttled, the role
  # broken) is kept, not dropped: the file would otherwise sit in incoming/ with no run
  dead_letter_config {
    arn = aws_sqs_queue.this[0].arn
  }

  lifecycle {
    precondition {
      condition     = var.batch_ingest_state_machine_arn != null
      error_message = "enable_batch_ingest needs batch_ingest_state_machine_arn."
    }
  }
}

# --- file events EventBridge could not deliver: a queue of their own ---------------------

resource "aws_sqs_queue" "this" {
  count = var.enable_batch_ingest ? 1 : 0

  name                              = "${var.name_prefix}-raw-incoming-undelivered"
  message_retention_seconds         = 1209600 # 14 days, the most SQS keeps
  kms_master_key_id                 = var.kms_key_arn
  kms_data_key_reuse_period_seconds = 300
}

module "secure_transport" {
  source = "../secure_transport"
  count  = var.enable_batch_ingest ? 1 : 0

  actions       = ["sqs:*"]
  resource_arns = [aws_sqs_queue.this[0].arn]
}

data "aws_iam_policy_document" "undelivered" {
  count = var.enable_batch_ingest ? 1 : 0

  source_policy_documents = [module.secure_transport[0].json]

  statement {
    sid       = "TheRawIncomingRuleOnly"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.this[0].arn]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_cloudwatch_event_rule.this[0].arn]
    }
  }
}

resource "aws_sqs_queue_policy" "this" {
  count = var.enable_batch_ingest ? 1 : 0

  queue_url = aws_sqs_queue.this[0].id
  policy    = data.aws_iam_policy_document.undelivered[0].json
}

# --- analytics refresh: schedule -> Step Functions --------------------------------------

data "aws_iam_policy_document" "scheduler_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["scheduler.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

data "aws_iam_policy_document" "start_analytics_refresh" {
  count = var.enable_analytics_refresh ? 1 : 0

  statement {
    sid       = "StartAnalyticsRefresh"
    actions   = ["states:StartExecution"]
    resources = [var.analytics_refresh_state_machine_arn]
  }

  statement {
    sid       = "DecryptScheduleInput"
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]
  }
}

resource "aws_iam_role" "scheduler" {
  count = var.enable_analytics_refresh ? 1 : 0

  name               = "${var.name_prefix}-analytics-refresh-schedule"
  description        = "EventBridge Scheduler starts the analytics_refresh workflow"
  assume_role_policy = data.aws_iam_policy_document.scheduler_assume.json
}

resource "aws_iam_role_policy" "scheduler" {
  count = var.enable_analytics_refresh ? 1 : 0

  name   = "start-analytics-refresh"
  role   = aws_iam_role.scheduler[0].id
  policy = data.aws_iam_policy_document.start_analytics_refresh[0].json
}

resource "aws_scheduler_schedule" "this" {
  count = var.enable_analytics_refresh ? 1 : 0

  name                         = "${var.name_prefix}-analytics-refresh"
  description                  = "Starts the analytics_refresh workflow"
  schedule_expression          = var.analytics_refresh_schedule
  schedule_expression_timezone = "UTC"
  kms_key_arn                  = var.kms_key_arn

  flexible_time_window {
    mode = "OFF"
  }

  target {
    arn      = var.analytics_refresh_state_machine_arn
    role_arn = aws_iam_role.scheduler[0].arn
    # The refresh reads $.from_date, $.to_date and $.backfill (nulls: the new-partitions run);
    # a missing field would fail the FlattenTransactions step with States.Runtime.
    input = jsonencode({ from_date = null, to_date = null, backfill = false })

    retry_policy {
      maximum_event_age_in_seconds = 3600
      maximum_retry_attempts       = 3
    }
  }

  lifecycle {
    precondition {
      condition     = var.analytics_refresh_state_machine_arn != null
      error_message = "enable_analytics_refresh needs analytics_refresh_state_machine_arn."
    }
  }
}

# --- the last-resort net: failed Standard executions -> dead_letter_failed_execution ----------------
# Express workflows (the transaction workflow) emit no status events: the sweeper below covers them.

resource "aws_cloudwatch_event_rule" "failed_executions" {
  name        = "${var.name_prefix}-failed-executions"
  description = "Executions of the Standard workflows that ended FAILED, TIMED_OUT or ABORTED: their input goes to the dead-letter queue unless the workflow put it there"
  event_pattern = jsonencode({
    source      = ["aws.states"]
    detail-type = ["Step Functions Execution Status Change"]
    detail = {
      status          = ["FAILED", "TIMED_OUT", "ABORTED"]
      stateMachineArn = sort(var.watched_state_machine_arns)
    }
  })
}

resource "aws_cloudwatch_event_target" "failed_executions" {
  rule = aws_cloudwatch_event_rule.failed_executions.name
  arn  = var.net_function_arn

  retry_policy {
    maximum_event_age_in_seconds = 3600
    maximum_retry_attempts       = 10
  }

  dead_letter_config {
    arn = var.async_failures_queue_arn
  }
}

resource "aws_lambda_permission" "failed_executions" {
  statement_id  = "FailedExecutionsRule"
  action        = "lambda:InvokeFunction"
  function_name = var.net_function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.failed_executions.arn
}

# --- the PENDING sweeper: every N minutes -> sweep_pending -------------------------------------------
# A scheduled rule (not EventBridge Scheduler) so that the local runtime runs it by the same name
# (orchestration/runtime/resources.py sweep_pending_rule_name, orchestration/runtime/triggers.py ScheduledRules).

resource "aws_cloudwatch_event_rule" "sweep_pending" {
  name                = "${var.name_prefix}-sweep-pending"
  description         = "Reconciles transactions and batch runs left PENDING past the sweeper's age"
  schedule_expression = var.sweep_pending_schedule
}

resource "aws_cloudwatch_event_target" "sweep_pending" {
  rule = aws_cloudwatch_event_rule.sweep_pending.name
  arn  = var.sweep_function_arn

  retry_policy {
    maximum_event_age_in_seconds = 600
    maximum_retry_attempts       = 3
  }

  dead_letter_config {
    arn = var.async_failures_queue_arn
  }
}

resource "aws_lambda_permission" "sweep_pending" {
  statement_id  = "SweepPendingSchedule"
  action        = "lambda:InvokeFunction"
  function_name = var.sweep_function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.sweep_pending.arn
}
