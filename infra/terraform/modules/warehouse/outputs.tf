output "namespace_name" {
  description = "Name of the Redshift Serverless namespace."
  value       = aws_redshiftserverless_namespace.this.namespace_name
}

output "workgroup_name" {
  description = "Name of the Redshift Serverless workgroup."
  value       = aws_redshiftserverless_workgroup.this.workgroup_name
}

output "workgroup_arn" {
  description = "ARN of the Redshift Serverless workgroup."
  value       = aws_redshiftserverless_workgroup.this.arn
}

output "endpoint_address" {
  description = "Host name of the workgroup endpoint (inside the VPC)."
  value       = aws_redshiftserverless_workgroup.this.endpoint[0].address
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
  description = "ARN of the analysts role."
  value       = aws_iam_role.analysts.arn
}

output "copy_role_arn" {
  description = "ARN of the namespace's COPY role."
  value       = aws_iam_role.copy.arn
}
