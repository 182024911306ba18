# RDS Proxy between the runtime Lambdas and the compliance database. A burst of Lambda containers
# (each holding its own connection) is multiplexed onto a bounded pool of database connections, and
# a Multi-AZ failover is absorbed by the proxy instead of by every function's connections.
#
# - Authentication: Secrets Manager, one auth entry per runtime database role (modules/database_roles:
#   compliance_writer, compliance_reader). The master secret is never registered: the only function
#   that logs in as the master user (migrate_databases, at deploy time) connects to RDS directly.
# - TLS is required between the clients and the proxy (the proxy's certificate is issued by ACM and
#   chains to the Amazon root CAs, shipped in the functions' CA bundle: lambdas/common/certs/).
# - The proxy's role reads those secrets and nothing else; it decrypts them with the CMK only through
#   Secrets Manager.
# - Connections: the pool may use at most max_connections_percent of the instance's max_connections
#   (fixed in modules/database's parameter group). The functions that log in through the proxy have
#   reserved concurrency (modules/lambda database_reserved_concurrency); at one connection per
#   container, their sum is what the proxy can be asked for at once, and a precondition keeps it
#   within the pool (infra/README.md "Database connections").
#
# With no RDS instance (envs/local: an external PostgreSQL) nothing is created and the runtime roles
# log in to the database directly.

data "aws_caller_identity" "this" {}
data "aws_region" "this" {}

locals {
  create = var.db_instance_identifier != null
  name   = "${var.name_prefix}-compliance"
  # The connections the pool may open: max_connections_percent of the instance's max_connections.
  pool_connections = floor(var.db_max_connections * var.max_connections_percent / 100)
}

resource "aws_cloudwatch_log_group" "this" {
  count = local.create ? 1 : 0

  name              = "/aws/rds/proxy/${local.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["rds.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.this.account_id]
    }
  }
}

data "aws_iam_policy_document" "this" {
  statement {
    sid       = "ReadRuntimeRoleSecrets"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = values(var.secret_arns)
  }

  statement {
    sid       = "DecryptSecretsThroughSecretsManager"
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${data.aws_region.this.name}.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "this" {
  count = local.create ? 1 : 0

  name               = "${local.name}-proxy"
  description        = "RDS Proxy of the compliance database: reads the runtime roles' secrets"
  assume_role_policy = data.aws_iam_policy_document.assume.json
}

resource "aws_iam_role_policy" "this" {
  count = local.create ? 1 : 0

  name   = "${local.name}-proxy-secrets"
  role   = aws_iam_role.this[0].id
  policy = data.aws_iam_policy_document.this.json
}

resource "aws_db_proxy" "this" {
  count = local.create ? 1 : 0

  name                   = local.name
  engine_family          = "POSTGRESQL"
  role_arn               = aws_iam_role.this[0].arn
  vpc_subnet_ids         = var.subnet_ids
  vpc_security_group_ids = [var.security_group_id]
  require_tls            = true
  idle_client_timeout    = var.idle_client_timeout_seconds
  debug_logging          = false # debug logs would hold statements, and their parameters hold card numbers and IPs

  dynamic "auth" {
    for_each = var.secret_arns
    content {
      description               = "${auth.key}: the runtime role's own secret"
      auth_scheme               = "SECRETS"
      secret_arn                = auth.value
      iam_auth                  = "DISABLED"
      client_password_auth_type = "POSTGRES_SCRAM_SHA_256"
    }
  }

  depends_on = [aws_cloudwatch_log_group.this, aws_iam_role_policy.this]
}

resource "aws_db_proxy_default_target_group" "this" {
  count = local.create ? 1 : 0

  db_proxy_name = aws_db_proxy.this[0].name

  connection_pool_config {
    max_connections_percent      = var.max_connections_percent
    max_idle_connections_percent = var.max_idle_connections_percent
    connection_borrow_timeout    = var.connection_borrow_timeout_seconds
  }

  lifecycle {
    precondition {
      condition     = var.client_connections_at_most <= local.pool_connections
      error_message = "The functions behind the proxy may open ${var.client_connections_at_most} connections at once (reserved concurrency x connections each), more than the pool's ${local.pool_connections} (${var.max_connections_percent} % of max_connections ${var.db_max_connections}): lower database_reserved_concurrency or raise db_max_connections."
    }
  }
}

resource "aws_db_proxy_target" "this" {
  count = local.create ? 1 : 0

  db_proxy_name          = aws_db_proxy.this[0].name
  target_group_name      = aws_db_proxy_default_target_group.this[0].name
  db_instance_identifier = var.db_instance_identifier
}
