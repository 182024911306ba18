# One customer managed key per environment for the pipeline's data at rest:
# S3, DynamoDB, SQS, SNS, CloudWatch Logs, Secrets Manager, Lambda environment
# variables, RDS, Redshift Serverless and Glue. Principals of the account get
# access only through their IAM policies (each role names this key's ARN);
# the service principals below need the key policy itself: CloudWatch Logs
# (every log group of the account's region, by encryption context), CloudWatch
# alarms and AWS Budgets (the alert topic) and EventBridge (the queue of undelivered file events).

data "aws_caller_identity" "this" {}
data "aws_partition" "this" {}
data "aws_region" "this" {}

locals {
  account_id = data.aws_caller_identity.this.account_id
  partition  = data.aws_partition.this.partition
  region     = data.aws_region.this.name
}

data "aws_iam_policy_document" "this" {
  # checkov:skip=CKV_AWS_109: key policy: "*" is this key, and the root statement only delegates key administration to IAM policies (AWS's default key policy)
  # checkov:skip=CKV_AWS_111: key policy: "*" is this key, and the root statement only delegates key use to IAM policies (AWS's default key policy)
  # checkov:skip=CKV_AWS_356: key policy: "*" is this key, a key policy cannot name anything narrower

  statement {
    sid = "AccountAdministersAndUsesTheKeyThroughIam"
    # AWS's default key-administrator and key-user actions, spelled out (no kms:*)
    actions = [
      "kms:Create*",
      "kms:Describe*",
      "kms:Enable*",
      "kms:List*",
      "kms:Put*",
      "kms:Update*",
      "kms:Revoke*",
      "kms:Disable*",
      "kms:Get*",
      "kms:Delete*",
      "kms:TagResource",
      "kms:UntagResource",
      "kms:ScheduleKeyDeletion",
      "kms:CancelKeyDeletion",
      "kms:RotateKeyOnDemand",
      "kms:Encrypt",
      "kms:Decrypt",
      "kms:ReEncrypt*",
      "kms:GenerateDataKey*",
    ]
    resources = ["*"] # in a key policy, "*" means this key
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  statement {
    sid = "CloudWatchLogsEncryptsLogGroupsOfThisEnvironment"
    actions = [
      "kms:Encrypt*",
      "kms:Decrypt*",
      "kms:ReEncrypt*",
      "kms:GenerateDataKey*",
      "kms:Describe*",
    ]
    resources = ["*"] # in a key policy, "*" means this key
    principals {
      type        = "Service"
      identifiers = ["logs.${local.region}.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:*"]
    }
  }

  # Publishers and senders that are AWS services, not roles of this account: they need the key
  # policy itself. Roles (state machines, functions, the redrive role) get the key through their
  # IAM policies (statement above), and SQS, SNS and S3 use the key on behalf of those callers.
  statement {
    sid       = "CloudWatchAlarmsPublishToTheEncryptedAlertTopic"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = ["*"] # in a key policy, "*" means this key
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }

  statement {
    sid       = "BudgetsPublishToTheEncryptedAlertTopic"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = ["*"] # in a key policy, "*" means this key
    principals {
      type        = "Service"
      identifiers = ["budgets.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }

  statement {
    sid       = "EventBridgeDeliversToTheEncryptedQueuesAndTopic"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = ["*"] # in a key policy, "*" means this key
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_kms_key" "this" {
  description             = "${var.name_prefix}: MTX pipeline data at rest"
  enable_key_rotation     = true
  rotation_period_in_days = 365
  deletion_window_in_days = var.deletion_window_in_days
  policy                  = data.aws_iam_policy_document.this.json
}

resource "aws_kms_alias" "this" {
  name          = "alias/${var.name_prefix}-data"
  target_key_id = aws_kms_key.this.key_id
}
