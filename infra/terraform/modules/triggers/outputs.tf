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
