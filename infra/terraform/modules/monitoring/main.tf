# Alarms on everything that means a transaction or a data product is at risk,
# all notifying the alert topic, and one dashboard.
#
# Failed executions are counted per error class: a metric filter on each workflow's log group reads the
# ExecutionFailed event (logged at every level but OFF, with include_execution_data = false too: the
# event keeps details.error, the Fail state's or the uncaught error's name, and no input or output) into
# <workflow>.ExecutionsFailed with the dimension Error. The transaction workflow ends the contract's
# rejects in the Fail DataValidationError (var.reject_error_names): those are graphed apart and never
# page. The alarm pages on AWS/States ExecutionsFailed (authoritative) minus the rejects counted from the
# logs, plus timed-out executions: a log line delivered late or lost makes a page, never a silence.

data "aws_region" "this" {}

locals {
  region = data.aws_region.this.name
  actions = {
    alarm = [var.alerts_topic_arn]
    ok    = [var.alerts_topic_arn]
  }

  # CloudWatch namespace of the per-error-class failure metrics (one per environment: a metric filter's
  # dimensions can only come from the log event, not name the environment).
  failures_namespace = "${var.failures_namespace}/${var.name_prefix}"
  failures_metric    = { for w in var.workflows : w => "${w}.ExecutionsFailed" }

  # Errors of a function that raises the contract's rejects by design would page on every reject: those
  # functions' unexpected failures page through their workflow's executions-failed alarm instead.
  lambda_alarms = merge([for short, name in var.function_names : {
    for metric in ["Errors", "Throttles"] : "${short}-${lower(metric)}" => { function = name, metric = metric }
    if !(metric == "Errors" && contains(var.functions_raising_rejects, short))
  }]...)
}

resource "aws_cloudwatch_metric_alarm" "dead_letter" {
  alarm_name          = "${var.name_prefix}-dead-letter-not-empty"
  alarm_description   = "Transactions are waiting in the dead-letter queue ${var.dead_letter_queue_name}: read their error, fix, then `mtx redrive`."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = var.dead_letter_queue_name }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions.alarm
  ok_actions          = local.actions.ok
}

resource "aws_cloudwatch_log_metric_filter" "this" {
  for_each = toset(var.workflows)

  name           = "${var.name_prefix}-${replace(each.key, "_", "-")}-failures-by-error"
  log_group_name = var.state_machine_log_group_names[each.key]
  pattern        = "{ $.type = \"ExecutionFailed\" }"

  metric_transformation {
    namespace  = local.failures_namespace
    name       = local.failures_metric[each.key]
    value      = "1"
    unit       = "Count"
    dimensions = { Error = "$.details.error" }
  }
}

resource "aws_cloudwatch_metric_alarm" "executions_failed" {
  for_each = toset(var.workflows)

  alarm_name          = "${var.name_prefix}-${replace(each.key, "_", "-")}-executions-failed"
  alarm_description   = "Executions of the ${each.key} workflow failed unexpectedly or timed out (the contract's rejects, errors ${join(", ", var.reject_error_names)}, are not counted: see ${local.failures_metric[each.key]} by Error in ${local.failures_namespace})."
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  evaluation_periods  = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions.alarm
  ok_actions          = local.actions.ok

  metric_query {
    id          = "unexpected"
    expression  = "FILL(failed, 0) - ${join(" - ", [for i, _ in var.reject_error_names : "FILL(reject${i}, 0)"])} + FILL(timed_out, 0)"
    label       = "failed unexpectedly or timed out"
    return_data = true
  }

  metric_query {
    id = "failed"
    metric {
      namespace   = "AWS/States"
      metric_name = "ExecutionsFailed"
      dimensions  = { StateMachineArn = var.state_machine_arns[each.key] }
      stat        = "Sum"
      period      = var.alarm_period_seconds
    }
  }

  dynamic "metric_query" {
    for_each = var.reject_error_names
    content {
      id = "reject${metric_query.key}"
      metric {
        namespace   = local.failures_namespace
        metric_name = local.failures_metric[each.key]
        dimensions  = { Error = metric_query.value }
        stat        = "Sum"
        period      = var.alarm_period_seconds
      }
    }
  }

  metric_query {
    id = "timed_out"
    metric {
      namespace   = "AWS/States"
      metric_name = "ExecutionsTimedOut"
      dimensions  = { StateMachineArn = var.state_machine_arns[each.key] }
      stat        = "Sum"
      period      = var.alarm_period_seconds
    }
  }

  depends_on = [aws_cloudwatch_log_metric_filter.this]
}

resource "aws_cloudwatch_metric_alarm" "lambda" {
  for_each = local.lambda_alarms

  alarm_name          = "${each.value.function}-${lower(each.value.metric)}"
  alarm_description   = "${each.value.metric} of the Lambda function ${each.value.function}."
  namespace           = "AWS/Lambda"
  metric_name         = each.value.metric
  dimensions          = { FunctionName = each.value.function }
  statistic           = "Sum"
  period              = var.alarm_period_seconds
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions.alarm
  ok_actions          = local.actions.ok
}

