# REST API: POST /transactions starts the transaction workflow (Step Functions
# StartExecution, direct service integration). The body is validated by API
# Gateway against a model derived from contracts/transaction.schema.json before
# anything runs; throttling on the stage and per API key; WAF in front.
# The analytics routes (GET /health, GET /analytics, POST /analytics/jobs,
# GET /analytics/jobs/{jobId}) are Lambda proxy integrations to analytics_api.
# The HTTP surface is documented in orchestration/openapi.json (a test keeps the
# two equal).
#
# Two kinds of caller, each allowed on its own routes only (orchestration/runtime/auth.py
# holds the same split for the local API):
# - producers (game servers), POST /transactions and POST /events (events.tf): AWS_IAM by default, each
#   producer with its own role; or API_KEY, each producer with its own key on a
#   throttled usage plan. A producer is disabled, enabled or rotated alone
#   (var.producers) and its application id reaches the workflow input as
#   producer_id (the request template maps the key id or the role to it).
# - analysts: /health and /analytics*, AWS_IAM with the analyst role, which
#   only named principals may assume.
# The API's resource policy denies each route to every identity but its own.

data "aws_region" "this" {}
data "aws_caller_identity" "this" {}
data "aws_partition" "this" {}

locals {
  region = data.aws_region.this.name

  # API Gateway models are JSON Schema draft 4: the contract's $defs become definitions.
  contract_schema = jsondecode(replace(file(var.schema_path), "#/$defs/", "#/definitions/"))
  request_schema = merge(
    { for k, v in local.contract_schema : k => v if !contains(["$defs", "$schema", "$id"], k) },
    { "$schema" = "http://json-schema.org/draft-04/schema#", definitions = local.contract_schema["$defs"] },
  )

  partition  = data.aws_partition.this.partition
  account_id = data.aws_caller_identity.this.account_id

  api_key_required = var.producer_authorization == "API_KEY"
  # One key per producer (API_KEY) or one role per producer (AWS_IAM).
  key_producers  = local.api_key_required ? var.producers : {}
  role_producers = local.api_key_required ? {} : var.producers

  # Where each route may be invoked: arn:aws:execute-api:<region>:<account>:<api id>/<stage>/<METHOD>/<path>.
  transactions_arn = "${aws_api_gateway_rest_api.this.execution_arn}/${var.stage_name}/POST/transactions"
  analytics_arns = [
    for route in values(local.analytics_routes) :
    "${aws_api_gateway_rest_api.this.execution_arn}/${var.stage_name}/${route.method}${replace(route.path, "{jobId}", "*")}"
  ]
  every_route_arn = "${aws_api_gateway_rest_api.this.execution_arn}/${var.stage_name}/*"
  enabled_producer_roles = [
    for id, role in aws_iam_role.producer : "arn:${local.partition}:iam::${local.account_id}:role/${role.name}" if var.producers[id].enabled
  ]

  # The producer id a request template stamps: the application whose key or role signed the request
  # (the raw key id or caller ARN should neither match, so a producer is never anonymous).
  producer_mapping = join("\n", concat(
    [for id, key in aws_api_gateway_api_key.this : "#if($context.identity.apiKeyId == \"${key.id}\")#set($producer = \"${id}\")#end"],
    [for id, role in aws_iam_role.producer : "#if($context.identity.userArn.startsWith(\"arn:${local.partition}:sts::${local.account_id}:assumed-role/${role.name}/\"))#set($producer = \"${id}\")#end"],
  ))

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
  authorization        = local.api_key_required ? "NONE" : "AWS_IAM" # API_KEY: the producer's key is required instead
  api_key_required     = local.api_key_required
  request_validator_id = aws_api_gateway_request_validator.this.id
  request_models = {
    "application/json" = aws_api_gateway_model.this.name
  }
}

# --- GET /openapi.json: the API's own description, open to anyone ---------------------
# A mock integration answers with the committed document (orchestration/openapi.json), inside a
# Velocity unparsed block (#[[ ... ]]#) so that its "$ref" and "#/components" stay text.

resource "aws_api_gateway_resource" "openapi" {
  rest_api_id = aws_api_gateway_rest_api.this.id
  parent_id   = aws_api_gateway_rest_api.this.root_resource_id
  path_part   = "openapi.json"
}

