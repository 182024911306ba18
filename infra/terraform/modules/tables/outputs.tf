output "table_names" {
  description = "Table names by role (item_catalogue, analytics, execution_status, batch_runs, analytics_cache, analytics_jobs, execution_dead_letters, players, realtime_aggregates)."
  value       = { for k, t in aws_dynamodb_table.this : k => t.name }
}

output "table_arns" {
  description = "Table ARNs by role."
  value       = { for k, t in aws_dynamodb_table.this : k => t.arn }
}
