# The warehouse: Redshift Serverless namespace and workgroup in the private
# subnets, a COPY role for curated Parquet, an analysts role (Data API and
# temporary credentials, read-only by database grants), and the secret
# "<name_prefix>/warehouse-db" (host, port, username, password, dbname) that dbt
# and the Glue job read. The admin password is write-only, like RDS's.
#
# With external_connection set (envs/local: the local stack's PostgreSQL stands
# in for Redshift, as dbt's local target does) no namespace, workgroup or
# analysts role is created: the secret holds that connection instead.
#
# The analysts role trusts the principals named in analyst_principal_arns only
# (roles or users, with MFA); with none named there is no analysts role, never a
# trust of the whole account.

data "aws_caller_identity" "this" {}
data "aws_region" "this" {}

locals {
  create      = var.external_connection == null
  analysts    = local.create && length(var.analyst_principal_arns) > 0
  account_id  = data.aws_caller_identity.this.account_id
  region      = data.aws_region.this.name
  name        = "${var.name_prefix}-warehouse"
  secret_name = "${var.name_prefix}/warehouse-db"
  db_name     = "warehouse"
  username    = "mtx_admin"
  port        = 5439
}

ephemeral "aws_secretsmanager_random_password" "this" {
  password_length     = 40
  exclude_punctuation = true
}

# --- COPY role (namespace default role) -------------------------------------------------

data "aws_iam_policy_document" "copy_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["redshift.amazonaws.com", "redshift-serverless.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

data "aws_iam_policy_document" "copy" {
  statement {
    sid       = "ListCurated"
    actions   = ["s3:ListBucket", "s3:GetBucketLocation"]
    resources = [var.curated_bucket_arn]
  }

  statement {
    sid       = "ReadCuratedParquet"
    actions   = ["s3:GetObject"]
    resources = ["${var.curated_bucket_arn}/*"]
  }

  statement {
    sid       = "DecryptCurated"
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]
  }
}

resource "aws_iam_role" "copy" {
  name               = "${local.name}-copy"
  description        = "Redshift Serverless COPY from the curated bucket"
  assume_role_policy = data.aws_iam_policy_document.copy_assume.json
}

resource "aws_iam_role_policy" "copy" {
  name   = "copy-curated-parquet"
  role   = aws_iam_role.copy.id
  policy = data.aws_iam_policy_document.copy.json
}

# --- namespace and workgroup ---------------------------------------------------------------

resource "aws_redshiftserverless_namespace" "this" {
  count = local.create ? 1 : 0

  namespace_name                 = local.name
  db_name                        = local.db_name
  admin_username                 = local.username
  admin_user_password_wo         = ephemeral.aws_secretsmanager_random_password.this.random_password
  admin_user_password_wo_version = var.admin_password_version
  kms_key_id                     = var.kms_key_arn
  iam_roles                      = [aws_iam_role.copy.arn]
  default_iam_role_arn           = aws_iam_role.copy.arn
  log_exports                    = ["userlog", "connectionlog", "useractivitylog"]
}

resource "aws_redshiftserverless_workgroup" "this" {
  count = local.create ? 1 : 0

  workgroup_name       = local.name
  namespace_name       = aws_redshiftserverless_namespace.this[0].namespace_name
  base_capacity        = var.base_capacity
  max_capacity         = var.max_capacity
  subnet_ids           = var.subnet_ids
  security_group_ids   = [var.security_group_id]
  publicly_accessible  = false
  enhanced_vpc_routing = true
  port                 = local.port

  config_parameter {
    parameter_key   = "require_ssl"
    parameter_value = "true"
  }

  config_parameter {
    parameter_key   = "enable_user_activity_logging"
    parameter_value = "true"
  }
}

# --- warehouse secret --------------------------------------------------------------------------

resource "aws_secretsmanager_secret" "this" {
  name                    = local.secret_name
  description             = "Connection of the Redshift Serverless warehouse (host, port, username, password, dbname) read by dbt and the Glue job"
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = 7

  # checkov:skip=CKV2_AWS_57: the password is rotated by bumping admin_password_version (write-only to the namespace and this secret in one apply); a rotation Lambda would need its own VPC access and code outside this repository
}

resource "aws_secretsmanager_secret_version" "this" {
  secret_id = aws_secretsmanager_secret.this.id
  secret_string_wo = jsonencode(local.create ? {
    engine   = "redshift"
    host     = aws_redshiftserverless_workgroup.this[0].endpoint[0].address
    port     = local.port
    username = local.username
    password = ephemeral.aws_secretsmanager_random_password.this.random_password
    dbname   = local.db_name
    } : {
    engine   = "postgres"
    host     = var.external_connection.host
    port     = var.external_connection.port
    username = var.external_connection.username
    password = var.external_password
    dbname   = var.external_connection.dbname
  })
  secret_string_wo_version = var.admin_password_version
}

# --- analysts role ---------------------------------------------------------------------------------

data "aws_iam_policy_document" "analysts_assume" {
  count = local.analysts ? 1 : 0

  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "AWS"
      identifiers = var.analyst_principal_arns
    }
    condition {
      test     = "Bool"
      variable = "aws:MultiFactorAuthPresent"
      values   = ["true"]
    }
  }
}

data "aws_iam_policy_document" "analysts" {
  count = local.analysts ? 1 : 0

  statement {
    sid       = "TemporaryDatabaseCredentials"
    actions   = ["redshift-serverless:GetCredentials"]
    resources = [aws_redshiftserverless_workgroup.this[0].arn]
  }

  statement {
    sid       = "RunQueriesOnTheWorkgroup"
    actions   = ["redshift-data:ExecuteStatement", "redshift-data:BatchExecuteStatement"]
    resources = [aws_redshiftserverless_workgroup.this[0].arn]
  }

  statement {
    sid       = "ReadOwnStatements"
    actions   = ["redshift-data:DescribeStatement", "redshift-data:GetStatementResult", "redshift-data:CancelStatement", "redshift-data:ListStatements"]
    resources = ["*"] # the Data API's statement calls support no resource-level permissions; the condition keeps them to the caller's own statements
    condition {
      test     = "StringEquals"
      variable = "redshift-data:statement-owner-iam-userid"
      values   = ["$${aws:userid}"]
    }
  }

  statement {
    sid       = "ReadQueryResults"
    actions   = ["s3:GetObject", "s3:ListBucket"]
    resources = [var.query_results_bucket_arn, "${var.query_results_bucket_arn}/*"]
  }

  statement {
    sid       = "DecryptQueryResults"
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]
  }
}

resource "aws_iam_role" "analysts" {
  count = local.analysts ? 1 : 0

  name                 = "${var.name_prefix}-analysts"
  description          = "SQL analysts: query the marts through the Redshift Data API or temporary credentials"
  assume_role_policy   = data.aws_iam_policy_document.analysts_assume[0].json
  max_session_duration = 14400
}

resource "aws_iam_role_policy" "analysts" {
  count = local.analysts ? 1 : 0

  name   = "query-the-warehouse"
  role   = aws_iam_role.analysts[0].id
  policy = data.aws_iam_policy_document.analysts[0].json
}
