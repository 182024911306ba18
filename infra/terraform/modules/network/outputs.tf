output "vpc_id" {
  description = "Id of the VPC."
  value       = aws_vpc.this.id
}

output "vpc_cidr_block" {
  description = "CIDR block of the VPC."
  value       = aws_vpc.this.cidr_block
}

output "private_subnet_ids" {
  description = "Ids of the private subnets, one per availability zone."
  value       = aws_subnet.this[*].id
}

output "private_subnet_arns" {
  description = "ARNs of the private subnets."
  value       = aws_subnet.this[*].arn
}

output "private_subnet_azs" {
  description = "Availability zones of the private subnets, in subnet order."
  value       = aws_subnet.this[*].availability_zone
}

output "lambda_security_group_id" {
  description = "Security group of the Lambda functions."
  value       = aws_security_group.lambda.id
}

output "lambda_security_group_arn" {
  description = "ARN of the Lambda functions' security group."
  value       = aws_security_group.lambda.arn
}

output "migration_security_group_id" {
  description = "Security group of the deploy-time migration function (PostgreSQL straight to RDS)."
  value       = aws_security_group.migration.id
}

output "migration_security_group_arn" {
  description = "ARN of the migration function's security group (scope of ec2:CreateNetworkInterface)."
  value       = aws_security_group.migration.arn
}

output "database_proxy_security_group_id" {
  description = "Security group of the RDS Proxy (PostgreSQL from the Lambdas, to RDS)."
  value       = aws_security_group.database_proxy.id
}

output "database_security_group_id" {
  description = "Security group of the RDS instance."
  value       = aws_security_group.database.id
}

output "glue_security_group_id" {
  description = "Security group of the Glue connection."
  value       = aws_security_group.glue.id
}

output "warehouse_security_group_id" {
  description = "Security group of the Redshift Serverless workgroup."
  value       = aws_security_group.warehouse.id
}

output "s3_endpoint_id" {
  description = "Id of the S3 gateway endpoint."
  value       = aws_vpc_endpoint.s3.id
}
