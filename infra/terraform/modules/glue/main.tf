# Glue: the catalog database of the manifest, the crawler over the analytics
# copy (its definition is the same JSON file the local crawler reads), and the
# flatten job (the same script the local SparkSession runs) with bookmarks. The
# job runs in the VPC (network connection) to reach Redshift Serverless.

data "aws_caller_identity" "this" {}
data "aws_partition" "this" {}
data "aws_region" "this" {}

locals {
  account_id = data.aws_caller_identity.this.account_id
  partition  = data.aws_partition.this.partition
  region     = data.aws_region.this.name
  glue_arn   = "arn:${local.partition}:glue:${local.region}:${local.account_id}"

  database_name   = replace(var.name_prefix, "-", "_")
  crawler_name    = "${var.name_prefix}-${local.crawler.name_suffix}"
  job_name        = "${var.name_prefix}-flatten-transactions"
  connection_name = "${var.name_prefix}-vpc"

  # The crawler definition shared with the local crawler (glue_jobs/crawlers/transactions.json):
  # name_suffix, s3_target {bucket (a bucket role), path, sample_size, exclusions},
  # schema_change_policy, recrawl_policy, configuration.
  crawler             = jsondecode(file(var.crawler_definition_path))
  crawler_bucket_role = local.crawler.s3_target.bucket
  crawler_bucket      = var.bucket_names[local.crawler_bucket_role]
  crawler_bucket_arn  = var.bucket_arns[local.crawler_bucket_role]
  crawler_prefix      = trimprefix(local.crawler.s3_target.path, "/")

  scripts_bucket = var.bucket_names["glue_scripts"]
  script_key     = "jobs/flatten_transactions/job.py"
  libs_key       = "jobs/flatten_transactions/libs.zip"
  wheels         = fileset(var.wheels_dir, "*.whl")
}

resource "aws_glue_catalog_database" "this" {
  name        = local.database_name
  description = "MTX analytics (PII-free)"
}

resource "aws_glue_data_catalog_encryption_settings" "this" {
  count = var.manage_catalog_encryption ? 1 : 0

  data_catalog_encryption_settings {
    encryption_at_rest {
      catalog_encryption_mode = "SSE-KMS"
      sse_aws_kms_key_id      = var.kms_key_arn
    }
    connection_password_encryption {
      return_connection_password_encrypted = true
      aws_kms_key_id                       = var.kms_key_arn
    }
  }
}

resource "aws_glue_security_configuration" "this" {
  name = var.name_prefix

  encryption_configuration {
    s3_encryption {
      s3_encryption_mode = "SSE-KMS"
      kms_key_arn        = var.kms_key_arn
    }
    cloudwatch_encryption {
      cloudwatch_encryption_mode = "SSE-KMS"
      kms_key_arn                = var.kms_key_arn
    }
    job_bookmarks_encryption {
      job_bookmarks_encryption_mode = "CSE-KMS"
      kms_key_arn                   = var.kms_key_arn
    }
  }
}

resource "aws_cloudwatch_log_group" "this" {
  # With a security configuration, Glue writes to /aws-glue/<kind>-<configuration name>.
  for_each = toset(["crawlers", "jobs/output", "jobs/error", "jobs/logs-v2"])

  name              = "/aws-glue/${each.key}-${var.name_prefix}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

# --- crawler --------------------------------------------------------------------------------

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["glue.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "crawler" {
  name               = "${local.crawler_name}-crawler"
  description        = "Glue crawler over s3://${local.crawler_bucket}/${local.crawler_prefix}"
  assume_role_policy = data.aws_iam_policy_document.assume.json
}

data "aws_iam_policy_document" "crawler" {
  statement {
    sid       = "ListAnalyticsPrefix"
    actions   = ["s3:ListBucket"]
    resources = [local.crawler_bucket_arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${local.crawler_prefix}*"]
    }
  }

  statement {
    sid       = "ReadAnalyticsObjects"
    actions   = ["s3:GetObject"]
    resources = ["${local.crawler_bucket_arn}/${local.crawler_prefix}*"]
  }

  statement {
    sid = "MaintainCatalogTables"
    actions = [
      "glue:GetDatabase",
      "glue:GetTable",
      "glue:GetTables",
      "glue:CreateTable",
      "glue:UpdateTable",
      "glue:GetPartition",
      "glue:GetPartitions",
      "glue:CreatePartition",
      "glue:UpdatePartition",
      "glue:BatchCreatePartition",
      "glue:BatchGetPartition",
      "glue:BatchUpdatePartition",
    ]
    resources = [
      "${local.glue_arn}:catalog",
      aws_glue_catalog_database.this.arn,
      "${local.glue_arn}:table/${local.database_name}/*",
    ]
  }

  statement {
    sid       = "GetOwnSecurityConfiguration"
    actions   = ["glue:GetSecurityConfiguration"]
    resources = ["*"] # GetSecurityConfiguration supports no resource-level permissions
  }

  statement {
    sid       = "WriteCrawlerLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:AssociateKmsKey"]
    resources = ["${aws_cloudwatch_log_group.this["crawlers"].arn}:*", aws_cloudwatch_log_group.this["crawlers"].arn]
  }

  statement {
    sid       = "UseTheDataKey"
    actions   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"]
    resources = [var.kms_key_arn]
  }
}

