# The business metrics, from one definition: metrics.json is written from lambdas/common/metrics.py (the
# catalogue the handlers emit through; infra/scripts/monitoring_definition.py, drift-tested). Every
# catalogued metric is drawn in its widget; every metric with an alarm in the catalogue gets it here,
# its runbook line in the description (docs/runbook.md lists them all).

locals {
  business           = jsondecode(file("${path.module}/metrics.json"))
  business_namespace = local.business.namespace
  business_widgets   = distinct([for m in local.business.metrics : m.widget])
  business_alarms    = { for m in local.business.metrics : m.alarm.name => m if m.alarm != null }

  # One SEARCH per metric, over whatever values its dimensions take (entrances, reasons...).
  business_widget_bodies = [for i, title in local.business_widgets : {
    type = "metric", x = (i % 2) * 12, y = 24 + floor(i / 2) * 6, width = 12, height = 6
    properties = {
      title = title, region = local.region, period = 300
      metrics = [for j, m in [for m in local.business.metrics : m if m.widget == title] : [{
        id         = "b${i}_${j}"
        label      = m.name
        expression = "SEARCH('{${local.business_namespace},${join(",", concat(["Environment"], m.dimensions))}} MetricName=\"${m.name}\" Environment=\"${var.name_prefix}\"', '${m.statistic}', 300)"
      }]]
    }
  }]
}

resource "aws_cloudwatch_metric_alarm" "business" {
  for_each = local.business_alarms

  alarm_name          = "${var.name_prefix}-${each.key}"
  alarm_description   = "${each.value.alarm.description} Runbook: ${each.value.alarm.runbook}"
  namespace           = local.business_namespace
  metric_name         = each.value.name
  dimensions          = { Environment = var.name_prefix }
  statistic           = each.value.alarm.statistic
  period              = each.value.alarm.period_seconds
  evaluation_periods  = 1
  comparison_operator = each.value.alarm.comparison
  threshold           = each.value.alarm.threshold
  treat_missing_data  = each.value.alarm.missing
  alarm_actions       = local.actions.alarm
  ok_actions          = local.actions.ok
}

# A dead letter nobody has read for a day: the depth alarm fired and was not acted on.
resource "aws_cloudwatch_metric_alarm" "dead_letter_age" {
  alarm_name          = "${var.name_prefix}-dead-letter-older-than-a-day"
  alarm_description   = "The oldest dead letter in ${var.dead_letter_queue_name} is over a day old (SQS keeps 14 days; the archive moves letters at 10). Runbook: `mtx dlq list`, fix the cause, `mtx redrive`."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateAgeOfOldestMessage"
  dimensions          = { QueueName = var.dead_letter_queue_name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 86400
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions.alarm
  ok_actions          = local.actions.ok
}

# The other queues where something the pipeline owes lands when every retry failed: an asynchronous
# invocation of the net or the sweeper (Lambda's on-failure queue), a stream batch past its retries (the
# event source mapping's on-failure destination), a file event EventBridge could not deliver. Any message
# there is a transaction, an execution or a file not yet settled: it pages.
resource "aws_cloudwatch_metric_alarm" "failure_queue" {
  for_each = var.failure_queue_names

  alarm_name          = "${var.name_prefix}-${each.key}-not-empty"
  alarm_description   = "Messages are waiting in ${each.value}: something failed past every retry and is not settled. Runbook: docs/runbook.md, ${each.key}-not-empty."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = each.value }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions.alarm
  ok_actions          = local.actions.ok
}
