output "raw_incoming_rule_arn" {
  description = "ARN of the EventBridge rule for incoming/ objects; null when batch_ingest is not deployed."
  value       = one(aws_cloudwatch_event_rule.this[*].arn)
}

output "analytics_refresh_schedule_arn" {
  description = "ARN of the analytics refresh schedule; null when analytics_refresh is not deployed."
  value       = one(aws_scheduler_schedule.this[*].arn)
}

output "raw_incoming_undelivered_queue_url" {
  description = "URL of the queue holding file events EventBridge could not deliver to batch_ingest; null when batch_ingest is not deployed."
  value       = one(aws_sqs_queue.this[*].url)
}

output "failed_executions_rule_arn" {
  description = "ARN of the last-resort net's rule on failed, timed-out and aborted executions."
  value       = aws_cloudwatch_event_rule.failed_executions.arn
}

output "sweep_pending_rule_arn" {
  description = "ARN of the PENDING sweeper's schedule rule."
  value       = aws_cloudwatch_event_rule.sweep_pending.arn
}
