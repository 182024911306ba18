output "queue_name" {
  description = "Name of the dead-letter queue."
  value       = aws_sqs_queue.this.name
}

output "queue_url" {
  description = "URL of the dead-letter queue (the ASL placeholder dead_letter_queue_url)."
  value       = aws_sqs_queue.this.url
}

output "queue_arn" {
  description = "ARN of the dead-letter queue."
  value       = aws_sqs_queue.this.arn
}

output "topic_name" {
  description = "Name of the alert topic."
  value       = aws_sns_topic.this.name
}

output "topic_arn" {
  description = "ARN of the alert topic (the ASL placeholder alerts_topic_arn)."
  value       = aws_sns_topic.this.arn
}

output "redrive_role_arn" {
  description = "ARN of the redrive role (null when no redrive_principal_arns are named)."
  value       = one(aws_iam_role.this[*].arn)
}
