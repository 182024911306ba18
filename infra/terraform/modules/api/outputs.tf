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

output "api_key_id" {
  description = "Id of the game servers' API key (read its value with `aws apigateway get-api-key --api-key <id> --include-value`); null with AWS_IAM."
  value       = one(aws_api_gateway_api_key.this[*].id)
}
