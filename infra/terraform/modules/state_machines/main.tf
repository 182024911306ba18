# One state machine per orchestration/state_machines/<workflow>.asl.json, its
# definition rendered by templatefile() from the very file the local runtime
# executes. Each state machine gets its own role whose statements are derived
# from its rendered definition: every Task's service integration maps to the
# actions it needs (local.integrations), scoped to the resource named in the
# Task's parameters. A Task whose integration is not in the map, or whose
# resource is only known at run time, fails the plan (precondition) instead of
# being granted broadly.

data "aws_caller_identity" "this" {}
data "aws_partition" "this" {}
data "aws_region" "this" {}

locals {
  account_id = data.aws_caller_identity.this.account_id
  partition  = data.aws_partition.this.partition
  region     = data.aws_region.this.name
  arn        = "arn:${local.partition}"

  workflows   = { for f in fileset(var.state_machines_dir, "*.asl.json") : trimsuffix(f, ".asl.json") => "${var.state_machines_dir}/${f}" }
  names       = { for w, _ in local.workflows : w => "${var.name_prefix}-${replace(w, "_", "-")}" }
  definitions = { for w, path in local.workflows : w => templatefile(path, var.template_values) }
  decoded     = { for w, d in local.definitions : w => jsondecode(d) }

  # States at nesting depth 0-3 (Parallel branches, Map iterators/item processors).
  depth0 = { for w, d in local.decoded : w => values(d.States) }
  depth1 = { for w, states in local.depth0 : w => flatten([for s in states : concat(
    flatten([for b in try(s.Branches, []) : values(b.States)]),
    values(try(s.ItemProcessor.States, {})),
    values(try(s.Iterator.States, {})),
  )]) }
  depth2 = { for w, states in local.depth1 : w => flatten([for s in states : concat(
    flatten([for b in try(s.Branches, []) : values(b.States)]),
    values(try(s.ItemProcessor.States, {})),
    values(try(s.Iterator.States, {})),
  )]) }
  depth3 = { for w, states in local.depth2 : w => flatten([for s in states : concat(
    flatten([for b in try(s.Branches, []) : values(b.States)]),
    values(try(s.ItemProcessor.States, {})),
    values(try(s.Iterator.States, {})),
  )]) }
  too_deep = { for w, states in local.depth3 : w => anytrue([for s in states : can(s.Branches) || can(s.ItemProcessor) || can(s.Iterator)]) }

  all_states = { for w, _ in local.workflows : w => concat(local.depth0[w], local.depth1[w], local.depth2[w], local.depth3[w]) }

  # Every call a state machine makes: Task states and Map ItemReaders.
  calls = { for w, states in local.all_states : w => concat(
    [for s in states : { resource = s.Resource, parameters = try(s.Parameters, try(s.Arguments, {})) } if s.Type == "Task"],
    [for s in states : { resource = s.ItemReader.Resource, parameters = try(s.ItemReader.Parameters, try(s.ItemReader.Arguments, {})) } if can(s.ItemReader.Resource)],
  ) }

  distributed_map = { for w, states in local.all_states : w => anytrue([for s in states : try(s.ItemProcessor.ProcessorConfig.Mode, "INLINE") == "DISTRIBUTED"]) }

  # Service integration (resource ARN without .sync / .waitForTaskToken) -> actions,
  # and which parameter names the resource they act on.
  integrations = {
    "arn:aws:states:::lambda:invoke"                 = { actions = ["lambda:InvokeFunction"], parameter = "FunctionName", kind = "lambda" }
    "arn:aws:states:::dynamodb:getItem"              = { actions = ["dynamodb:GetItem"], parameter = "TableName", kind = "dynamodb" }
    "arn:aws:states:::dynamodb:putItem"              = { actions = ["dynamodb:PutItem"], parameter = "TableName", kind = "dynamodb" }
    "arn:aws:states:::dynamodb:updateItem"           = { actions = ["dynamodb:UpdateItem"], parameter = "TableName", kind = "dynamodb" }
    "arn:aws:states:::dynamodb:deleteItem"           = { actions = ["dynamodb:DeleteItem"], parameter = "TableName", kind = "dynamodb" }
    "arn:aws:states:::aws-sdk:dynamodb:query"        = { actions = ["dynamodb:Query"], parameter = "TableName", kind = "dynamodb" }
    "arn:aws:states:::aws-sdk:dynamodb:getItem"      = { actions = ["dynamodb:GetItem"], parameter = "TableName", kind = "dynamodb" }
    "arn:aws:states:::aws-sdk:dynamodb:putItem"      = { actions = ["dynamodb:PutItem"], parameter = "TableName", kind = "dynamodb" }
    "arn:aws:states:::aws-sdk:dynamodb:updateItem"   = { actions = ["dynamodb:UpdateItem"], parameter = "TableName", kind = "dynamodb" }
    "arn:aws:states:::sqs:sendMessage"               = { actions = ["sqs:SendMessage"], parameter = "QueueUrl", kind = "sqs" }
    "arn:aws:states:::sns:publish"                   = { actions = ["sns:Publish"], parameter = "TopicArn", kind = "arn" }
    "arn:aws:states:::glue:startJobRun"              = { actions = ["glue:StartJobRun"], parameter = "JobName", kind = "glue_job" }
    "arn:aws:states:::glue:startJobRun.sync"         = { actions = ["glue:StartJobRun", "glue:GetJobRun", "glue:GetJobRuns", "glue:BatchStopJobRun"], parameter = "JobName", kind = "glue_job" }
    "arn:aws:states:::aws-sdk:glue:startCrawler"     = { actions = ["glue:StartCrawler"], parameter = "Name", kind = "glue_crawler" }
    "arn:aws:states:::aws-sdk:glue:getCrawler"       = { actions = ["glue:GetCrawler"], parameter = "Name", kind = "glue_crawler" }
    "arn:aws:states:::states:startExecution"         = { actions = ["states:StartExecution"], parameter = "StateMachineArn", kind = "arn" }
    "arn:aws:states:::states:startExecution.sync:2"  = { actions = ["states:StartExecution", "states:DescribeExecution", "states:StopExecution"], parameter = "StateMachineArn", kind = "state_machine_sync" }
    "arn:aws:states:::s3:getObject"                  = { actions = ["s3:GetObject"], parameter = "Bucket", kind = "s3_objects" }
    "arn:aws:states:::s3:listObjectsV2"              = { actions = ["s3:ListBucket"], parameter = "Bucket", kind = "s3_bucket" }
    "arn:aws:states:::aws-sdk:s3:getObject"          = { actions = ["s3:GetObject"], parameter = "Bucket", kind = "s3_objects" }
    "arn:aws:states:::aws-sdk:s3:putObject"          = { actions = ["s3:PutObject"], parameter = "Bucket", kind = "s3_objects" }
    "arn:aws:states:::aws-sdk:s3:deleteObject"       = { actions = ["s3:DeleteObject"], parameter = "Bucket", kind = "s3_objects" }
    "arn:aws:states:::aws-sdk:s3:listObjectsV2"      = { actions = ["s3:ListBucket"], parameter = "Bucket", kind = "s3_bucket" }
    "arn:aws:states:::aws-sdk:s3:headObject"         = { actions = ["s3:GetObject"], parameter = "Bucket", kind = "s3_objects" }
    "arn:aws:states:::events:putEvents"              = { actions = ["events:PutEvents"], parameter = "Entries", kind = "default_event_bus" }
    "arn:aws:states:::aws-sdk:sfn:describeExecution" = { actions = ["states:DescribeExecution"], parameter = "ExecutionArn", kind = "arn" }
  }

  # ARN formats of the resources the integrations name (%s: the parameter's value).
  arn_formats = {
    lambda       = "${local.arn}:lambda:${local.region}:${local.account_id}:function:%s"
    dynamodb     = "${local.arn}:dynamodb:${local.region}:${local.account_id}:table/%s"
    glue_job     = "${local.arn}:glue:${local.region}:${local.account_id}:job/%s"
    glue_crawler = "${local.arn}:glue:${local.region}:${local.account_id}:crawler/%s"
    s3_objects   = "${local.arn}:s3:::%s/*"
    s3_bucket    = "${local.arn}:s3:::%s"
  }

  # Each call with its integration (.waitForTaskToken needs the same permissions
  # as the plain integration) and the value of the parameter naming its target.
  resolved_calls = { for w, calls in local.calls : w => [for c in calls : {
    resource    = c.resource
    plain_arn   = startswith(c.resource, "arn:aws:lambda:")
    integration = lookup(local.integrations, replace(c.resource, ".waitForTaskToken", ""), null)
    target = try(tostring(lookup(c.parameters,
      lookup(local.integrations, replace(c.resource, ".waitForTaskToken", ""), { parameter = "" }).parameter, null
    )), null)
  }] }

  call_statements = { for w, calls in local.resolved_calls : w => [for c in calls : (
    c.plain_arn ? {
      key       = c.resource
      actions   = tolist(["lambda:InvokeFunction"])
      resources = tolist([c.resource, "${c.resource}:*"])
      } : c.integration == null ? {
      key       = c.resource
      actions   = tolist(["UNSUPPORTED"])
      resources = tolist(["UNSUPPORTED"])
      } : c.target == null ? {
      key       = c.resource
      actions   = tolist(c.integration.actions)
      resources = tolist(["UNRESOLVED"])
      } : c.integration.kind == "sqs" ? {
      key       = c.resource
      actions   = tolist(c.integration.actions)
      resources = tolist([lookup(var.queue_arns_by_url, c.target, "UNRESOLVED")])
      } : c.integration.kind == "default_event_bus" ? {
      key       = c.resource
      actions   = tolist(c.integration.actions)
      resources = tolist(["${local.arn}:events:${local.region}:${local.account_id}:event-bus/default"])
      } : c.integration.kind == "arn" ? {
      key       = c.resource
      actions   = tolist(c.integration.actions)
      resources = tolist([c.target])
      } : c.integration.kind == "state_machine_sync" ? {
      key       = c.resource
      actions   = tolist(c.integration.actions)
      resources = tolist([c.target, replace("${c.target}:*", ":stateMachine:", ":execution:")])
      } : c.integration.kind == "lambda" ? {
      key       = c.resource
      actions   = tolist(c.integration.actions)
      resources = startswith(c.target, "arn:") ? tolist([c.target, "${c.target}:*"]) : tolist([format(local.arn_formats.lambda, c.target), "${format(local.arn_formats.lambda, c.target)}:*"])
      } : {
      key       = c.resource
      actions   = tolist(c.integration.actions)
      resources = tolist([format(local.arn_formats[c.integration.kind], c.target)])
    }
  )] }

  # One statement per distinct integration resource of a workflow.
  grouped = { for w, statements in local.call_statements : w => { for s in statements : s.key => s... } }
  statements = { for w, g in local.grouped : w => [for i, key in sort(keys(g)) : {
    sid       = "Call${i}${substr(replace(title(replace(replace(key, "arn:aws:states:::", ""), "/[^A-Za-z0-9]+/", " ")), " ", ""), 0, 48)}"
    actions   = sort(distinct(flatten([for s in g[key] : s.actions])))
    resources = sort(distinct(flatten([for s in g[key] : s.resources])))
  }] }

  unresolved = { for w, statements in local.call_statements : w => distinct([for s in statements : s.key if contains(s.resources, "UNRESOLVED") || contains(s.resources, "UNSUPPORTED")]) }

  # The queues each workflow sends to (sqs:SendMessage statements), for the queues' own policies.
  sent_queues = { for w, statements in local.statements : w => distinct(flatten([for s in statements : s.resources if contains(s.actions, "sqs:SendMessage")])) }

  # Executions started with .sync:2 are watched through a managed EventBridge rule.
  sync_executions = { for w, calls in local.calls : w => anytrue([for c in calls : endswith(c.resource, "states:startExecution.sync:2")]) }
}

