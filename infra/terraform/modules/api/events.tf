# --- POST /events: up to 500 transactions into the Kinesis stream (docs/stream-ingest.md) ---------------
# A Lambda proxy integration to put_events (lambdas/put_events), which cuts each record out of the body as
# the producer sent it, refuses by name what the stream's handler could not name later (over 8 KiB, not a
# JSON object), calls PutRecords once (partition key: the transactionId) and answers per record (accepted,
# refused, failed: send again). Not an AWS service integration with a mapping template: a template cannot
# answer per record with a named reason, and the local API could not run it as it runs in AWS.
# Callers: the producers, exactly as on POST /transactions (same authorization, same keys or roles, same
# usage plan and throttles, same resource-policy statements: local.producer_route_arns).

locals {
  enable_events = var.events_function_name != null
  events_arn    = "${aws_api_gateway_rest_api.this.execution_arn}/${var.stage_name}/POST/events"
  # Every route a producer may call (its key, its role, the resource policy).
  producer_route_arns = concat([local.transactions_arn], local.enable_events ? [local.events_arn] : [])
}

resource "aws_api_gateway_resource" "events" {
  count = local.enable_events ? 1 : 0

  rest_api_id = aws_api_gateway_rest_api.this.id
  parent_id   = aws_api_gateway_rest_api.this.root_resource_id
  path_part   = "events"
}

resource "aws_api_gateway_method" "events" {
  count = local.enable_events ? 1 : 0

  # checkov:skip=CKV2_AWS_53: the body is read by put_events, which names each record's broken rule; a request model would answer one generic 400 for the whole request
  rest_api_id      = aws_api_gateway_rest_api.this.id
  resource_id      = aws_api_gateway_resource.events[0].id
  http_method      = "POST"
  authorization    = aws_api_gateway_method.this.authorization # as POST /transactions: the producer's role or key
  api_key_required = local.api_key_required
}

resource "aws_api_gateway_integration" "events" {
  count = local.enable_events ? 1 : 0

  rest_api_id             = aws_api_gateway_rest_api.this.id
  resource_id             = aws_api_gateway_resource.events[0].id
  http_method             = aws_api_gateway_method.events[0].http_method
  type                    = "AWS_PROXY"
  integration_http_method = "POST" # Lambda is always invoked with POST
  uri                     = var.events_function_invoke_arn
}

# API Gateway may invoke put_events for POST /events of this API's stage only.
resource "aws_lambda_permission" "events" {
  count = local.enable_events ? 1 : 0

  statement_id  = "AllowApiGateway-events"
  action        = "lambda:InvokeFunction"
  function_name = var.events_function_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = local.events_arn
}
