# `terraform test` (offline: mocked provider): the analysts role trusts named
# principals only, and does not exist without them. Run by infra/scripts/tf_check.sh.

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
}

variables {
  name_prefix              = "mtx-dev"
  kms_key_arn              = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000"
  subnet_ids               = ["subnet-1", "subnet-2", "subnet-3"]
  security_group_id        = "sg-1"
  curated_bucket_arn       = "arn:aws:s3:::mtx-dev-curated"
  query_results_bucket_arn = "arn:aws:s3:::mtx-dev-query-results"
}

run "no_named_principal_no_analysts_role" {
  command = plan

  assert {
    condition     = length(aws_iam_role.analysts) == 0 && length(data.aws_iam_policy_document.analysts_assume) == 0
    error_message = "Without analyst_principal_arns there must be no analysts role (never a trust of the account root)."
  }
}

run "named_principals_only" {
  command = plan

  variables {
    analyst_principal_arns = ["arn:aws:iam::123456789012:role/data-analysts"]
  }

  assert {
    condition     = length(aws_iam_role.analysts) == 1
    error_message = "Named analysts get the role."
  }

  assert {
    condition     = flatten([for p in data.aws_iam_policy_document.analysts_assume[0].statement[0].principals : tolist(p.identifiers)]) == ["arn:aws:iam::123456789012:role/data-analysts"]
    error_message = "The analysts role must trust the named principals and nobody else."
  }
}

run "an_account_root_is_refused" {
  command = plan

  variables {
    analyst_principal_arns = ["arn:aws:iam::123456789012:root"]
  }

  expect_failures = [var.analyst_principal_arns]
}