resource "aws_api_gateway_method" "openapi" {
  # checkov:skip=CKV_AWS_59: the API's own description, open by design; a mock integration, no back end behind it
  # checkov:skip=CKV2_AWS_53: a GET without parameters or body: nothing to validate
  rest_api_id   = aws_api_gateway_rest_api.this.id
  resource_id   = aws_api_gateway_resource.openapi.id
  http_method   = "GET"
  authorization = "NONE" # it describes the API and holds no data
}

resource "aws_api_gateway_integration" "openapi" {
  rest_api_id = aws_api_gateway_rest_api.this.id
  resource_id = aws_api_gateway_resource.openapi.id
  http_method = aws_api_gateway_method.openapi.http_method
  type        = "MOCK"
  request_templates = {
    "application/json" = "{\"statusCode\": 200}"
  }
}

resource "aws_api_gateway_method_response" "openapi" {
  rest_api_id = aws_api_gateway_rest_api.this.id
  resource_id = aws_api_gateway_resource.openapi.id
  http_method = aws_api_gateway_method.openapi.http_method
  status_code = "200"
}

resource "aws_api_gateway_integration_response" "openapi" {
  rest_api_id = aws_api_gateway_rest_api.this.id
  resource_id = aws_api_gateway_resource.openapi.id
  http_method = aws_api_gateway_method.openapi.http_method
  status_code = aws_api_gateway_method_response.openapi.status_code
  response_templates = {
    "application/json" = "#[[${file(var.openapi_path)}]]#"
  }

  depends_on = [aws_api_gateway_integration.openapi]
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
  authorization        = "AWS_IAM" # the analyst role (a producer's key opens nothing here)
  api_key_required     = false
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
    resources = [var.state_machine_arn] # the alias: executions of its routed version only
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

  # The workflow input is {"transaction": <body>, "received_at": null, "producer_id": <application id>},
  # as orchestration/runtime/ingest.py builds it; API Gateway has no ISO-8601 clock, so StripPII stamps the
  # ingestion time when received_at is null. producer_id: the producer whose key (API_KEY) or role
  # (AWS_IAM) the request came with, outside the transaction (the contract is unchanged).
  request_templates = {
    "application/json" = <<-VTL
      #set($producer = "$context.identity.apiKeyId")
      #if($producer == "")#set($producer = "$context.identity.userArn")#end
      ${local.producer_mapping}
      {
        "stateMachineArn": "${var.state_machine_arn}",
        "name": "$context.requestId",
        "input": "{\"transaction\": $util.escapeJavaScript($input.json('$')).replaceAll("\\'", "'"), \"received_at\": null, \"producer_id\": \"$util.escapeJavaScript($producer)\"}"
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

# A body that fails the request model: 400 in the API's error shape. Not the validator's own text
# ($context.error.validationErrorString): it quotes the offending value ("instance value (...) not found
# in enum"), and an error never carries a value (a client IP, a card's digits); the rules are documented
# at GET /openapi.json and in docs/acceptance-rules.md.
resource "aws_api_gateway_gateway_response" "this" {
  rest_api_id   = aws_api_gateway_rest_api.this.id
  response_type = "BAD_REQUEST_BODY"
  status_code   = "400"

  response_templates = {
    "application/json" = <<-VTL
      {"error": "InvalidTransaction", "message": "the body does not satisfy the transaction contract (GET /openapi.json, docs/acceptance-rules.md)"}
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
      aws_api_gateway_gateway_response.auth,
      aws_api_gateway_rest_api_policy.this.policy,
      aws_api_gateway_integration_response.openapi,
      aws_api_gateway_method.events,
      aws_api_gateway_integration.events,
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

# --- producers' API keys and their usage plan (producer_authorization = API_KEY) -----------------

# key_version of each producer: raising it replaces that producer's key (rotation), no other.
resource "terraform_data" "this" {
  for_each = local.key_producers

  input = each.value.key_version
}

resource "aws_api_gateway_api_key" "this" {
  for_each = local.key_producers

  name        = "${var.name_prefix}-producer-${each.key}"
  description = "Key of producer ${each.key} (POST /transactions, POST /events), version ${each.value.key_version}"
  enabled     = each.value.enabled # false: this producer is refused (403), the others are not touched

  tags = {
    ProducerId = each.key
    KeyVersion = tostring(each.value.key_version)
  }

  lifecycle {
    create_before_destroy = true
    replace_triggered_by  = [terraform_data.this[each.key]]
  }
}

resource "aws_api_gateway_usage_plan" "this" {
  count = local.api_key_required ? 1 : 0

  name        = "${var.name_prefix}-producers"
  description = "Game servers: the throttle applies to each producer's key alone"

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
  for_each = aws_api_gateway_api_key.this

  key_id        = each.value.id
  key_type      = "API_KEY"
  usage_plan_id = aws_api_gateway_usage_plan.this[0].id
}

# --- identities: one role per producer (AWS_IAM), the analyst role ---------------------------------

data "aws_iam_policy_document" "producer_assume" {
  for_each = local.role_producers

  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "AWS"
      identifiers = each.value.principal_arns # named principals only (validated: no account root)
    }
  }
}

data "aws_iam_policy_document" "producer_invoke" {
  for_each = local.role_producers

  dynamic "statement" {
    for_each = each.value.enabled ? [1] : []
    content {
      sid       = "SendTransactions"
      actions   = ["execute-api:Invoke"]
      resources = local.producer_route_arns
    }
  }

  dynamic "statement" {
    for_each = each.value.enabled ? [] : [1]
    content {
      sid       = "ProducerDisabled"
      effect    = "Deny"
      actions   = ["execute-api:Invoke"]
      resources = [local.every_route_arn]
    }
  }
}

resource "aws_iam_role" "producer" {
  for_each = local.role_producers

  name                 = "${var.name_prefix}-producer-${each.key}"
  description          = "Producer ${each.key}: may call POST /transactions and POST /events of the MTX API, nothing else"
  assume_role_policy   = data.aws_iam_policy_document.producer_assume[each.key].json
  max_session_duration = 3600

  tags = {
    ProducerId = each.key
  }
}

resource "aws_iam_role_policy" "producer" {
  for_each = local.role_producers

  name   = each.value.enabled ? "send-transactions" : "producer-disabled"
  role   = aws_iam_role.producer[each.key].id
  policy = data.aws_iam_policy_document.producer_invoke[each.key].json
}

data "aws_iam_policy_document" "analyst_assume" {
  count = length(var.analyst_principal_arns) > 0 ? 1 : 0

  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "AWS"
      identifiers = var.analyst_principal_arns # named principals only (validated: no account root)
    }
  }
}

data "aws_iam_policy_document" "analyst_invoke" {
  statement {
    sid       = "QueryAnalytics"
    actions   = ["execute-api:Invoke"]
    resources = local.analytics_arns
  }
}

resource "aws_iam_role" "analyst" {
  count = length(var.analyst_principal_arns) > 0 ? 1 : 0

  name                 = "${var.name_prefix}-api-analyst"
  description          = "Analysts: may call /health and /analytics* of the MTX API, not POST /transactions"
  assume_role_policy   = data.aws_iam_policy_document.analyst_assume[0].json
  max_session_duration = 3600
}

resource "aws_iam_role_policy" "analyst" {
  count = length(var.analyst_principal_arns) > 0 ? 1 : 0

  name   = "query-analytics"
  role   = aws_iam_role.analyst[0].id
  policy = data.aws_iam_policy_document.analyst_invoke.json
}

# --- the API's resource policy: each route to its own identities only ------------------------------
# Without it, any principal of the account whose own policy allows execute-api:Invoke could call any
# route. With it, an identity that is not the route's is denied whatever its own policy says.

data "aws_iam_policy_document" "rest_api" {
  statement {
    sid       = "AnyoneReadsTheApiDocument"
    actions   = ["execute-api:Invoke"]
    resources = ["${aws_api_gateway_rest_api.this.execution_arn}/${var.stage_name}/GET/openapi.json"]
    principals {
      type        = "*"
      identifiers = ["*"] # the document describes the API; it holds no data
    }
  }

  # API_KEY: the gateway checks the producer's key; the request itself is anonymous
  dynamic "statement" {
    for_each = local.api_key_required ? [1] : []
    content {
      sid       = "ProducersWithTheirKey"
      actions   = ["execute-api:Invoke"]
      resources = local.producer_route_arns
      principals {
        type        = "*"
        identifiers = ["*"] # anonymous by design: API_KEY requests carry a key, not a signature
      }
    }
  }

  dynamic "statement" {
    for_each = !local.api_key_required && length(local.enabled_producer_roles) > 0 ? [1] : []
    content {
      sid       = "ProducerRoles"
      actions   = ["execute-api:Invoke"]
      resources = local.producer_route_arns
      principals {
        type        = "AWS"
        identifiers = local.enabled_producer_roles
      }
    }
  }

  dynamic "statement" {
    for_each = !local.api_key_required ? [1] : []
    content {
      sid       = "OnlyProducerRolesSendTransactions"
      effect    = "Deny"
      actions   = ["execute-api:Invoke"]
      resources = local.producer_route_arns
      principals {
        type        = "*"
        identifiers = ["*"]
      }
      condition {
        test     = "ArnNotEquals"
        variable = "aws:PrincipalArn"
        values   = length(local.enabled_producer_roles) > 0 ? local.enabled_producer_roles : ["arn:${local.partition}:iam::${local.account_id}:role/no-producer"]
      }
    }
  }

  dynamic "statement" {
    for_each = aws_iam_role.analyst
    content {
      sid       = "AnalystRole"
      actions   = ["execute-api:Invoke"]
      resources = local.analytics_arns
      principals {
        type        = "AWS"
        identifiers = [statement.value.arn]
      }
    }
  }

  statement {
    sid       = "OnlyTheAnalystRoleQueries"
    effect    = "Deny"
    actions   = ["execute-api:Invoke"]
    resources = local.analytics_arns
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "ArnNotEquals"
      variable = "aws:PrincipalArn"
      values   = length(aws_iam_role.analyst) > 0 ? [aws_iam_role.analyst[0].arn] : ["arn:${local.partition}:iam::${local.account_id}:role/no-analyst"]
    }
  }
}

