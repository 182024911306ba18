# `terraform test` (offline: mocked provider) of who may call which route (issue 19, item 4):
# IAM by default, a role per producer and the analyst role, each allowed on its own routes only;
# optional API keys, one per producer, disabled or rotated alone; and no default key anywhere:
# API_KEY without producers is refused at plan. Run by infra/scripts/tf_check.sh.

mock_provider "aws" {
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
  override_data {
    target = data.aws_caller_identity.this
    values = { account_id = "123456789012" }
  }
  override_data {
    target = data.aws_region.this
    values = { name = "eu-west-1" }
  }
  override_data {
    target = data.aws_partition.this
    values = { partition = "aws" }
  }
}

variables {
  name_prefix                   = "mtx-dev"
  schema_path                   = "../../../../contracts/transaction.schema.json"
  openapi_path                  = "../../../../orchestration/openapi.json"
  state_machine_arn             = "arn:aws:states:eu-west-1:123456789012:stateMachine:mtx-dev-transaction"
  analytics_function_name       = "mtx-dev-analytics-api"
  analytics_function_invoke_arn = "arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/arn:aws:lambda:eu-west-1:123456789012:function:mtx-dev-analytics-api/invocations"
  kms_key_arn                   = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000"
}

run "iam_by_default_on_every_route_and_no_key" {
  command = plan

  variables {
    producers = {
      "game-a" = { principal_arns = ["arn:aws:iam::123456789012:role/game-a-servers"] }
      "game-b" = { principal_arns = ["arn:aws:iam::123456789012:role/game-b-servers"], enabled = false }
    }
    analyst_principal_arns = ["arn:aws:iam::123456789012:role/analysts-sso"]
  }

  assert {
    condition     = aws_api_gateway_method.this.authorization == "AWS_IAM" && !aws_api_gateway_method.this.api_key_required
    error_message = "POST /transactions must be SigV4 (AWS_IAM) by default"
  }
  assert {
    condition     = alltrue([for m in aws_api_gateway_method.analytics : m.authorization == "AWS_IAM" && !m.api_key_required])
    error_message = "every analytics route must be SigV4 (AWS_IAM), a producer key opening none of them"
  }
  assert {
    condition     = length(aws_api_gateway_api_key.this) == 0 && length(aws_api_gateway_usage_plan.this) == 0
    error_message = "no API key may exist unless API_KEY is chosen"
  }
  assert {
    condition     = toset(keys(aws_iam_role.producer)) == toset(["game-a", "game-b"])
    error_message = "each producer gets its own role"
  }
  assert {
    condition     = aws_iam_role_policy.producer["game-a"].name == "send-transactions" && aws_iam_role_policy.producer["game-b"].name == "producer-disabled"
    error_message = "a disabled producer's role loses its permission, the other keeps it"
  }
  assert {
    condition     = strcontains(data.aws_iam_policy_document.producer_invoke["game-b"].statement[0].effect, "Deny")
    error_message = "a disabled producer's role is denied every route"
  }
  assert {
    condition     = length(aws_iam_role.analyst) == 1 && aws_iam_role.analyst[0].name == "mtx-dev-api-analyst"
    error_message = "named analyst principals get the analyst role"
  }
  assert {
    condition     = strcontains(aws_api_gateway_integration.this.request_templates["application/json"], "producer_id")
    error_message = "the request template must stamp producer_id on the workflow input"
  }
  assert {
    condition     = strcontains(aws_api_gateway_integration.this.request_templates["application/json"], "assumed-role/mtx-dev-producer-game-a/")
    error_message = "the request template must map a producer's role to its application id"
  }
  assert {
    condition     = aws_api_gateway_gateway_response.auth["MISSING_AUTHENTICATION_TOKEN"].status_code == "401" && aws_api_gateway_gateway_response.auth["ACCESS_DENIED"].status_code == "403"
    error_message = "no credential is 401, the wrong identity 403"
  }
}

