# `terraform test` (offline: mocked provider) of the cost budget and the alarms added with it: the budget
# filters on the cost-allocation tag and tells the alerts topic at the threshold and on the forecast, no
# limit means no budget; each failure queue pages when not empty; the functions that raise rejects by
# design get no Errors alarm (it would page on every reject). Run by infra/scripts/tf_check.sh.

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
  function_names = {
    check_item       = "mtx-dev-check-item"
    store_compliance = "mtx-dev-store-compliance"
    store_analytics  = "mtx-dev-store-analytics"
  }
  glue_job_name                  = "mtx-dev-flatten-transactions"
  api_name                       = "mtx-dev-api"
  api_stage_name                 = "v1"
  monthly_budget_usd             = 250
  budget_alert_threshold_percent = 75
  cost_allocation_tag            = { key = "Project", value = "mtx" }
  failure_queue_names = {
    async-invocation-failures = "mtx-dev-async-invocation-failures"
    stream-failures           = "mtx-dev-transaction-stream-failures"
  }
}

run "the_budget_watches_the_project_tag_and_tells_the_alerts_topic" {
  command = plan

  assert {
    condition     = one(aws_budgets_budget.this[0].cost_filter).name == "TagKeyValue" && tolist(one(aws_budgets_budget.this[0].cost_filter).values) == tolist(["user:Project$mtx"])
    error_message = "The budget must filter on the project's cost-allocation tag (user:<key>$<value>)."
  }

  assert {
    condition     = aws_budgets_budget.this[0].limit_amount == "250.00" && aws_budgets_budget.this[0].time_unit == "MONTHLY"
    error_message = "The budget's limit is the monthly amount given."
  }

  assert {
    condition     = alltrue([for n in aws_budgets_budget.this[0].notification : n.subscriber_sns_topic_arns == toset(["arn:aws:sns:eu-west-1:123456789012:mtx-dev-alerts"])])
    error_message = "Every budget notification goes to the alerts topic."
  }

  assert {
    condition     = toset([for n in aws_budgets_budget.this[0].notification : "${n.notification_type}:${n.threshold}"]) == toset(["ACTUAL:75", "FORECASTED:100"])
    error_message = "The actual cost alerts at the threshold, the forecast at the limit."
  }
}

run "no_limit_no_budget" {
  command = plan

  variables {
    monthly_budget_usd = null
  }

  assert {
    condition     = length(aws_budgets_budget.this) == 0
    error_message = "Without a limit (envs/local) there is no budget."
  }
}

run "each_failure_queue_pages_when_not_empty" {
  command = plan

  assert {
    condition     = aws_cloudwatch_metric_alarm.failure_queue["stream-failures"].dimensions["QueueName"] == "mtx-dev-transaction-stream-failures" && aws_cloudwatch_metric_alarm.failure_queue["stream-failures"].threshold == 0
    error_message = "A stream batch past its retries must page."
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.failure_queue["async-invocation-failures"].alarm_name == "mtx-dev-async-invocation-failures-not-empty"
    error_message = "A failed invocation of the net or the sweeper must page."
  }
}

run "rejects_raised_by_design_do_not_page_as_function_errors" {
  command = plan

  assert {
    condition     = !contains(keys(aws_cloudwatch_metric_alarm.lambda), "check_item-errors") && contains(keys(aws_cloudwatch_metric_alarm.lambda), "check_item-throttles")
    error_message = "check_item raises the catalogue's rejects: no Errors alarm, its throttles still page."
  }

  assert {
    condition     = !contains(keys(aws_cloudwatch_metric_alarm.lambda), "store_compliance-errors") && contains(keys(aws_cloudwatch_metric_alarm.lambda), "store_compliance-throttles")
    error_message = "store_compliance raises the lifecycle's rejects: no Errors alarm, its throttles still page."
  }

  assert {
    condition     = contains(keys(aws_cloudwatch_metric_alarm.lambda), "store_analytics-errors")
    error_message = "Any other function's errors page."
  }
}
