# The five buckets of the manifest (orchestration/manifest.py), named exactly as
# orchestration/settings.py names them. Every bucket: versioning, SSE-KMS with a
# bucket key, all public access blocked, ACLs disabled, TLS-only policy, and
# lifecycle rules.

locals {
  buckets = {
    raw           = "${var.name_prefix}-raw"
    analytics     = "${var.name_prefix}-analytics"
    curated       = "${var.name_prefix}-curated"
    glue_scripts  = "${var.name_prefix}-glue-scripts"
    query_results = "${var.name_prefix}-query-results"
  }

  # Per-bucket expirations (days) of object prefixes; null keeps objects.
  expirations = {
    raw           = { prefix = "incoming/", days = var.raw_incoming_expiration_days }
    analytics     = { prefix = "", days = null }
    curated       = { prefix = "", days = null }
    glue_scripts  = { prefix = "tmp/", days = 7 }
    query_results = { prefix = "", days = var.query_results_expiration_days }
  }
}

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
    for_each = local.expirations[each.key].days == null ? [] : [local.expirations[each.key]]
    content {
      id     = "expire-${rule.value.prefix == "" ? "all" : trimsuffix(rule.value.prefix, "/")}"
      status = "Enabled"
      filter {
        prefix = rule.value.prefix
      }
      expiration {
        days = rule.value.days
      }
    }
  }

  depends_on = [aws_s3_bucket_versioning.this]
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
