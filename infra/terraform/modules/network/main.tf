# A VPC with private subnets only: no internet gateway, no NAT. AWS services are
# reached through gateway endpoints (S3, DynamoDB) and interface endpoints.
# Security groups for every tier live here, so that modules can reference each
# other's groups without a dependency cycle.

data "aws_availability_zones" "this" {
  state = "available"

  # checkov:skip=CKV_AWS_394: the subnets take the first az_count zone names in sorted order (local.azs), so a zone AWS adds later never changes them; pinning names per region would make the module region-specific
}

data "aws_region" "this" {}

locals {
  azs    = slice(sort(data.aws_availability_zones.this.names), 0, var.az_count)
  region = data.aws_region.this.name
  ports = {
    https    = 443
    postgres = 5432
    redshift = 5439
  }
}

resource "aws_vpc" "this" {
  cidr_block           = var.cidr_block
  enable_dns_support   = true
  enable_dns_hostnames = true

  tags = {
    Name = "${var.name_prefix}-vpc"
  }
}

# The default security group allows nothing: every ENI uses a group below.
resource "aws_default_security_group" "this" {
  vpc_id = aws_vpc.this.id
}

resource "aws_subnet" "this" {
  count = var.az_count

  vpc_id                  = aws_vpc.this.id
  availability_zone       = local.azs[count.index]
  cidr_block              = cidrsubnet(var.cidr_block, 4, count.index)
  map_public_ip_on_launch = false

  tags = {
    Name = "${var.name_prefix}-private-${local.azs[count.index]}"
    Tier = "private"
  }
}

resource "aws_route_table" "this" {
  vpc_id = aws_vpc.this.id

  tags = {
    Name = "${var.name_prefix}-private"
  }
}

resource "aws_route_table_association" "this" {
  count = var.az_count

  subnet_id      = aws_subnet.this[count.index].id
  route_table_id = aws_route_table.this.id
}

# --- flow logs -----------------------------------------------------------------

