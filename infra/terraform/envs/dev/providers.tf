provider "aws" {
  region              = var.region
  allowed_account_ids = length(var.allowed_account_ids) > 0 ? var.allowed_account_ids : null

  # Cost-allocation tags on every taggable resource (activate them once in
  # Billing > Cost allocation tags).
  default_tags {
    tags = local.tags
  }
}
