provider "aws" {
  region              = var.region
  allowed_account_ids = length(var.allowed_account_ids) > 0 ? var.allowed_account_ids : null

  # Cost-allocation tags on every taggable resource (activate them once in
  # Billing > Cost allocation tags).
  default_tags {
    tags = local.tags
  }
}

# Cost-allocation tags on every resource, through the provider's default_tags (the root's: a
# provider cannot take a value from a module that uses it).
locals {
  tags = merge(var.extra_tags, {
    Project     = var.project
    Environment = var.environment
    CostCenter  = var.cost_center
    Owner       = var.owner
    ManagedBy   = "terraform"
    Repository  = "mtx-pipeline"
  })
}
