# REST API: POST /transactions starts the transaction workflow (Step Functions
# StartExecution, direct service integration). The body is validated by API
# Gateway against a model derived from contracts/transaction.schema.json before
# anything runs; throttling on the stage and per API key; WAF in front.
# The analytics routes (GET /health, GET /analytics, POST /analytics/jobs,
# GET /analytics/jobs/{jobId}) are Lambda proxy integrations to analytics_api,
# behind the same authorization, API key and throttling. The HTTP surface is
# documented in orchestration/openapi.json (a test keeps the two equal).

data "aws_region" "this" {}
data "aws_caller_identity" "this" {}

locals {
  region = data.aws_region.this.name

  # API Gateway models are JSON Schema draft 4: the contract's $defs become definitions.
  contract_schema = jsondecode(replace(file(var.schema_path), "#/$defs/", "#/definitions/"))
  request_schema = merge(
    { for k, v in local.contract_schema : k => v if !contains(["$defs", "$schema", "$id"], k) },
    { "$schema" = "http://json-schema.org/draft-04/schema#", definitions = local.contract_schema["$defs"] },
  )

  api_key_required = var.authorization == "API_KEY"

  # The analytics routes: Lambda proxy integrations to analytics_api.
  analytics_routes = {
    health     = { method = "GET", path = "/health" }
    analytics  = { method = "GET", path = "/analytics" }
    submit_job = { method = "POST", path = "/analytics/jobs" }
    get_job    = { method = "GET", path = "/analytics/jobs/{jobId}" }
  }
  resource_ids = {
    "/health"                 = aws_api_gateway_resource.health.id
    "/analytics"              = aws_api_gateway_resource.analytics.id
    "/analytics/jobs"         = aws_api_gateway_resource.analytics_jobs.id
    "/analytics/jobs/{jobId}" = aws_api_gateway_resource.analytics_job.id
  }
}

resource "aws_api_gateway_rest_api" "this" {
  name        = "${var.name_prefix}-api"
  description = "MTX pipeline: POST /transactions starts the transaction workflow; /analytics queries the warehouse"

  endpoint_configuration {
    types = ["REGIONAL"]
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_api_gateway_model" "this" {
  rest_api_id  = aws_api_gateway_rest_api.this.id
  name         = "Transaction"
  description  = "The transaction contract (contracts/transaction.schema.json), as JSON Schema draft 4"
  content_type = "application/json"
  schema       = jsonencode(local.request_schema)
}

resource "aws_api_gateway_request_validator" "this" {
  rest_api_id                 = aws_api_gateway_rest_api.this.id
  name                        = "body-and-parameters"
  validate_request_body       = true
  validate_request_parameters = true
}

resource "aws_api_gateway_resource" "this" {
  rest_api_id = aws_api_gateway_rest_api.this.id
  parent_id   = aws_api_gateway_rest_api.this.root_resource_id
  path_part   = "transactions"
}

resource "aws_api_gateway_method" "this" {
  rest_api_id          = aws_api_gateway_rest_api.this.id
  resource_id          = aws_api_gateway_resource.this.id
  http_method          = "POST"
  authorization        = var.authorization == "AWS_IAM" ? "AWS_IAM" : "NONE"
  api_key_required     = local.api_key_required
  request_validator_id = aws_api_gateway_request_validator.this.id
  request_models = {
    "application/json" = aws_api_gateway_model.this.name
  }
}

# --- analytics routes: Lambda proxy integrations to analytics_api ----------------------

resource "aws_api_gateway_resource" "health" {
  rest_api_id = aws_api_gateway_rest_api.this.id
  parent_id   = aws_api_gateway_rest_api.this.root_resource_id
  path_part   = "health"
}

resource "aws_api_gateway_resource" "analytics" {
  rest_api_id = aws_api_gateway_rest_api.this.id
  parent_id   = aws_api_gateway_rest_api.this.root_resource_id
  path_part   = "analytics"
}

resource "aws_api_gateway_resource" "analytics_jobs" {
  rest_api_id = aws_api_gateway_rest_api.this.id
  parent_id   = aws_api_gateway_resource.analytics.id
  path_part   = "jobs"
}

resource "aws_api_gateway_resource" "analytics_job" {
  rest_api_id = aws_api_gateway_rest_api.this.id
  parent_id   = aws_api_gateway_resource.analytics_jobs.id
  path_part   = "{jobId}"
}

resource "aws_api_gateway_method" "analytics" {
  for_each = local.analytics_routes

  rest_api_id          = aws_api_gateway_rest_api.this.id
  resource_id          = local.resource_ids[each.value.path]
  http_method          = each.value.method
  authorization        = var.authorization == "AWS_IAM" ? "AWS_IAM" : "NONE"
  api_key_required     = local.api_key_required
  request_validator_id = aws_api_gateway_request_validator.this.id
  request_parameters   = strcontains(each.value.path, "{jobId}") ? { "method.request.path.jobId" = true } : {}
}

resource "aws_api_gateway_integration" "analytics" {
  for_each = local.analytics_routes

  rest_api_id             = aws_api_gateway_rest_api.this.id
  resource_id             = local.resource_ids[each.value.path]
  http_method             = aws_api_gateway_method.analytics[each.key].http_method
  type                    = "AWS_PROXY"
  integration_http_method = "POST" # Lambda is always invoked with POST
  uri                     = var.analytics_function_invoke_arn
}

# API Gateway may invoke analytics_api for exactly these routes of this API's stage.
resource "aws_lambda_permission" "this" {
  for_each = local.analytics_routes

  statement_id  = "AllowApiGateway-${replace(each.key, "_", "-")}"
  action        = "lambda:InvokeFunction"
  function_name = var.analytics_function_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_api_gateway_rest_api.this.execution_arn}/${var.stage_name}/${each.value.method}${replace(each.value.path, "{jobId}", "*")}"
}