# Glue reports run failures as events; the rule's MatchedEvents metric is what the alarm watches.
resource "aws_cloudwatch_event_rule" "this" {
  name        = "${var.name_prefix}-glue-job-failed"
  description = "Runs of ${var.glue_job_name} that failed, timed out or errored"
  event_pattern = jsonencode({
    source      = ["aws.glue"]
    detail-type = ["Glue Job State Change"]
    detail = {
      jobName = [var.glue_job_name]
      state   = ["FAILED", "TIMEOUT", "ERROR"]
    }
  })
}

resource "aws_cloudwatch_metric_alarm" "glue_job_failed" {
  alarm_name          = "${var.name_prefix}-glue-job-failed"
  alarm_description   = "A run of the Glue job ${var.glue_job_name} failed, timed out or errored."
  namespace           = "AWS/Events"
  metric_name         = "MatchedEvents"
  dimensions          = { RuleName = aws_cloudwatch_event_rule.this.name }
  statistic           = "Sum"
  period              = var.alarm_period_seconds
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions.alarm
  ok_actions          = local.actions.ok
}

resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = var.name_prefix
  dashboard_body = jsonencode({ widgets = concat([
    {
      type = "metric", x = 0, y = 0, width = 12, height = 6
      properties = {
        title = "API: requests and errors", region = local.region, stat = "Sum", period = 300
        metrics = [
          ["AWS/ApiGateway", "Count", "ApiName", var.api_name, "Stage", var.api_stage_name],
          [".", "4XXError", ".", ".", ".", "."],
          [".", "5XXError", ".", ".", ".", "."],
        ]
      }
    },
    {
      type = "metric", x = 12, y = 0, width = 12, height = 6
      properties = {
        title = "Workflows: started / succeeded / failed (rejects included)", region = local.region, stat = "Sum", period = 300
        metrics = flatten([for w in var.workflows : [
          ["AWS/States", "ExecutionsStarted", "StateMachineArn", var.state_machine_arns[w], { label = "${w} started" }],
          [".", "ExecutionsSucceeded", ".", ".", { label = "${w} succeeded" }],
          [".", "ExecutionsFailed", ".", ".", { label = "${w} failed" }],
        ]])
      }
    },
    {
      type = "metric", x = 0, y = 18, width = 12, height = 6
      properties = {
        title = "Rejected by the contract (expected): ${join(", ", var.reject_error_names)}", region = local.region, stat = "Sum", period = 300
        metrics = flatten([for w in var.workflows : [
          for e in var.reject_error_names : [local.failures_namespace, local.failures_metric[w], "Error", e, { label = "${w} ${e}" }]
        ]])
      }
    },
    {
      type = "metric", x = 12, y = 18, width = 12, height = 6
      properties = {
        title = "Unexpected failures by error class", region = local.region, period = 300
        metrics = [for i, w in var.workflows : [{
          id         = "unexpected${i}"
          label      = "${w}"
          expression = "SEARCH('{${local.failures_namespace},Error} MetricName=\"${local.failures_metric[w]}\" ${join(" ", [for e in var.reject_error_names : "NOT Error=\"${e}\""])}', 'Sum', 300)"
        }]]
      }
    },
    {
      type = "metric", x = 0, y = 6, width = 12, height = 6
      properties = {
        title = "Lambda: errors and throttles", region = local.region, stat = "Sum", period = 300
        metrics = flatten([for short, name in var.function_names : [
          ["AWS/Lambda", "Errors", "FunctionName", name, { label = "${short} errors" }],
          [".", "Throttles", ".", ".", { label = "${short} throttles" }],
        ]])
      }
    },
    {
      type = "metric", x = 12, y = 6, width = 12, height = 6
      properties = {
        title   = "Lambda: p95 duration (ms)", region = local.region, stat = "p95", period = 300
        metrics = [for short, name in var.function_names : ["AWS/Lambda", "Duration", "FunctionName", name, { label = short }]]
      }
    },
    {
      type = "metric", x = 0, y = 12, width = 8, height = 6
      properties = {
        title   = "Dead-letter queue depth", region = local.region, stat = "Maximum", period = 60
        metrics = [["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", var.dead_letter_queue_name]]
      }
    },
    {
      type = "metric", x = 8, y = 12, width = 8, height = 6
      properties = {
        title = "Glue job failures", region = local.region, stat = "Sum", period = 3600
        metrics = [
          ["AWS/Events", "MatchedEvents", "RuleName", aws_cloudwatch_event_rule.this.name, { label = "Glue job failures" }],
        ]
      }
    },
    ],
    # the RDS widget only where this stack has an RDS instance
    [for id in compact([var.db_instance_identifier]) : {
      type = "metric", x = 16, y = 12, width = 8, height = 6
      properties = {
        title = "Compliance database", region = local.region, stat = "Average", period = 300
        metrics = [
          ["AWS/RDS", "CPUUtilization", "DBInstanceIdentifier", id],
          [".", "DatabaseConnections", ".", "."],
        ]
      }
    }],
    local.business_widget_bodies,
  ) })
}