resource "aws_api_gateway_rest_api_policy" "this" {
  rest_api_id = aws_api_gateway_rest_api.this.id
  policy      = data.aws_iam_policy_document.rest_api.json
}

# --- authentication errors: the API's JSON error shape ------------------------------------------------
# No credential or an unknown, disabled or rotated-away one: 401; an identity the route is not for: 403
# (as the local API answers, orchestration/runtime/auth.py).

resource "aws_api_gateway_gateway_response" "auth" {
  for_each = {
    MISSING_AUTHENTICATION_TOKEN = { status = "401", error = "Unauthorized" }
    INVALID_API_KEY              = { status = "401", error = "Unauthorized" }
    INVALID_SIGNATURE            = { status = "401", error = "Unauthorized" }
    EXPIRED_TOKEN                = { status = "401", error = "Unauthorized" }
    ACCESS_DENIED                = { status = "403", error = "Forbidden" }
  }

  rest_api_id   = aws_api_gateway_rest_api.this.id
  response_type = each.key
  status_code   = each.value.status

  response_templates = {
    "application/json" = "{\"error\": \"${each.value.error}\", \"message\": \"$context.error.message\"}"
  }
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

        # Its 8 KB body limit would block POST /events (up to 500 records): counted here, enforced on the
        # other routes by body-size-one-transaction below.
        rule_action_override {
          name = "SizeRestrictions_BODY"
          action_to_use {
            count {}
          }
        }
      }
    }
    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${var.name_prefix}-aws-common"
      sampled_requests_enabled   = false # sampled requests would show bodies
    }
  }

  # One transaction is at most 8 KiB (contracts MAX_TRANSACTION_BYTES): a larger body is blocked on every
  # route but POST /events, whose records put_events measures one by one.
  rule {
    name     = "body-size-one-transaction"
    priority = 15
    action {
      block {}
    }
    statement {
      and_statement {
        statement {
          size_constraint_statement {
            comparison_operator = "GT"
            size                = 8192
            field_to_match {
              body {
                oversize_handling = "MATCH"
              }
            }
            text_transformation {
              priority = 0
              type     = "NONE"
            }
          }
        }
        statement {
          not_statement {
            statement {
              byte_match_statement {
                positional_constraint = "ENDS_WITH"
                search_string         = "/events"
                field_to_match {
                  uri_path {}
                }
                text_transformation {
                  priority = 0
                  type     = "NONE"
                }
              }
            }
          }
        }
      }
    }
    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${var.name_prefix}-body-size"
      sampled_requests_enabled   = false
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