run "api_keys_one_per_producer_disabled_alone" {
  command = plan

  variables {
    producer_authorization = "API_KEY"
    producers = {
      "game-a" = {}
      "game-b" = { enabled = false, key_version = 3 }
    }
  }

  assert {
    condition     = aws_api_gateway_method.this.authorization == "NONE" && aws_api_gateway_method.this.api_key_required
    error_message = "API_KEY: POST /transactions requires the producer's key"
  }
  assert {
    condition     = alltrue([for m in aws_api_gateway_method.analytics : m.authorization == "AWS_IAM" && !m.api_key_required])
    error_message = "the analytics routes stay SigV4 with producer keys"
  }
  assert {
    condition     = aws_api_gateway_api_key.this["game-a"].enabled && !aws_api_gateway_api_key.this["game-b"].enabled
    error_message = "each producer has its own key, disabled alone"
  }
  assert {
    condition     = aws_api_gateway_api_key.this["game-a"].name == "mtx-dev-producer-game-a" && aws_api_gateway_api_key.this["game-b"].tags["KeyVersion"] == "3"
    error_message = "a producer's key is named after it and carries its version"
  }
  assert {
    condition     = toset(keys(aws_api_gateway_usage_plan_key.this)) == toset(["game-a", "game-b"]) && length(aws_api_gateway_usage_plan.this) == 1
    error_message = "every producer's key is on the throttled usage plan"
  }
  assert {
    condition     = length(aws_iam_role.producer) == 0 && length(aws_iam_role.analyst) == 0
    error_message = "no producer role with keys, and no analyst role without named analysts"
  }
}

run "api_key_without_producers_is_refused" {
  command = plan

  variables {
    producer_authorization = "API_KEY"
    producers              = {}
  }

  expect_failures = [var.producers]
}

run "an_account_root_is_not_a_named_analyst" {
  command = plan

  variables {
    analyst_principal_arns = ["arn:aws:iam::123456789012:root"]
  }

  expect_failures = [var.analyst_principal_arns]
}

run "an_iam_producer_needs_its_principals" {
  command = plan

  variables {
    producers = { "game-a" = {} }
  }

  expect_failures = [var.producers]
}

run "application_ids_are_checked" {
  command = plan

  variables {
    producer_authorization = "API_KEY"
    producers              = { "Game A" = {} }
  }

  expect_failures = [var.producers]
}

run "post_events_takes_the_producers_credential_of_post_transactions" {
  command = plan

  variables {
    producer_authorization     = "API_KEY"
    producers                  = { "game-a" = {} }
    events_function_name       = "mtx-dev-put-events"
    events_function_invoke_arn = "arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/arn:aws:lambda:eu-west-1:123456789012:function:mtx-dev-put-events/invocations"
  }

  assert {
    condition     = aws_api_gateway_method.events[0].api_key_required && aws_api_gateway_method.events[0].authorization == "NONE" && aws_api_gateway_method.events[0].http_method == "POST"
    error_message = "POST /events must require the producer's key when POST /transactions does"
  }
  assert {
    condition     = aws_api_gateway_integration.events[0].type == "AWS_PROXY" && aws_api_gateway_integration.events[0].uri == var.events_function_invoke_arn
    error_message = "POST /events is a Lambda proxy integration to put_events"
  }
  assert {
    condition     = aws_lambda_permission.events[0].function_name == "mtx-dev-put-events" && aws_lambda_permission.events[0].principal == "apigateway.amazonaws.com"
    error_message = "API Gateway may invoke put_events (for POST /events of its stage: local.events_arn)"
  }
}

run "no_post_events_without_its_function" {
  command = plan

  variables {
    producers = { "game-a" = { principal_arns = ["arn:aws:iam::123456789012:role/game-a-servers"] } }
  }

  assert {
    condition     = length(aws_api_gateway_method.events) == 0 && length(aws_lambda_permission.events) == 0
    error_message = "POST /events exists only with its function"
  }
}
