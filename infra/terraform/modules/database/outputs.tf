output "instance_identifier" {
  description = "Identifier of the RDS instance."
  value       = aws_db_instance.this.identifier
}

output "instance_address" {
  description = "Host name of the RDS instance (inside the VPC)."
  value       = aws_db_instance.this.address
}

output "instance_port" {
  description = "PostgreSQL port."
  value       = aws_db_instance.this.port
}

output "secret_name" {
  description = "Name of the compliance database secret (<name_prefix>/compliance-db)."
  value       = aws_secretsmanager_secret.this.name
}

output "secret_arn" {
  description = "ARN of the compliance database secret."
  value       = aws_secretsmanager_secret.this.arn
}