resource "aws_cloudwatch_log_group" "this" {
  for_each = local.names

  name              = "/aws/vendedlogs/states/${each.value}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["states.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "this" {
  for_each = local.names

  name               = "${each.value}-sfn"
  description        = "Role of the ${each.key} state machine"
  assume_role_policy = data.aws_iam_policy_document.assume.json
}

data "aws_iam_policy_document" "this" {
  for_each = local.names

  dynamic "statement" {
    for_each = local.statements[each.key]
    content {
      sid       = statement.value.sid
      actions   = statement.value.actions
      resources = statement.value.resources
    }
  }

  dynamic "statement" {
    for_each = local.sync_executions[each.key] ? [1] : []
    content {
      sid       = "WatchChildExecutions"
      actions   = ["events:PutTargets", "events:PutRule", "events:DescribeRule"]
      resources = ["${local.arn}:events:${local.region}:${local.account_id}:rule/StepFunctionsGetEventsForStepFunctionsExecutionRule"]
    }
  }

  dynamic "statement" {
    for_each = local.distributed_map[each.key] ? [1] : []
    content {
      sid       = "RunDistributedMapChildren"
      actions   = ["states:StartExecution", "states:DescribeExecution", "states:StopExecution"]
      resources = ["${local.arn}:states:${local.region}:${local.account_id}:stateMachine:${each.value}", "${local.arn}:states:${local.region}:${local.account_id}:execution:${each.value}/*"]
    }
  }

  statement {
    sid       = "UseTheDataKey"
    actions   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"]
    resources = [var.kms_key_arn]
  }

  statement {
    sid = "DeliverExecutionLogs"
    actions = [
      "logs:CreateLogDelivery",
      "logs:GetLogDelivery",
      "logs:UpdateLogDelivery",
      "logs:DeleteLogDelivery",
      "logs:ListLogDeliveries",
      "logs:PutResourcePolicy",
      "logs:DescribeResourcePolicies",
      "logs:DescribeLogGroups",
    ]
    resources = ["*"] # CloudWatch Logs vended-log delivery actions support no resource-level permissions
  }

  statement {
    sid       = "SendTraces"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets"]
    resources = ["*"] # X-Ray supports no resource-level permissions for these actions
  }
}

resource "aws_iam_role_policy" "this" {
  for_each = local.names

  name   = "${each.value}-least-privilege"
  role   = aws_iam_role.this[each.key].id
  policy = data.aws_iam_policy_document.this[each.key].json
}

resource "aws_sfn_state_machine" "this" {
  for_each = local.names

  name       = each.value
  type       = lookup(var.workflow_types, each.key, "STANDARD")
  role_arn   = aws_iam_role.this[each.key].arn
  definition = local.definitions[each.key]

  # Every change of the definition (or role, logging, tracing) is published as a new numbered version;
  # the alias below decides which version runs.
  publish = true

  logging_configuration {
    log_destination        = "${aws_cloudwatch_log_group.this[each.key].arn}:*"
    include_execution_data = false # execution data holds card numbers and client IPs
    level                  = var.log_level
  }

  tracing_configuration {
    enabled = true
  }

  lifecycle {
    precondition {
      condition     = contains(keys(var.workflow_types), each.key)
      error_message = "No type for workflow ${each.key}: add it to workflow_types (EXPRESS or STANDARD)."
    }
    precondition {
      condition     = length(local.unresolved[each.key]) == 0
      error_message = "State machine ${each.key}: no IAM mapping (or a run-time resource) for ${join(", ", local.unresolved[each.key])}. Add the integration to local.integrations in modules/state_machines/main.tf."
    }
    precondition {
      condition     = !local.too_deep[each.key]
      error_message = "State machine ${each.key} nests Parallel/Map deeper than 3 levels: extend the depth walk in modules/state_machines/main.tf."
    }
  }

  depends_on = [aws_iam_role_policy.this]

  # checkov:skip=CKV_AWS_285: execution history IS logged (level ALL by default); include_execution_data stays false because execution data holds card numbers and client IPs
}

# --- the alias every starter targets: a rollback is one variable ---------------------------------------
# API Gateway, the EventBridge rule and schedule, the analytics job start and the dead-letter redrive start
# executions of <name>:live. By default it routes to the version this apply published; var.live_versions
# pins a workflow to an earlier version (its number, or its ARN) without touching the definition.

locals {
  live_version_arns = { for w, m in aws_sfn_state_machine.this : w => (
    lookup(var.live_versions, w, null) == null ? m.state_machine_version_arn :
    can(regex("^[0-9]+$", var.live_versions[w])) ? "${m.arn}:${var.live_versions[w]}" : var.live_versions[w]
  ) }
}

resource "aws_sfn_alias" "this" {
  for_each = local.names

  name        = var.alias_name
  description = "The version of ${each.value} that runs (var.live_versions pins an earlier one)"

  routing_configuration {
    state_machine_version_arn = local.live_version_arns[each.key]
    weight                    = 100
  }

  lifecycle {
    precondition {
      condition     = startswith(local.live_version_arns[each.key], "${aws_sfn_state_machine.this[each.key].arn}:")
      error_message = "live_versions[\"${each.key}\"] must be a version number or a version ARN of ${each.value}."
    }
  }
}