resource "aws_cloudwatch_log_group" "this" {
  name              = "/aws/vpc/${var.name_prefix}-flow-logs"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

data "aws_iam_policy_document" "flow_logs_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["vpc-flow-logs.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "flow_logs" {
  statement {
    sid       = "WriteFlowLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    resources = ["${aws_cloudwatch_log_group.this.arn}:*"]
  }

  statement {
    sid       = "FindTheLogGroup"
    actions   = ["logs:DescribeLogGroups"]
    resources = ["*"] # DescribeLogGroups supports no resource-level permissions
  }
}

resource "aws_iam_role" "this" {
  name               = "${var.name_prefix}-vpc-flow-logs"
  assume_role_policy = data.aws_iam_policy_document.flow_logs_assume.json
}

resource "aws_iam_role_policy" "this" {
  name   = "write-flow-logs"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.flow_logs.json
}

resource "aws_flow_log" "this" {
  vpc_id               = aws_vpc.this.id
  traffic_type         = "ALL"
  log_destination_type = "cloud-watch-logs"
  log_destination      = aws_cloudwatch_log_group.this.arn
  iam_role_arn         = aws_iam_role.this.arn
}

# --- security groups -------------------------------------------------------------

resource "aws_security_group" "endpoints" {
  name        = "${var.name_prefix}-endpoints"
  description = "Interface VPC endpoints: HTTPS from inside the VPC"
  vpc_id      = aws_vpc.this.id
}

# The compliance database is reached on one path per kind of caller, PostgreSQL's port only:
#   runtime functions (lambda) -> RDS Proxy (database_proxy) -> RDS (database)
#   the deploy-time migration function (migration)           -> RDS (database): it logs in as the master
#   user, whose secret the proxy never holds.
resource "aws_security_group" "lambda" {
  name        = "${var.name_prefix}-lambda"
  description = "Lambda functions: HTTPS to AWS endpoints, PostgreSQL to the RDS Proxy, Redshift port to the warehouse"
  vpc_id      = aws_vpc.this.id

  # checkov:skip=CKV2_AWS_5: attached in modules/lambda (vpc_config of every function), through this module's output
}

resource "aws_security_group" "migration" {
  name        = "${var.name_prefix}-migration"
  description = "The deploy-time migration function: HTTPS to AWS endpoints, PostgreSQL to RDS, Redshift port to the warehouse"
  vpc_id      = aws_vpc.this.id

  # checkov:skip=CKV2_AWS_5: attached in modules/lambda (vpc_config of migrate_databases), through this module's output
}

resource "aws_security_group" "database_proxy" {
  name        = "${var.name_prefix}-database-proxy"
  description = "RDS Proxy of the compliance database: PostgreSQL from the Lambdas, to RDS"
  vpc_id      = aws_vpc.this.id

  # checkov:skip=CKV2_AWS_5: attached in modules/database_proxy (vpc_security_group_ids of the proxy), through this module's output
}

resource "aws_security_group" "database" {
  name        = "${var.name_prefix}-database"
  description = "RDS PostgreSQL (compliance store): PostgreSQL from the RDS Proxy and the migration function only"
  vpc_id      = aws_vpc.this.id

  # checkov:skip=CKV2_AWS_5: attached in modules/database (vpc_security_group_ids of the RDS instance), through this module's output
}

resource "aws_security_group" "glue" {
  name        = "${var.name_prefix}-glue"
  description = "Glue job ENIs: self-referencing (Spark), HTTPS to endpoints, Redshift"
  vpc_id      = aws_vpc.this.id

  # checkov:skip=CKV2_AWS_5: attached in modules/glue (the network connection of the flatten job), through this module's output
}

resource "aws_security_group" "warehouse" {
  name        = "${var.name_prefix}-warehouse"
  description = "Redshift Serverless workgroup: Redshift port from the Glue job and analysts' CIDRs"
  vpc_id      = aws_vpc.this.id

  # checkov:skip=CKV2_AWS_5: attached in modules/warehouse (the Redshift Serverless workgroup), through this module's output
}

resource "aws_vpc_security_group_ingress_rule" "endpoints_https" {
  security_group_id = aws_security_group.endpoints.id
  description       = "HTTPS from the VPC"
  cidr_ipv4         = aws_vpc.this.cidr_block
  ip_protocol       = "tcp"
  from_port         = local.ports.https
  to_port           = local.ports.https
}

resource "aws_vpc_security_group_egress_rule" "lambda_https_endpoints" {
  security_group_id            = aws_security_group.lambda.id
  description                  = "HTTPS to interface endpoints"
  referenced_security_group_id = aws_security_group.endpoints.id
  ip_protocol                  = "tcp"
  from_port                    = local.ports.https
  to_port                      = local.ports.https
}

resource "aws_vpc_security_group_egress_rule" "lambda_https_gateways" {
  for_each = { s3 = aws_vpc_endpoint.s3.prefix_list_id, dynamodb = aws_vpc_endpoint.dynamodb.prefix_list_id }

  security_group_id = aws_security_group.lambda.id
  description       = "HTTPS to ${each.key} through its gateway endpoint"
  prefix_list_id    = each.value
  ip_protocol       = "tcp"
  from_port         = local.ports.https
  to_port           = local.ports.https
}

resource "aws_vpc_security_group_egress_rule" "lambda_postgres" {
  security_group_id            = aws_security_group.lambda.id
  description                  = "PostgreSQL to the RDS Proxy of the compliance database"
  referenced_security_group_id = aws_security_group.database_proxy.id
  ip_protocol                  = "tcp"
  from_port                    = local.ports.postgres
  to_port                      = local.ports.postgres
}

resource "aws_vpc_security_group_ingress_rule" "database_proxy_from_lambda" {
  security_group_id            = aws_security_group.database_proxy.id
  description                  = "PostgreSQL from the Lambda functions"
  referenced_security_group_id = aws_security_group.lambda.id
  ip_protocol                  = "tcp"
  from_port                    = local.ports.postgres
  to_port                      = local.ports.postgres
}

resource "aws_vpc_security_group_egress_rule" "database_proxy_postgres" {
  security_group_id            = aws_security_group.database_proxy.id
  description                  = "PostgreSQL to the compliance database"
  referenced_security_group_id = aws_security_group.database.id
  ip_protocol                  = "tcp"
  from_port                    = local.ports.postgres
  to_port                      = local.ports.postgres
}

resource "aws_vpc_security_group_ingress_rule" "database_from_proxy" {
  security_group_id            = aws_security_group.database.id
  description                  = "PostgreSQL from the RDS Proxy"
  referenced_security_group_id = aws_security_group.database_proxy.id
  ip_protocol                  = "tcp"
  from_port                    = local.ports.postgres
  to_port                      = local.ports.postgres
}

resource "aws_vpc_security_group_egress_rule" "migration_postgres" {
  security_group_id            = aws_security_group.migration.id
  description                  = "PostgreSQL to the compliance database (as its master user, at deploy time)"
  referenced_security_group_id = aws_security_group.database.id
  ip_protocol                  = "tcp"
  from_port                    = local.ports.postgres
  to_port                      = local.ports.postgres
}

resource "aws_vpc_security_group_ingress_rule" "database_from_migration" {
  security_group_id            = aws_security_group.database.id
  description                  = "PostgreSQL from the deploy-time migration function"
  referenced_security_group_id = aws_security_group.migration.id
  ip_protocol                  = "tcp"
  from_port                    = local.ports.postgres
  to_port                      = local.ports.postgres
}

resource "aws_vpc_security_group_egress_rule" "migration_https_endpoints" {
  security_group_id            = aws_security_group.migration.id
  description                  = "HTTPS to interface endpoints (Secrets Manager, KMS)"
  referenced_security_group_id = aws_security_group.endpoints.id
  ip_protocol                  = "tcp"
  from_port                    = local.ports.https
  to_port                      = local.ports.https
}

resource "aws_vpc_security_group_egress_rule" "migration_redshift" {
  security_group_id            = aws_security_group.migration.id
  description                  = "Redshift port to the warehouse (roles and the raw table)"
  referenced_security_group_id = aws_security_group.warehouse.id
  ip_protocol                  = "tcp"
  from_port                    = local.ports.redshift
  to_port                      = local.ports.redshift
}

resource "aws_vpc_security_group_ingress_rule" "warehouse_from_migration" {
  security_group_id            = aws_security_group.warehouse.id
  description                  = "Redshift port from the deploy-time migration function"
  referenced_security_group_id = aws_security_group.migration.id
  ip_protocol                  = "tcp"
  from_port                    = local.ports.redshift
  to_port                      = local.ports.redshift
}

resource "aws_vpc_security_group_egress_rule" "lambda_redshift" {
  security_group_id            = aws_security_group.lambda.id
  description                  = "Redshift port to the warehouse (dbt build, data checks)"
  referenced_security_group_id = aws_security_group.warehouse.id
  ip_protocol                  = "tcp"
  from_port                    = local.ports.redshift
  to_port                      = local.ports.redshift
}

resource "aws_vpc_security_group_ingress_rule" "warehouse_from_lambda" {
  security_group_id            = aws_security_group.warehouse.id
  description                  = "Redshift port from the Lambda functions (dbt build, data checks)"
  referenced_security_group_id = aws_security_group.lambda.id
  ip_protocol                  = "tcp"
  from_port                    = local.ports.redshift
  to_port                      = local.ports.redshift
}

# Glue requires a self-referencing rule for all TCP ports on the connection's group.
resource "aws_vpc_security_group_ingress_rule" "glue_self" {
  security_group_id            = aws_security_group.glue.id
  description                  = "Spark traffic between the job's workers"
  referenced_security_group_id = aws_security_group.glue.id
  ip_protocol                  = "tcp"
  from_port                    = 0
  to_port                      = 65535

  # checkov:skip=CKV_AWS_24: source is the group itself (Glue's required self-reference), not 0.0.0.0/0
  # checkov:skip=CKV_AWS_25: source is the group itself (Glue's required self-reference), not 0.0.0.0/0
  # checkov:skip=CKV_AWS_260: source is the group itself (Glue's required self-reference), not 0.0.0.0/0
}

resource "aws_vpc_security_group_egress_rule" "glue_self" {
  security_group_id            = aws_security_group.glue.id
  description                  = "Spark traffic between the job's workers"
  referenced_security_group_id = aws_security_group.glue.id
  ip_protocol                  = "tcp"
  from_port                    = 0
  to_port                      = 65535
}

resource "aws_vpc_security_group_egress_rule" "glue_https_endpoints" {
  security_group_id            = aws_security_group.glue.id
  description                  = "HTTPS to interface endpoints"
  referenced_security_group_id = aws_security_group.endpoints.id
  ip_protocol                  = "tcp"
  from_port                    = local.ports.https
  to_port                      = local.ports.https
}

resource "aws_vpc_security_group_egress_rule" "glue_https_gateways" {
  for_each = { s3 = aws_vpc_endpoint.s3.prefix_list_id, dynamodb = aws_vpc_endpoint.dynamodb.prefix_list_id }

  security_group_id = aws_security_group.glue.id
  description       = "HTTPS to ${each.key} through its gateway endpoint"
  prefix_list_id    = each.value
  ip_protocol       = "tcp"
  from_port         = local.ports.https
  to_port           = local.ports.https
}

resource "aws_vpc_security_group_egress_rule" "glue_redshift" {
  security_group_id            = aws_security_group.glue.id
  description                  = "Redshift port to the warehouse"
  referenced_security_group_id = aws_security_group.warehouse.id
  ip_protocol                  = "tcp"
  from_port                    = local.ports.redshift
  to_port                      = local.ports.redshift
}

resource "aws_vpc_security_group_ingress_rule" "warehouse_from_glue" {
  security_group_id            = aws_security_group.warehouse.id
  description                  = "Redshift port from the Glue job"
  referenced_security_group_id = aws_security_group.glue.id
  ip_protocol                  = "tcp"
  from_port                    = local.ports.redshift
  to_port                      = local.ports.redshift
}

# --- endpoints ---------------------------------------------------------------------

resource "aws_vpc_endpoint" "s3" {
  vpc_id            = aws_vpc.this.id
  service_name      = "com.amazonaws.${local.region}.s3"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = [aws_route_table.this.id]

  tags = {
    Name = "${var.name_prefix}-s3"
  }
}

resource "aws_vpc_endpoint" "dynamodb" {
  vpc_id            = aws_vpc.this.id
  service_name      = "com.amazonaws.${local.region}.dynamodb"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = [aws_route_table.this.id]

  tags = {
    Name = "${var.name_prefix}-dynamodb"
  }
}

resource "aws_vpc_endpoint" "interface" {
  for_each = toset(var.interface_endpoints)

  vpc_id              = aws_vpc.this.id
  service_name        = "com.amazonaws.${local.region}.${each.value}"
  vpc_endpoint_type   = "Interface"
  subnet_ids          = aws_subnet.this[*].id
  security_group_ids  = [aws_security_group.endpoints.id]
  private_dns_enabled = true

  tags = {
    Name = "${var.name_prefix}-${each.value}"
  }
}