resource "aws_iam_role_policy" "crawler" {
  name   = "crawl-analytics-copy"
  role   = aws_iam_role.crawler.id
  policy = data.aws_iam_policy_document.crawler.json
}

resource "aws_glue_crawler" "this" {
  name                   = local.crawler_name
  description            = "Catalogues s3://${local.crawler_bucket}/${local.crawler_prefix} (definition: glue_jobs/crawlers/transactions.json)"
  role                   = aws_iam_role.crawler.arn
  database_name          = aws_glue_catalog_database.this.name
  configuration          = jsonencode(local.crawler.configuration)
  security_configuration = aws_glue_security_configuration.this.name

  s3_target {
    path        = "s3://${local.crawler_bucket}/${local.crawler_prefix}"
    exclusions  = local.crawler.s3_target.exclusions
    sample_size = try(local.crawler.s3_target.sample_size, null)
  }

  schema_change_policy {
    update_behavior = local.crawler.schema_change_policy.update_behavior
    delete_behavior = local.crawler.schema_change_policy.delete_behavior
  }

  recrawl_policy {
    recrawl_behavior = local.crawler.recrawl_policy.recrawl_behavior
  }

  depends_on = [aws_iam_role_policy.crawler, aws_cloudwatch_log_group.this]
}

# --- job --------------------------------------------------------------------------------------

resource "aws_s3_object" "script" {
  bucket = local.scripts_bucket
  key    = local.script_key
  source = var.script_path
  etag   = fileexists(var.script_path) ? filemd5(var.script_path) : null

  lifecycle {
    precondition {
      condition     = fileexists(var.script_path)
      error_message = "No Glue job script at ${var.script_path}."
    }
  }
}

resource "aws_s3_object" "libs" {
  bucket = local.scripts_bucket
  key    = local.libs_key
  source = var.libs_path
  etag   = fileexists(var.libs_path) ? filemd5(var.libs_path) : null

  lifecycle {
    precondition {
      condition     = fileexists(var.libs_path)
      error_message = "No Glue libs zip at ${var.libs_path}: build it first with `python infra/scripts/package.py`."
    }
  }
}

resource "aws_s3_object" "wheels" {
  for_each = local.wheels

  bucket = local.scripts_bucket
  key    = "jobs/flatten_transactions/wheels/${each.value}"
  source = "${var.wheels_dir}/${each.value}"
  etag   = filemd5("${var.wheels_dir}/${each.value}")
}

resource "aws_glue_connection" "this" {
  count = var.vpc_connection ? 1 : 0

  name            = local.connection_name
  description     = "Network path of the Glue job into the private subnets (Redshift Serverless)"
  connection_type = "NETWORK"

  physical_connection_requirements {
    availability_zone      = var.subnet_az
    subnet_id              = var.subnet_id
    security_group_id_list = [var.security_group_id]
  }
}

resource "aws_iam_role" "job" {
  name               = "${local.job_name}-job"
  description        = "Glue job ${local.job_name}"
  assume_role_policy = data.aws_iam_policy_document.assume.json
}

