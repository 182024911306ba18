output "instance_identifier" {
  description = "Identifier of the RDS instance (null with external_connection)."
  value       = one(aws_db_instance.this[*].identifier)
}

output "instance_address" {
  description = "Host name of the database: the RDS instance (inside the VPC) or external_connection's host."
  value       = local.create ? aws_db_instance.this[0].address : var.external_connection.host
}

output "instance_port" {
  description = "PostgreSQL port."
  value       = local.create ? aws_db_instance.this[0].port : var.external_connection.port
}

output "secret_name" {
  description = "Name of the compliance database secret (<name_prefix>/compliance-db)."
  value       = aws_secretsmanager_secret.this.name
}

output "secret_arn" {
  description = "ARN of the compliance database secret."
  value       = aws_secretsmanager_secret.this.arn
}

output "max_connections" {
  description = "max_connections of the instance (the RDS Proxy pool is a share of it)."
  value       = var.max_connections
}
