output "stream_name" {
  description = "Name of the Kinesis stream producers put transactions into (PutRecords, partition key transactionId)."
  value       = aws_kinesis_stream.this.name
}

output "stream_arn" {
  description = "ARN of the Kinesis stream (a producer's kinesis:PutRecords resource)."
  value       = aws_kinesis_stream.this.arn
}

output "failures_queue_arn" {
  description = "ARN of the event source mapping's on-failure destination (the batches given up on, described, not their records)."
  value       = aws_sqs_queue.this.arn
}

output "failures_queue_url" {
  description = "URL of the on-failure queue."
  value       = aws_sqs_queue.this.id
}

output "event_source_mapping_uuid" {
  description = "UUID of the event source mapping (aws lambda get-event-source-mapping)."
  value       = aws_lambda_event_source_mapping.this.uuid
}
