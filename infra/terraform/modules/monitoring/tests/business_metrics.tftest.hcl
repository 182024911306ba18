# `terraform test` (offline: mocked provider) of the business metrics read from metrics.json (written from
# lambdas/common/metrics.py): each catalogued alarm exists on the Environment dimension with its runbook,
# a stale-marts silence pages, the dead-letter age alarm exists, and every catalogued metric is on the dashboard.

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
  workflows              = ["transaction"]
  state_machine_arns     = { transaction = "arn:aws:states:eu-west-1:123456789012:stateMachine:mtx-dev-transaction" }
  state_machine_log_group_names = {
    transaction = "/aws/vendedlogs/states/mtx-dev-transaction"
  }
  function_names = { store_compliance = "mtx-dev-store-compliance" }
  glue_job_name  = "mtx-dev-flatten-transactions"
  api_name       = "mtx-dev-api"
  api_stage_name = "v1"
}

run "every_catalogued_alarm_pages_on_its_metric_with_a_runbook" {
  command = plan

  assert {
    condition     = length(aws_cloudwatch_metric_alarm.business) == length([for m in jsondecode(file("metrics.json")).metrics : m if m.alarm != null])
    error_message = "Every metric with an alarm in the catalogue must have one."
  }

  assert {
    condition     = alltrue([for a in aws_cloudwatch_metric_alarm.business : a.dimensions["Environment"] == "mtx-dev" && strcontains(a.alarm_description, "Runbook: ")])
    error_message = "Business alarms watch this environment's metrics and carry their runbook line."
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.business["data-checks-failed"].metric_name == "DataChecksFailed"
    error_message = "A failed data check must page."
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.business["marts-stale"].treat_missing_data == "breaching"
    error_message = "No freshness reported in a day (no refresh ran) must page."
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.dead_letter_age.metric_name == "ApproximateAgeOfOldestMessage" && aws_cloudwatch_metric_alarm.dead_letter_age.threshold == 86400
    error_message = "A dead letter left for a day must page."
  }
}

run "every_catalogued_metric_is_on_the_dashboard" {
  command = plan

  assert {
    condition = alltrue([
      for m in jsondecode(file("metrics.json")).metrics : strcontains(aws_cloudwatch_dashboard.this.dashboard_body, "MetricName=\\\"${m.name}\\\"")
    ])
    error_message = "Every catalogued metric must be drawn on the dashboard."
  }
}
