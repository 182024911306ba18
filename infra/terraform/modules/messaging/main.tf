# The dead-letter queue and the alert topic of the manifest, KMS-encrypted.
# Step Functions sends a failed transaction (error attached) to the queue and
# publishes an alert; CloudWatch alarms publish to the same topic.
#
# A dead letter is a full transaction (card_last4, client_ip): the queue's policy
# lets only the roles that dead-letter send (var.dead_letter_sender_role_arns) and
# only the redrive role and the scheduled archive function (archive_dead_letters,
# module lambda: it moves letters older than a set age to the raw bucket before the
# queue's retention drops them) read or delete, whatever an identity policy of the
# account allows. The redrive role (`mtx redrive` run by an operator) is trusted by named
# principals only, with MFA; with none named it is not created and nobody can read
# the queue.

data "aws_caller_identity" "this" {}
data "aws_partition" "this" {}
data "aws_region" "this" {}

locals {
  account_id = data.aws_caller_identity.this.account_id
  partition  = data.aws_partition.this.partition
  region     = data.aws_region.this.name

  create_redrive_role = length(var.redrive_principal_arns) > 0
  redrive_role_name   = "${var.name_prefix}-dlq-redrive"
  # By name, so the queue's policy can name it whether or not the role exists (yet).
  redrive_role_arn = "arn:${local.partition}:iam::${local.account_id}:role/${local.redrive_role_name}"
  # The archive function's execution role, named as module lambda names it (the function's name).
  archiver_role_arn = "arn:${local.partition}:iam::${local.account_id}:role/${var.name_prefix}-archive-dead-letters"
  # Who may read the queue: the redrive role and the archive function, nobody else.
  reader_role_arns = [local.redrive_role_arn, local.archiver_role_arn]

  # What the redrive reads besides the queue (by name, as module storage and module tables name them):
  # the raw bucket's quarantine and archive, and the execution status item of each redriven transaction.
  raw_bucket_arn       = "arn:${local.partition}:s3:::${var.name_prefix}-raw"
  execution_status_arn = "arn:${local.partition}:dynamodb:${local.region}:${local.account_id}:table/${var.name_prefix}-execution-status"

  # What reading the queue takes: receive (and peek), settle (delete), hand back (visibility), purge.
  read_actions = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:PurgeQueue"]
}

# FIFO, each letter its own message group (no letter waits behind another; high-throughput mode), with
# deduplication: a send retried after its answer was lost is kept once (the transaction workflow relies on
# content-based deduplication, the Lambdas give each letter an identity: lambdas/common/dead_letters.py).
resource "aws_sqs_queue" "this" {
  name                              = "${var.name_prefix}-dead-letter.fifo"
  fifo_queue                        = true
  content_based_deduplication       = true
  deduplication_scope               = "messageGroup"
  fifo_throughput_limit             = "perMessageGroupId"
  message_retention_seconds         = var.message_retention_seconds
  visibility_timeout_seconds        = 60
  kms_master_key_id                 = var.kms_key_arn
  kms_data_key_reuse_period_seconds = 300
}

module "queue_secure_transport" {
  source = "../secure_transport"

  actions       = ["sqs:*"]
  resource_arns = [aws_sqs_queue.this.arn]
}

data "aws_iam_policy_document" "queue" {
  source_policy_documents = [module.queue_secure_transport.json]

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
    sid       = "OnlyTheRedriveRoleAndTheArchiveRead"
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
      values   = local.reader_role_arns
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

module "topic_secure_transport" {
  source = "../secure_transport"

  actions       = ["sns:Publish"]
  resource_arns = [aws_sns_topic.this.arn]
}

data "aws_iam_policy_document" "topic" {
  source_policy_documents = [module.topic_secure_transport.json]

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

  # AWS Budgets alerts (modules/monitoring budget.tf) publish as budgets.amazonaws.com, for this account's budgets
  statement {
    sid       = "BudgetsPublish"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.this.arn]
    principals {
      type        = "Service"
      identifiers = ["budgets.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.this.account_id]
    }
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${data.aws_partition.this.partition}:budgets::${data.aws_caller_identity.this.account_id}:*"]
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

# What `mtx dlq` calls (orchestration/cli/dlq.py): read and settle the dead letters, start the transaction
# workflow again, learn each outcome from the execution status item (no DescribeExecution: AWS has
# none for Express workflows; a new dead letter of the execution is the other outcome), park letters
# that failed every redrive and replay archived ones (archive/ of the raw bucket).
data "aws_iam_policy_document" "redrive" {
  count = local.create_redrive_role ? 1 : 0

  statement {
    sid       = "ReadAndSettleDeadLetters"
    actions   = concat(["sqs:GetQueueUrl", "sqs:GetQueueAttributes"], local.read_actions)
    resources = [aws_sqs_queue.this.arn]
  }

  # Quarantined files and records (rejected/) and kept letters (archive/) are read by this role alone
  # (module storage's bucket policy).
  statement {
    sid       = "ReadQuarantineAndArchive"
    actions   = ["s3:GetObject", "s3:GetObjectVersion"]
    resources = ["${local.raw_bucket_arn}/rejected/*", "${local.raw_bucket_arn}/archive/*"]
  }

  statement {
    sid       = "ListArchive"
    actions   = ["s3:ListBucket"]
    resources = [local.raw_bucket_arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["archive/*"]
    }
  }

  statement {
    sid       = "ParkDeadLetters"
    actions   = ["s3:PutObject"]
    resources = ["${local.raw_bucket_arn}/archive/parked/*"]
  }

  # An archived letter replayed and settled (stored, or in the queue again) leaves the archive.
  statement {
    sid       = "SettleReplayedLetters"
    actions   = ["s3:DeleteObject"]
    resources = ["${local.raw_bucket_arn}/archive/dead-letters/*"]
  }

  statement {
    sid       = "ReadRedrivenOutcomes"
    actions   = ["dynamodb:BatchGetItem"]
    resources = [local.execution_status_arn]
  }

  statement {
    sid       = "UseTheDataKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.kms_key_arn]
  }

  # The alias (the version it routes to runs); the unqualified ARN too until `mtx redrive` starts the alias
  # (orchestration/dlq.py takes the state machine ARN of contracts/config.py Settings).
  statement {
    sid       = "StartTheWorkflowAgain"
    actions   = ["states:StartExecution"]
    resources = [var.redrive_alias_arn, var.redrive_state_machine_arn]
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
