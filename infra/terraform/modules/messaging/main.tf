# The dead-letter queue and the alert topic of the manifest, KMS-encrypted.
# Step Functions sends a failed transaction (error attached) to the queue and
# publishes an alert; CloudWatch alarms publish to the same topic.
#
# A dead letter is a full transaction (card_last4, client_ip): the queue's policy
# lets only the roles that dead-letter send (var.dead_letter_sender_role_arns) and
# only the redrive role read or delete, whatever an identity policy of the account
# allows. The redrive role (`mtx redrive` run by an operator) is trusted by named
# principals only, with MFA; with none named it is not created and nobody can read
# the queue.

data "aws_caller_identity" "this" {}
data "aws_partition" "this" {}

locals {
  account_id = data.aws_caller_identity.this.account_id
  partition  = data.aws_partition.this.partition

  create_redrive_role = length(var.redrive_principal_arns) > 0
  redrive_role_name   = "${var.name_prefix}-dlq-redrive"
  # By name, so the queue's policy can name it whether or not the role exists (yet).
  redrive_role_arn = "arn:${local.partition}:iam::${local.account_id}:role/${local.redrive_role_name}"

  # What reading the queue takes: receive (and peek), settle (delete), hand back (visibility), purge.
  read_actions = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:PurgeQueue"]
}

resource "aws_sqs_queue" "this" {
  name                              = "${var.name_prefix}-dead-letter"
  message_retention_seconds         = var.message_retention_seconds
  visibility_timeout_seconds        = 60
  kms_master_key_id                 = var.kms_key_arn
  kms_data_key_reuse_period_seconds = 300
}

data "aws_iam_policy_document" "queue" {
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["sqs:*"]
    resources = [aws_sqs_queue.this.arn]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }

  statement {
    sid       = "OnlyTheDeadLetteringRolesSend"
    effect    = "Deny"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.this.arn]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "ArnNotEquals"
      variable = "aws:PrincipalArn"
      values   = var.dead_letter_sender_role_arns
    }
  }

  statement {
    sid       = "OnlyTheRedriveRoleReads"
    effect    = "Deny"
    actions   = local.read_actions
    resources = [aws_sqs_queue.this.arn]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "ArnNotEquals"
      variable = "aws:PrincipalArn"
      values   = [local.redrive_role_arn]
    }
  }
}

resource "aws_sqs_queue_policy" "this" {
  queue_url = aws_sqs_queue.this.id
  policy    = data.aws_iam_policy_document.queue.json
}

resource "aws_sns_topic" "this" {
  name              = "${var.name_prefix}-alerts"
  kms_master_key_id = var.kms_key_arn
}

data "aws_iam_policy_document" "topic" {
  statement {
    sid       = "CloudWatchAlarmsPublish"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.this.arn]
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.this.account_id]
    }
  }

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.this.arn]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_sns_topic_policy" "this" {
  arn    = aws_sns_topic.this.arn
  policy = data.aws_iam_policy_document.topic.json
}

resource "aws_sns_topic_subscription" "this" {
  count = var.alert_email == null ? 0 : 1

  topic_arn = aws_sns_topic.this.arn
  protocol  = "email"
  endpoint  = var.alert_email
}

# --- the redrive role ------------------------------------------------------------------------

data "aws_iam_policy_document" "redrive_assume" {
  count = local.create_redrive_role ? 1 : 0

  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "AWS"
      identifiers = var.redrive_principal_arns
    }
    condition {
      test     = "Bool"
      variable = "aws:MultiFactorAuthPresent"
      values   = ["true"]
    }
  }
}

# What `mtx redrive` / `mtx dlq` call (orchestration/dlq.py): read and settle the dead letters,
# start the transaction workflow again and watch its executions.
data "aws_iam_policy_document" "redrive" {
  count = local.create_redrive_role ? 1 : 0

  statement {
    sid       = "ReadAndSettleDeadLetters"
    actions   = concat(["sqs:GetQueueUrl", "sqs:GetQueueAttributes"], local.read_actions)
    resources = [aws_sqs_queue.this.arn]
  }

  # Quarantined files and records (rejected/ of the raw bucket) are read by this role alone (module storage).
  statement {
    sid       = "ReadQuarantine"
    actions   = ["s3:GetObject", "s3:GetObjectVersion"]
    resources = ["arn:${local.partition}:s3:::${var.name_prefix}-raw/rejected/*"]
  }

  statement {
    sid       = "DecryptDeadLetters"
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]
  }

  statement {
    sid       = "StartTheWorkflowAgain"
    actions   = ["states:StartExecution"]
    resources = [var.redrive_state_machine_arn]
  }

  # Executions of a Standard state machine are execution:<name>:<id>, of an Express one express:<name>:<id>:<id>.
  statement {
    sid     = "WatchTheRedrivenExecutions"
    actions = ["states:DescribeExecution"]
    resources = [
      "${replace(var.redrive_state_machine_arn, ":stateMachine:", ":execution:")}:*",
      "${replace(var.redrive_state_machine_arn, ":stateMachine:", ":express:")}:*",
    ]
  }
}

# The redrive role (the module's only role).
resource "aws_iam_role" "this" {
  count = local.create_redrive_role ? 1 : 0

  name                 = local.redrive_role_name
  description          = "Operators: read the dead-letter queue and redrive it into the transaction workflow (mtx redrive)"
  assume_role_policy   = data.aws_iam_policy_document.redrive_assume[0].json
  max_session_duration = 3600
}

resource "aws_iam_role_policy" "this" {
  count = local.create_redrive_role ? 1 : 0

  name   = "redrive-dead-letters"
  role   = aws_iam_role.this[0].id
  policy = data.aws_iam_policy_document.redrive[0].json
}
