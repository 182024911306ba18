# `terraform test` (offline: mocked provider) of the RDS Proxy: TLS required, one Secrets Manager auth
# entry per runtime role and never a master secret, a role that reads only those secrets, and a pool
# that holds every connection the functions behind it may open. Run by infra/scripts/tf_check.sh.

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
  name_prefix            = "mtx-dev"
  kms_key_arn            = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000"
  db_instance_identifier = "mtx-dev-compliance"
  db_max_connections     = 150
  subnet_ids             = ["subnet-00000000000000001", "subnet-00000000000000002"]
  security_group_id      = "sg-00000000000000003"
  secret_arns = {
    compliance_writer = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:mtx-dev/compliance-writer-abcdef"
    compliance_reader = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:mtx-dev/compliance-reader-abcdef"
  }
  client_connections_at_most = 100
}

run "the_proxy_requires_tls_and_authenticates_the_runtime_roles_only" {
  command = plan

  assert {
    condition     = aws_db_proxy.this[0].require_tls == true
    error_message = "The proxy must refuse clients without TLS."
  }

  assert {
    condition     = toset([for a in aws_db_proxy.this[0].auth : a.secret_arn]) == toset(values(var.secret_arns))
    error_message = "The proxy must authenticate exactly the runtime roles' secrets."
  }

  assert {
    condition     = alltrue([for a in aws_db_proxy.this[0].auth : a.auth_scheme == "SECRETS" && a.client_password_auth_type == "POSTGRES_SCRAM_SHA_256"])
    error_message = "Each auth entry must be a Secrets Manager secret with SCRAM between client and proxy."
  }

  assert {
    condition     = aws_db_proxy.this[0].debug_logging == false
    error_message = "Debug logging would write statements (and card numbers, IPs) to the logs."
  }

  assert {
    condition     = aws_db_proxy_target.this[0].db_instance_identifier == "mtx-dev-compliance"
    error_message = "The proxy's target must be the compliance instance."
  }
}

run "the_proxy_role_reads_only_those_secrets_and_decrypts_through_secrets_manager" {
  command = plan

  assert {
    condition     = toset(flatten([for s in data.aws_iam_policy_document.this.statement : s.resources if contains(s.actions, "secretsmanager:GetSecretValue")])) == toset(values(var.secret_arns))
    error_message = "The proxy's role must read the runtime roles' secrets and no other."
  }

  assert {
    condition = alltrue([for s in data.aws_iam_policy_document.this.statement : anytrue([
      for c in s.condition : c.variable == "kms:ViaService" && length(c.values) == 1 && contains(c.values, "secretsmanager.eu-west-1.amazonaws.com")
    ]) if contains(s.actions, "kms:Decrypt")])
    error_message = "The proxy's role may decrypt with the key only through Secrets Manager."
  }
}

run "a_master_secret_is_refused" {
  command = plan

  variables {
    secret_arns = {
      compliance_writer = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:mtx-dev/compliance-writer-abcdef"
      compliance_reader = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:mtx-dev/compliance-reader-abcdef"
      compliance_admin  = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:mtx-dev/compliance-db-abcdef"
    }
  }

  expect_failures = [var.secret_arns]
}

run "more_client_connections_than_the_pool_are_refused" {
  command = plan

  variables {
    client_connections_at_most = 121 # the pool: 80 % of 150 = 120
  }

  expect_failures = [aws_db_proxy_default_target_group.this]
}

run "no_instance_no_proxy" {
  command = plan

  variables {
    db_instance_identifier = null
  }

  assert {
    condition     = length(aws_db_proxy.this) == 0 && output.endpoint == null
    error_message = "With an external database (envs/local) no proxy is created and the roles log in directly."
  }
}