# --- integration: StartExecution -------------------------------------------------

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["apigateway.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.this.account_id]
    }
  }
}

data "aws_iam_policy_document" "start_execution" {
  statement {
    sid       = "StartTransactionWorkflow"
    actions   = ["states:StartExecution"]
    resources = [var.state_machine_arn]
  }
}

resource "aws_iam_role" "this" {
  name               = "${var.name_prefix}-api-start-execution"
  description        = "API Gateway starts the transaction workflow"
  assume_role_policy = data.aws_iam_policy_document.assume.json
}

resource "aws_iam_role_policy" "this" {
  name   = "start-transaction-workflow"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.start_execution.json
}

resource "aws_api_gateway_integration" "this" {
  rest_api_id             = aws_api_gateway_rest_api.this.id
  resource_id             = aws_api_gateway_resource.this.id
  http_method             = aws_api_gateway_method.this.http_method
  type                    = "AWS"
  integration_http_method = "POST"
  uri                     = "arn:aws:apigateway:${local.region}:states:action/StartExecution"
  credentials             = aws_iam_role.this.arn
  passthrough_behavior    = "NEVER"

  # The workflow input is {"transaction": <body>, "received_at": null}, as
  # orchestration/ingest.py builds it; API Gateway has no ISO-8601 clock, so
  # StripPII stamps the ingestion time when received_at is null.
  request_templates = {
    "application/json" = <<-VTL
      {
        "stateMachineArn": "${var.state_machine_arn}",
        "name": "$context.requestId",
        "input": "{\"transaction\": $util.escapeJavaScript($input.json('$')).replaceAll("\\'", "'"), \"received_at\": null}"
      }
    VTL
  }
}

resource "aws_api_gateway_method_response" "accepted" {
  rest_api_id = aws_api_gateway_rest_api.this.id
  resource_id = aws_api_gateway_resource.this.id
  http_method = aws_api_gateway_method.this.http_method
  status_code = "202"
}

resource "aws_api_gateway_method_response" "unavailable" {
  rest_api_id = aws_api_gateway_rest_api.this.id
  resource_id = aws_api_gateway_resource.this.id
  http_method = aws_api_gateway_method.this.http_method
  status_code = "503"
}

resource "aws_api_gateway_integration_response" "accepted" {
  rest_api_id = aws_api_gateway_rest_api.this.id
  resource_id = aws_api_gateway_resource.this.id
  http_method = aws_api_gateway_method.this.http_method
  status_code = aws_api_gateway_method_response.accepted.status_code

  response_templates = {
    "application/json" = <<-VTL
      {"executionArn": "$input.path('$.executionArn')"}
    VTL
  }

  depends_on = [aws_api_gateway_integration.this]
}

resource "aws_api_gateway_integration_response" "unavailable" {
  rest_api_id       = aws_api_gateway_rest_api.this.id
  resource_id       = aws_api_gateway_resource.this.id
  http_method       = aws_api_gateway_method.this.http_method
  status_code       = aws_api_gateway_method_response.unavailable.status_code
  selection_pattern = "[45]\\d{2}"

  response_templates = {
    "application/json" = <<-VTL
      {"error": "ServiceUnavailable", "message": "could not start the workflow"}
    VTL
  }

  depends_on = [aws_api_gateway_integration.this]
}

