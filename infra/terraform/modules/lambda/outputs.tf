output "function_names" {
  description = "Function names by short name (infra/functions.json)."
  value       = { for k, f in aws_lambda_function.this : k => f.function_name }
}

output "function_arns" {
  description = "Function ARNs by short name; the ASL placeholders <short>_function_arn."
  value       = { for k, f in aws_lambda_function.this : k => f.arn }
}

output "invoke_arns" {
  description = "Invoke ARNs by short name (the URI of an API Gateway Lambda proxy integration)."
  value       = { for k, f in aws_lambda_function.this : k => f.invoke_arn }
}

output "role_arns" {
  description = "Execution role ARNs by short name."
  value       = { for k, r in aws_iam_role.this : k => r.arn }
}

output "layer_arn" {
  description = "ARN of the dependencies layer version."
  value       = aws_lambda_layer_version.this.arn
}

output "analytics_image_repository_url" {
  description = "URL of the ECR repository for the analytics image (build_marts, run_data_checks); null when not created."
  value       = var.create_image_repository ? aws_ecr_repository.this[0].repository_url : null
}

output "dead_letter_sender_role_arns" {
  description = "Execution roles of the functions that send to the dead-letter queue (derived from their permissions)."
  value       = [for short in local.dead_letter_senders : aws_iam_role.this[short].arn]
}

output "database_function_names" {
  description = "The functions that log in to the compliance database as a runtime role (through the RDS Proxy), by short name."
  value       = local.database_functions
}

output "database_connections_at_most" {
  description = "Compliance connections the database functions can hold at once: their reserved concurrency x one connection per container."
  value       = local.database_connections_at_most
}

output "async_failures_queue_arn" {
  description = "ARN of the queue keeping asynchronous invocations (the net, the sweeper) that failed past Lambda's retries, and events EventBridge could not deliver to them."
  value       = aws_sqs_queue.this.arn
}

output "database_reserved_concurrency" {
  description = "Reserved concurrent executions of each function that logs in to the compliance database (infra/functions.json, or var.database_reserved_concurrency)."
  value       = local.database_reserved_concurrency
}
