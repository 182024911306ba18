# One policy statement, built once for every resource policy that needs it: deny any request on the
# given resources that does not come over TLS (aws:SecureTransport false), whoever makes it. The queue
# and topic policies (modules messaging, lambda, triggers) add it with source_policy_documents.

data "aws_iam_policy_document" "this" {
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = var.actions
    resources = var.resource_arns
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
