output "dashboard_name" {
  description = "Name of the CloudWatch dashboard."
  value       = aws_cloudwatch_dashboard.this.dashboard_name
}

output "alarm_names" {
  description = "Names of every alarm."
  value = concat(
    [aws_cloudwatch_metric_alarm.dead_letter.alarm_name, aws_cloudwatch_metric_alarm.dead_letter_age.alarm_name, aws_cloudwatch_metric_alarm.glue_job_failed.alarm_name],
    [for a in aws_cloudwatch_metric_alarm.business : a.alarm_name],
    [for a in aws_cloudwatch_metric_alarm.failure_queue : a.alarm_name],
    [for a in aws_cloudwatch_metric_alarm.executions_failed : a.alarm_name],
    [for a in aws_cloudwatch_metric_alarm.lambda : a.alarm_name],
  )
}

output "failure_metrics" {
  description = "Per workflow: the namespace and metric name of its failed executions by error class (dimension Error)."
  value       = { for w in var.workflows : w => { namespace = local.failures_namespace, metric_name = local.failures_metric[w] } }
}

output "budget_name" {
  description = "Name of the monthly cost budget (null where there is none)."
  value       = one(aws_budgets_budget.this[*].name)
}
