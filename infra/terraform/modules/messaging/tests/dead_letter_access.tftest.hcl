# `terraform test` (offline: mocked provider) of who may use the dead-letter
# queue: only the roles that dead-letter send, only the redrive role and the
# scheduled archive function read, and
# the redrive role exists only for named principals. Run by infra/scripts/tf_check.sh.

mock_provider "aws" {
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
  override_data {
    target = data.aws_caller_identity.this
    values = { account_id = "123456789012" }
  }
  override_data {
    target = data.aws_partition.this
    values = { partition = "aws" }
  }
  override_data {
    target = data.aws_region.this
    values = { name = "eu-west-1" }
  }
}

variables {
  name_prefix                  = "mtx-dev"
  kms_key_arn                  = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000"
  dead_letter_sender_role_arns = ["arn:aws:iam::123456789012:role/mtx-dev-transaction-sfn"]
  redrive_state_machine_arn    = "arn:aws:states:eu-west-1:123456789012:stateMachine:mtx-dev-transaction"
  redrive_alias_arn            = "arn:aws:states:eu-west-1:123456789012:stateMachine:mtx-dev-transaction:live"
}

run "no_named_principal_no_redrive_role_and_still_nobody_else_reads" {
  command = plan

  assert {
    condition     = length(aws_iam_role.this) == 0
    error_message = "Without redrive_principal_arns there must be no redrive role."
  }

  assert {
    condition = anytrue([for s in data.aws_iam_policy_document.queue.statement : s.sid == "OnlyTheRedriveRoleAndTheArchiveRead" && s.effect == "Deny" && anytrue([
      for c in s.condition : c.test == "ArnNotEquals" && c.variable == "aws:PrincipalArn" && tolist(c.values) == tolist(["arn:aws:iam::123456789012:role/mtx-dev-dlq-redrive", "arn:aws:iam::123456789012:role/mtx-dev-archive-dead-letters"])
    ])])
    error_message = "The queue policy must deny reading to every principal but the redrive role and the archive function."
  }

  assert {
    condition = anytrue([for s in data.aws_iam_policy_document.queue.statement : s.sid == "OnlyTheDeadLetteringRolesSend" && s.effect == "Deny" && anytrue([
      for c in s.condition : c.test == "ArnNotEquals" && c.variable == "aws:PrincipalArn" && tolist(c.values) == var.dead_letter_sender_role_arns
    ])])
    error_message = "The queue policy must deny sending to every principal but the dead-lettering roles."
  }
}

run "named_principals_get_the_redrive_role_the_queue_policy_names" {
  command = plan

  variables {
    redrive_principal_arns = ["arn:aws:iam::123456789012:role/mtx-operators"]
  }

  assert {
    condition     = length(aws_iam_role.this) == 1 && aws_iam_role.this[0].name == "mtx-dev-dlq-redrive"
    error_message = "The redrive role must be created under the name the queue policy lets read."
  }

  assert {
    condition     = anytrue([for s in data.aws_iam_policy_document.redrive[0].statement : s.sid == "ReadRedrivenOutcomes" && tolist(s.resources) == tolist(["arn:aws:dynamodb:eu-west-1:123456789012:table/mtx-dev-execution-status"])])
    error_message = "The redrive role must read the execution status table the workflow writes (its outcomes), by its exact ARN."
  }

  assert {
    condition     = alltrue([for s in data.aws_iam_policy_document.redrive[0].statement : !contains(s.actions, "states:DescribeExecution")])
    error_message = "The redrive role must not need DescribeExecution (AWS has none for the Express transaction workflow)."
  }

  assert {
    condition     = flatten([for p in data.aws_iam_policy_document.redrive_assume[0].statement[0].principals : tolist(p.identifiers)]) == ["arn:aws:iam::123456789012:role/mtx-operators"]
    error_message = "The redrive role must trust the named principals and nobody else."
  }
}

run "an_account_root_is_refused" {
  command = plan

  variables {
    redrive_principal_arns = ["arn:aws:iam::123456789012:root"]
  }

  expect_failures = [var.redrive_principal_arns]
}

run "no_sender_is_refused" {
  command = plan

  variables {
    dead_letter_sender_role_arns = []
  }

  expect_failures = [var.dead_letter_sender_role_arns]
}