data "aws_iam_policy_document" "job" {
  statement {
    sid       = "ReadJobCode"
    actions   = ["s3:GetObject"]
    resources = ["${var.bucket_arns["glue_scripts"]}/jobs/flatten_transactions/*"]
  }

  statement {
    sid       = "UseTempDir"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = ["${var.bucket_arns["glue_scripts"]}/tmp/*"]
  }

  statement {
    sid       = "ListSourceTargetAndTemp"
    actions   = ["s3:ListBucket"]
    resources = [local.crawler_bucket_arn, var.bucket_arns["curated"], var.bucket_arns["glue_scripts"]]
  }

  statement {
    sid       = "ReadAnalyticsCopy"
    actions   = ["s3:GetObject"]
    resources = ["${local.crawler_bucket_arn}/${local.crawler_prefix}*"]
  }

  statement {
    sid       = "WriteCuratedParquet"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = ["${var.bucket_arns["curated"]}/*"]
  }

  statement {
    sid       = "ReadCatalog"
    actions   = ["glue:GetDatabase", "glue:GetTable", "glue:GetTables", "glue:GetPartition", "glue:GetPartitions"]
    resources = ["${local.glue_arn}:catalog", aws_glue_catalog_database.this.arn, "${local.glue_arn}:table/${local.database_name}/*"]
  }

  statement {
    sid       = "UseOwnConnection"
    actions   = ["glue:GetConnection"]
    resources = ["${local.glue_arn}:catalog", "${local.glue_arn}:connection/${local.connection_name}"]
  }

  statement {
    sid       = "GetOwnSecurityConfiguration"
    actions   = ["glue:GetSecurityConfiguration"]
    resources = ["*"] # GetSecurityConfiguration supports no resource-level permissions
  }

  statement {
    sid       = "ReadWarehouseSecret"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [var.warehouse_secret_arn]
  }

  statement {
    sid       = "WriteJobLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:AssociateKmsKey"]
    resources = flatten([for k in ["jobs/output", "jobs/error", "jobs/logs-v2"] : [aws_cloudwatch_log_group.this[k].arn, "${aws_cloudwatch_log_group.this[k].arn}:*"]])
  }

  statement {
    sid       = "PublishJobMetrics"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"] # PutMetricData supports no resource-level permissions; limited to Glue's namespace below
    condition {
      test     = "StringEquals"
      variable = "cloudwatch:namespace"
      values   = ["Glue"]
    }
  }

  statement {
    sid       = "CreateEnisInOwnSubnets"
    actions   = ["ec2:CreateNetworkInterface", "ec2:CreateTags", "ec2:DeleteTags"]
    resources = concat(var.subnet_arns, ["arn:${local.partition}:ec2:${local.region}:${local.account_id}:security-group/${var.security_group_id}", "arn:${local.partition}:ec2:${local.region}:${local.account_id}:network-interface/*"])
  }

  statement {
    sid       = "DeleteOwnEnis"
    actions   = ["ec2:DeleteNetworkInterface"]
    resources = ["arn:${local.partition}:ec2:${local.region}:${local.account_id}:network-interface/*"]
  }

  statement {
    sid = "DescribeNetwork"
    actions = [
      "ec2:DescribeNetworkInterfaces",
      "ec2:DescribeSubnets",
      "ec2:DescribeSecurityGroups",
      "ec2:DescribeVpcs",
      "ec2:DescribeVpcEndpoints",
      "ec2:DescribeRouteTables",
    ]
    resources = ["*"] # EC2 Describe* actions support no resource-level permissions
  }

  statement {
    sid       = "DescribeOwnVpc"
    actions   = ["ec2:DescribeVpcAttribute"]
    resources = ["arn:${local.partition}:ec2:${local.region}:${local.account_id}:vpc/${var.vpc_id}"]
  }

  statement {
    sid       = "UseTheDataKey"
    actions   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"]
    resources = [var.kms_key_arn]
  }
}

resource "aws_iam_role_policy" "job" {
  name   = "flatten-transactions"
  role   = aws_iam_role.job.id
  policy = data.aws_iam_policy_document.job.json
}

resource "aws_glue_job" "this" {
  name                   = local.job_name
  description            = "Flattens the nested analytics JSON into curated Parquet and merges it into Redshift (glue_jobs/flatten_transactions/job.py)"
  role_arn               = aws_iam_role.job.arn
  glue_version           = var.glue_version
  worker_type            = var.worker_type
  number_of_workers      = var.number_of_workers
  timeout                = var.job_timeout_minutes
  max_retries            = 0
  execution_class        = "STANDARD"
  connections            = aws_glue_connection.this[*].name
  security_configuration = aws_glue_security_configuration.this.name

  command {
    name            = "glueetl"
    python_version  = "3"
    script_location = "s3://${local.scripts_bucket}/${aws_s3_object.script.key}"
  }

  # The job's own arguments (glue_jobs/flatten_transactions/job.py REQUIRED_ARGS and
  # OPTIONAL_ARGS), then Glue's. --from_date/--to_date/--backfill are per run.
  default_arguments = merge(
    {
      "--database"               = aws_glue_catalog_database.this.name
      "--table"                  = local.crawler.table_name
      "--curated_bucket"         = var.bucket_names["curated"]
      "--warehouse_secret_id"    = var.warehouse_secret_name
      "--redshift_copy_role_arn" = var.redshift_copy_role_arn
    },
    {
      "--job-language"                     = "python"
      "--job-bookmark-option"              = "job-bookmark-enable"
      "--TempDir"                          = "s3://${local.scripts_bucket}/tmp/"
      "--enable-metrics"                   = "true"
      "--enable-observability-metrics"     = "true"
      "--enable-continuous-cloudwatch-log" = "true"
      "--enable-job-insights"              = "true"
      "--enable-glue-datacatalog"          = "true"
      "--extra-py-files"                   = "s3://${local.scripts_bucket}/${aws_s3_object.libs.key}"
    },
    # the lineage endpoint (glue_jobs/flatten_transactions/lineage.py): a job gets arguments, not environment
    var.openlineage_url == "" ? {} : { "--openlineage_url" = var.openlineage_url },
    length(local.wheels) == 0 ? {} : {
      "--additional-python-modules"       = join(",", [for w in sort(tolist(local.wheels)) : "s3://${local.scripts_bucket}/jobs/flatten_transactions/wheels/${w}"])
      "--python-modules-installer-option" = "--no-index"
    },
  )

  execution_property {
    max_concurrent_runs = 1 # bookmarks assume one run at a time
  }

  depends_on = [aws_iam_role_policy.job, aws_cloudwatch_log_group.this, aws_s3_object.wheels]
}
