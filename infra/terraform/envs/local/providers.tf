# The AWS provider pointed at the local moto server (orchestration/runtime/moto_server.py):
# every service endpoint is var.aws_endpoint_url, and nothing is asked of real AWS
# (no credential check, no account lookup). The credentials are moto's fake ones,
# from the environment `mtx up --terraform` gives terraform (AWS_ACCESS_KEY_ID...).
provider "aws" {
  region = var.region

  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
  s3_use_path_style           = true

  endpoints {
    apigateway         = var.aws_endpoint_url
    budgets            = var.aws_endpoint_url
    cloudwatch         = var.aws_endpoint_url
    cloudwatchevents   = var.aws_endpoint_url
    cloudwatchlogs     = var.aws_endpoint_url
    dynamodb           = var.aws_endpoint_url
    ec2                = var.aws_endpoint_url
    ecr                = var.aws_endpoint_url
    events             = var.aws_endpoint_url
    glue               = var.aws_endpoint_url
    iam                = var.aws_endpoint_url
    kinesis            = var.aws_endpoint_url
    kms                = var.aws_endpoint_url
    lambda             = var.aws_endpoint_url
    logs               = var.aws_endpoint_url
    rds                = var.aws_endpoint_url
    redshiftserverless = var.aws_endpoint_url
    s3                 = var.aws_endpoint_url
    scheduler          = var.aws_endpoint_url
    secretsmanager     = var.aws_endpoint_url
    sfn                = var.aws_endpoint_url
    sns                = var.aws_endpoint_url
    sqs                = var.aws_endpoint_url
    sts                = var.aws_endpoint_url
    wafv2              = var.aws_endpoint_url
  }

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
