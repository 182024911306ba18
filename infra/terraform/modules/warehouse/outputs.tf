output "namespace_name" {
  description = "Name of the Redshift Serverless namespace (null with external_connection)."
  value       = one(aws_redshiftserverless_namespace.this[*].namespace_name)
}

output "workgroup_name" {
  description = "Name of the Redshift Serverless workgroup (null with external_connection)."
  value       = one(aws_redshiftserverless_workgroup.this[*].workgroup_name)
}

output "workgroup_arn" {
  description = "ARN of the Redshift Serverless workgroup (null with external_connection)."
  value       = one(aws_redshiftserverless_workgroup.this[*].arn)
}

output "endpoint_address" {
  description = "Host name of the warehouse: the workgroup endpoint (inside the VPC) or external_connection's host."
  value       = local.create ? aws_redshiftserverless_workgroup.this[0].endpoint[0].address : var.external_connection.host
}

output "secret_name" {
  description = "Name of the warehouse secret (<name_prefix>/warehouse-db)."
  value       = aws_secretsmanager_secret.this.name
}

output "secret_arn" {
  description = "ARN of the warehouse secret."
  value       = aws_secretsmanager_secret.this.arn
}

output "analysts_role_arn" {
  description = "ARN of the analysts role (null without analyst_principal_arns, or with external_connection: analysts query the local PostgreSQL)."
  value       = one(aws_iam_role.analysts[*].arn)
}

output "copy_role_arn" {
  description = "ARN of the namespace's COPY role."
  value       = aws_iam_role.copy.arn
}