# A body that fails the contract: 400 with the validator's field errors.
resource "aws_api_gateway_gateway_response" "this" {
  rest_api_id   = aws_api_gateway_rest_api.this.id
  response_type = "BAD_REQUEST_BODY"
  status_code   = "400"

  response_templates = {
    "application/json" = <<-VTL
      {"error": "InvalidTransaction", "message": "$context.error.validationErrorString"}
    VTL
  }
}

# --- deployment and stage ------------------------------------------------------------

resource "aws_api_gateway_deployment" "this" {
  rest_api_id = aws_api_gateway_rest_api.this.id

  triggers = {
    redeployment = sha1(jsonencode([
      aws_api_gateway_resource.this.id,
      aws_api_gateway_method.this,
      aws_api_gateway_integration.this,
      aws_api_gateway_integration_response.accepted,
      aws_api_gateway_integration_response.unavailable,
      aws_api_gateway_model.this.schema,
      aws_api_gateway_gateway_response.this,
      local.resource_ids,
      aws_api_gateway_method.analytics,
      aws_api_gateway_integration.analytics,
    ]))
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_cloudwatch_log_group" "access" {
  name              = "/aws/apigateway/${var.name_prefix}-api/access"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

resource "aws_api_gateway_stage" "this" {
  rest_api_id          = aws_api_gateway_rest_api.this.id
  deployment_id        = aws_api_gateway_deployment.this.id
  stage_name           = var.stage_name
  xray_tracing_enabled = true

  # Request and response bodies are never logged (they carry card numbers and IPs).
  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.access.arn
    format = jsonencode({
      requestId        = "$context.requestId"
      requestTime      = "$context.requestTime"
      httpMethod       = "$context.httpMethod"
      resourcePath     = "$context.resourcePath"
      status           = "$context.status"
      responseLength   = "$context.responseLength"
      latency          = "$context.responseLatency"
      apiKeyId         = "$context.identity.apiKeyId"
      caller           = "$context.identity.caller"
      integrationError = "$context.integration.error"
      wafStatus        = "$context.waf.status"
    })
  }

  depends_on = [aws_api_gateway_account.this]

  # checkov:skip=CKV_AWS_120: POST /transactions starts one workflow per request, a response cache would swallow transactions; analytics_api caches its results itself (analytics cache table) and job status must be fresh
  # checkov:skip=CKV2_AWS_51: client certificates authenticate API Gateway to HTTP backends; the backends are Step Functions through an AWS service integration signed with the API's role and analytics_api through a Lambda proxy integration
}

resource "aws_api_gateway_method_settings" "this" {
  rest_api_id = aws_api_gateway_rest_api.this.id
  stage_name  = aws_api_gateway_stage.this.stage_name
  method_path = "*/*"

  settings {
    metrics_enabled        = true
    logging_level          = "ERROR"
    data_trace_enabled     = false # full request logging would write card numbers and IPs
    throttling_rate_limit  = var.throttling_rate_limit
    throttling_burst_limit = var.throttling_burst_limit
    caching_enabled        = false

    # checkov:skip=CKV_AWS_225: caching is disabled on purpose (see the stage); there is no cache to encrypt
  }
}

# --- API key and usage plan (authorization = API_KEY) ------------------------------

resource "aws_api_gateway_api_key" "this" {
  count = local.api_key_required ? 1 : 0

  name        = "${var.name_prefix}-game-servers"
  description = "Key of the game servers posting transactions"
}

resource "aws_api_gateway_usage_plan" "this" {
  count = local.api_key_required ? 1 : 0

  name = "${var.name_prefix}-game-servers"

  api_stages {
    api_id = aws_api_gateway_rest_api.this.id
    stage  = aws_api_gateway_stage.this.stage_name
  }

  throttle_settings {
    rate_limit  = var.throttling_rate_limit
    burst_limit = var.throttling_burst_limit
  }
}

resource "aws_api_gateway_usage_plan_key" "this" {
  count = local.api_key_required ? 1 : 0

  key_id        = aws_api_gateway_api_key.this[0].id
  key_type      = "API_KEY"
  usage_plan_id = aws_api_gateway_usage_plan.this[0].id
}

# --- account-wide logging role ----------------------------------------------------------

data "aws_iam_policy_document" "account_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["apigateway.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "account_logging" {
  statement {
    sid = "WriteApiGatewayLogs"
    actions = [
      "logs:CreateLogGroup",
      "logs:CreateLogStream",
      "logs:DescribeLogStreams",
      "logs:PutLogEvents",
      "logs:GetLogEvents",
      "logs:FilterLogEvents",
    ]
    resources = [
      "arn:aws:logs:${local.region}:${data.aws_caller_identity.this.account_id}:log-group:API-Gateway-Execution-Logs_*",
      "arn:aws:logs:${local.region}:${data.aws_caller_identity.this.account_id}:log-group:/aws/apigateway/*",
    ]
  }

  statement {
    sid       = "FindLogGroups"
    actions   = ["logs:DescribeLogGroups"]
    resources = ["*"] # DescribeLogGroups supports no resource-level permissions
  }
}

resource "aws_iam_role" "account" {
  count = var.manage_account_logging_role ? 1 : 0

  name               = "${var.name_prefix}-apigateway-cloudwatch"
  description        = "API Gateway account-wide role for execution and access logs"
  assume_role_policy = data.aws_iam_policy_document.account_assume.json
}

resource "aws_iam_role_policy" "account" {
  count = var.manage_account_logging_role ? 1 : 0

  name   = "write-api-gateway-logs"
  role   = aws_iam_role.account[0].id
  policy = data.aws_iam_policy_document.account_logging.json
}

resource "aws_api_gateway_account" "this" {
  count = var.manage_account_logging_role ? 1 : 0

  cloudwatch_role_arn = aws_iam_role.account[0].arn
}

# --- WAF ------------------------------------------------------------------------------------

resource "aws_wafv2_web_acl" "this" {
  name        = "${var.name_prefix}-api"
  description = "MTX API: AWS managed rules and a per-IP rate limit"
  scope       = "REGIONAL"

  default_action {
    allow {}
  }

  rule {
    name     = "aws-common"
    priority = 10
    override_action {
      none {}
    }
    statement {
      managed_rule_group_statement {
        vendor_name = "AWS"
        name        = "AWSManagedRulesCommonRuleSet"
      }
    }
    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${var.name_prefix}-aws-common"
      sampled_requests_enabled   = false # sampled requests would show bodies
    }
  }

  rule {
    name     = "aws-known-bad-inputs"
    priority = 20
    override_action {
      none {}
    }
    statement {
      managed_rule_group_statement {
        vendor_name = "AWS"
        name        = "AWSManagedRulesKnownBadInputsRuleSet"
      }
    }
    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${var.name_prefix}-aws-known-bad-inputs"
      sampled_requests_enabled   = false
    }
  }

  rule {
    name     = "aws-anonymous-ip"
    priority = 25
    override_action {
      none {}
    }
    statement {
      managed_rule_group_statement {
        vendor_name = "AWS"
        name        = "AWSManagedRulesAnonymousIpList"

        # Game servers run on hosting providers: count those, block VPNs, proxies and Tor.
        rule_action_override {
          name = "HostingProviderIPList"
          action_to_use {
            count {}
          }
        }
      }
    }
    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${var.name_prefix}-aws-anonymous-ip"
      sampled_requests_enabled   = false
    }
  }

  rule {
    name     = "rate-per-ip"
    priority = 30
    action {
      block {}
    }
    statement {
      rate_based_statement {
        limit              = var.waf_rate_limit
        aggregate_key_type = "IP"
      }
    }
    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${var.name_prefix}-rate-per-ip"
      sampled_requests_enabled   = false
    }
  }

  visibility_config {
    cloudwatch_metrics_enabled = true
    metric_name                = "${var.name_prefix}-api"
    sampled_requests_enabled   = false
  }
}

resource "aws_wafv2_web_acl_association" "this" {
  resource_arn = aws_api_gateway_stage.this.arn
  web_acl_arn  = aws_wafv2_web_acl.this.arn
}

resource "aws_cloudwatch_log_group" "waf" {
  name              = "aws-waf-logs-${var.name_prefix}-api" # WAF requires the aws-waf-logs- prefix
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

resource "aws_wafv2_web_acl_logging_configuration" "this" {
  resource_arn            = aws_wafv2_web_acl.this.arn
  log_destination_configs = [aws_cloudwatch_log_group.waf.arn]

  redacted_fields {
    single_header {
      name = "x-api-key"
    }
  }
}
