output "secret_names" {
  description = "Secret name by role (compliance_migrator, compliance_writer, compliance_reader, warehouse_transformer, warehouse_reader)."
  value       = { for k, s in aws_secretsmanager_secret.this : k => s.name }
}

output "secret_arns" {
  description = "Secret ARN by role (the keys of secret_names)."
  value       = { for k, s in aws_secretsmanager_secret.this : k => s.arn }
}

output "migration_result" {
  description = "What the migration step answered on its last invocation (null when run_migrations is false)."
  value       = one(aws_lambda_invocation.this[*].result)
}
