# The five buckets of the manifest (orchestration/runtime/resources.py), named exactly as
# contracts/config.py names them. Every bucket: versioning, SSE-KMS with the
# environment's customer managed key and a bucket key, all public access blocked,
# ACLs disabled, a policy that denies non-TLS requests and uploads that ask for any
# other encryption than that key, and lifecycle rules (transient prefixes expire).
#
# Writers should send no encryption header at all: the bucket default (the key
# below) applies. A request that names an encryption is denied unless it names
# exactly aws:kms with this key (its ARN or key id).

locals {
  buckets = {
    raw           = "${var.name_prefix}-raw"
    analytics     = "${var.name_prefix}-analytics"
    curated       = "${var.name_prefix}-curated"
    glue_scripts  = "${var.name_prefix}-glue-scripts"
    query_results = "${var.name_prefix}-query-results"
  }

  # Per-bucket expirations of object prefixes ("" = the whole bucket). noncurrent_days: how long a
  # version replaced or deleted under the prefix is kept (null: var.noncurrent_version_expiration_days,
  # the bucket-wide rule). Transient prefixes of the raw bucket hold full records (card_last4,
  # client_ip): chunks/ are re-creatable from incoming/, rejected/ (quarantined files and records)
  # is kept long enough to investigate, then goes.
  expirations = {
    raw = [
      { prefix = "incoming/", days = var.raw_incoming_expiration_days, noncurrent_days = null },
      { prefix = "chunks/", days = var.raw_chunks_expiration_days, noncurrent_days = 1 },
      { prefix = "rejected/", days = var.raw_rejected_expiration_days, noncurrent_days = 1 },
    ]
    analytics     = []
    curated       = []
    glue_scripts  = [{ prefix = "tmp/", days = 7, noncurrent_days = 1 }]
    query_results = [{ prefix = "", days = var.query_results_expiration_days, noncurrent_days = null }]
  }

  # The key id (the last part of the key ARN): a writer may name the key either way.
  kms_key_id = regex("[^/]+$", var.kms_key_arn)

  # Quarantine (rejected/ of the raw bucket: whole files and single records, card and IP included) and the
  # kept dead letters (archive/dead-letters/: archived before the queue's retention drops them;
  # archive/parked/: failed every redrive) are read by the redrive role alone (module messaging names it
  # the same way), like the dead-letter queue. archive/ has no expiration rule: it is the record of what
  # failed, kept until an operator replays or removes it.
  quarantine_reader_arn = "arn:${data.aws_partition.this.partition}:iam::${data.aws_caller_identity.this.account_id}:role/${var.name_prefix}-dlq-redrive"
}

data "aws_caller_identity" "this" {}
data "aws_partition" "this" {}

resource "aws_s3_bucket" "this" {
  for_each = local.buckets

  bucket        = each.value
  force_destroy = var.force_destroy

  # checkov:skip=CKV_AWS_18: object access is recorded by CloudTrail data events of the account's trail; server access logs would need a sixth, unencrypted-by-KMS bucket outside the manifest
  # checkov:skip=CKV_AWS_144: single-region pipeline; versioning, the curated copy and re-ingestion from producers cover recovery, cross-region replication is a DR decision per account
  # checkov:skip=CKV2_AWS_62: only the raw bucket starts work on new objects (EventBridge notification below); the other buckets are written by the pipeline itself
}

