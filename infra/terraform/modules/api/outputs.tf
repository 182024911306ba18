output "rest_api_id" {
  description = "Id of the REST API."
  value       = aws_api_gateway_rest_api.this.id
}

output "rest_api_name" {
  description = "Name of the REST API (CloudWatch dimension ApiName)."
  value       = aws_api_gateway_rest_api.this.name
}

output "stage_name" {
  description = "Name of the deployed stage."
  value       = aws_api_gateway_stage.this.stage_name
}

output "invoke_url" {
  description = "POST <invoke_url>/transactions starts the transaction workflow; <invoke_url>/analytics... are the analytics routes."
  value       = aws_api_gateway_stage.this.invoke_url
}

output "producer_api_key_ids" {
  description = "Id of each producer's API key, by application id (producer_authorization = API_KEY; read a value with `aws apigateway get-api-key --api-key <id> --include-value`); empty with AWS_IAM."
  value       = { for id, key in aws_api_gateway_api_key.this : id => key.id }
}

output "producer_role_arns" {
  description = "ARN of each producer's role, by application id (producer_authorization = AWS_IAM: the producer signs POST /transactions with it); empty with API_KEY."
  value       = { for id, role in aws_iam_role.producer : id => role.arn }
}

output "analyst_role_arn" {
  description = "ARN of the API's analyst role (signs /health and /analytics* requests); null without analyst_principal_arns."
  value       = one(aws_iam_role.analyst[*].arn)
}
