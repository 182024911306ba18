# What the environment costs: an AWS Budgets cost budget over everything carrying the project's
# cost-allocation tag (the env roots' provider default_tags put it on every resource; activate the tag
# once in Billing > Cost allocation tags), alerting the alerts topic when the month's actual cost passes
# var.budget_alert_threshold_percent of the limit and when the forecast passes the limit. The topic's
# policy and the key that encrypts it let budgets.amazonaws.com publish (modules/messaging, modules/kms).
# Values of a TagKeyValue filter are OR-ed: keep dev and prod in separate accounts (allowed_account_ids),
# or each budget counts both. No limit (null, envs/local): no budget.

resource "aws_budgets_budget" "this" {
  count = var.monthly_budget_usd == null ? 0 : 1

  name         = "${var.name_prefix}-monthly-cost"
  budget_type  = "COST"
  limit_amount = format("%.2f", var.monthly_budget_usd)
  limit_unit   = "USD"
  time_unit    = "MONTHLY"

  cost_filter {
    name   = "TagKeyValue"
    values = [format("user:%s$%s", var.cost_allocation_tag.key, var.cost_allocation_tag.value)]
  }

  notification {
    comparison_operator       = "GREATER_THAN"
    threshold                 = var.budget_alert_threshold_percent
    threshold_type            = "PERCENTAGE"
    notification_type         = "ACTUAL"
    subscriber_sns_topic_arns = [var.alerts_topic_arn]
  }

  notification {
    comparison_operator       = "GREATER_THAN"
    threshold                 = 100
    threshold_type            = "PERCENTAGE"
    notification_type         = "FORECASTED"
    subscriber_sns_topic_arns = [var.alerts_topic_arn]
  }
}