resource "aws_s3_bucket_ownership_controls" "this" {
  for_each = local.buckets

  bucket = aws_s3_bucket.this[each.key].id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "this" {
  for_each = local.buckets

  bucket                  = aws_s3_bucket.this[each.key].id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "this" {
  for_each = local.buckets

  bucket = aws_s3_bucket.this[each.key].id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  for_each = local.buckets

  bucket = aws_s3_bucket.this[each.key].id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = var.kms_key_arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "this" {
  for_each = local.buckets

  bucket = aws_s3_bucket.this[each.key].id

  rule {
    id     = "abort-incomplete-uploads-and-expire-old-versions"
    status = "Enabled"
    filter {}
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_expiration_days
    }
  }

  dynamic "rule" {
    for_each = local.expirations[each.key]
    content {
      id     = "expire-${rule.value.prefix == "" ? "all" : trimsuffix(rule.value.prefix, "/")}"
      status = "Enabled"
      filter {
        prefix = rule.value.prefix
      }
      expiration {
        days = rule.value.days
      }
      dynamic "noncurrent_version_expiration" {
        for_each = rule.value.noncurrent_days == null ? [] : [rule.value.noncurrent_days]
        content {
          noncurrent_days = noncurrent_version_expiration.value
        }
      }
    }
  }

  depends_on = [aws_s3_bucket_versioning.this]

  # checkov:skip=CKV_AWS_300: false positive: where the dynamic block yields several rules (the raw bucket's three prefix expirations) checkov's renderer drops the static rule above, which aborts incomplete multipart uploads after 7 days on every bucket (filter {}); tests/unit/infra/test_encryption_and_trust.py asserts that rule
}

data "aws_iam_policy_document" "this" {
  for_each = local.buckets

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.this[each.key].arn, "${aws_s3_bucket.this[each.key].arn}/*"]
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

  # Uploads (PutObject, CopyObject, CreateMultipartUpload) that name an encryption other than
  # SSE-KMS with this bucket's key. Each statement holds only when its header is present: a
  # StringLike "*" on a key absent from the request is false (IAM), so a request without
  # encryption headers gets the bucket default and passes. StringNotEquals or
  # StringNotEqualsIfExists alone are true when the header is absent: they would deny exactly
  # those requests. (StringLike "*" rather than Null = false, which IAM reads the same: the
  # local stack's moto evaluates a positive operator on an absent key as no match, see
  # orchestration/runtime/moto_server.py, and Null as a match, which would deny every upload.)
  statement {
    sid       = "DenyUploadsAskingForAnotherEncryption"
    effect    = "Deny"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.this[each.key].arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "StringLike"
      variable = "s3:x-amz-server-side-encryption"
      values   = ["*"]
    }
    condition {
      test     = "StringNotEquals"
      variable = "s3:x-amz-server-side-encryption"
      values   = ["aws:kms"]
    }
  }

  statement {
    sid       = "DenyUploadsAskingForAnotherKmsKey"
    effect    = "Deny"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.this[each.key].arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "StringLike"
      variable = "s3:x-amz-server-side-encryption-aws-kms-key-id"
      values   = ["*"]
    }
    condition {
      test     = "StringNotEquals"
      variable = "s3:x-amz-server-side-encryption-aws-kms-key-id"
      values   = [var.kms_key_arn, local.kms_key_id]
    }
  }

  # "aws:kms" without a key id means the AWS managed key aws/s3, not the bucket's key.
  statement {
    sid       = "DenyUploadsAskingForTheAwsManagedKey"
    effect    = "Deny"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.this[each.key].arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "StringEquals"
      variable = "s3:x-amz-server-side-encryption"
      values   = ["aws:kms"]
    }
    condition {
      test     = "Null"
      variable = "s3:x-amz-server-side-encryption-aws-kms-key-id"
      values   = ["true"]
    }
  }

  # Customer-provided keys (SSE-C): objects the bucket's key does not protect.
  statement {
    sid       = "DenyUploadsWithCustomerProvidedKeys"
    effect    = "Deny"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.this[each.key].arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "StringLike"
      variable = "s3:x-amz-server-side-encryption-customer-algorithm"
      values   = ["*"]
    }
  }

  dynamic "statement" {
    for_each = each.key == "raw" ? [1] : []
    content {
      sid       = "OnlyTheRedriveRoleReadsQuarantineAndArchive"
      effect    = "Deny"
      actions   = ["s3:GetObject", "s3:GetObjectVersion"]
      resources = ["${aws_s3_bucket.this[each.key].arn}/rejected/*", "${aws_s3_bucket.this[each.key].arn}/archive/*"]
      principals {
        type        = "*"
        identifiers = ["*"]
      }
      condition {
        test     = "ArnNotEquals"
        variable = "aws:PrincipalArn"
        values   = [local.quarantine_reader_arn]
      }
    }
  }

  statement {
    sid       = "DenyOutdatedTls"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.this[each.key].arn, "${aws_s3_bucket.this[each.key].arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "NumericLessThan"
      variable = "s3:TlsVersion"
      values   = ["1.2"]
    }
  }
}

resource "aws_s3_bucket_policy" "this" {
  for_each = local.buckets

  bucket = aws_s3_bucket.this[each.key].id
  policy = data.aws_iam_policy_document.this[each.key].json

  depends_on = [aws_s3_bucket_public_access_block.this]
}

# New batch files (incoming/*.ndjson) are routed by EventBridge (module triggers).
resource "aws_s3_bucket_notification" "this" {
  bucket      = aws_s3_bucket.this["raw"].id
  eventbridge = true
}
