# The Lambda functions of infra/functions.json: one zip with the
# code (lambdas/, contracts/, expectations/), one layer with the
# pinned dependencies, one role per function allowed only what its handler
# calls (see local.permissions), X-Ray active tracing, inside the VPC.
# build_marts and run_data_checks need dbt and Great Expectations, too big for
# a layer: they run from the analytics container image once it is pushed
# (var.analytics_image_uri; the repository is created here).

data "aws_caller_identity" "this" {}
data "aws_partition" "this" {}
data "aws_region" "this" {}

locals {
  account_id = data.aws_caller_identity.this.account_id
  partition  = data.aws_partition.this.partition
  region     = data.aws_region.this.name

  # Every function, its handler and sizing: infra/functions.json, the list the local runtime reads too
  # (orchestration/runtime/resources.py). Optional attributes get their defaults here.
  functions_file = jsondecode(file("${path.module}/../../../functions.json")).functions
  functions = { for short, f in local.functions_file : short => {
    handler              = f.handler
    memory               = f.memory
    timeout              = f.timeout
    reserved_concurrency = try(f.reserved_concurrency, null)
    image                = try(f.image, false)
    async                = try(f.async, false)
    schedule             = try(f.schedule, null)
    master_login         = try(f.master_login, false)
  } }

  # Functions started on a schedule: an EventBridge rule each, named as the function.
  schedules = { for short, f in local.functions : short => f.schedule if f.schedule != null }

  function_names = { for short, _ in local.functions : short => "${var.name_prefix}-${replace(short, "_", "-")}" }

  # The functions that need dbt or Great Expectations: a container image (infra/docker/analytics)
  # once var.analytics_image_uri is set, the zip and layer until then.
  image_functions = var.analytics_image_uri == null ? [] : [for short, f in local.functions : short if f.image]

  analytics_objects = "${var.bucket_arns["analytics"]}/transactions/*"
  incoming_objects  = "${var.bucket_arns["raw"]}/incoming/*"
  fx_table_object   = "${var.bucket_arns["raw"]}/reference/fx/daily.json"
  # what every entrance's Enrich stage reads and writes (lambdas/common/enrich): the FX table, the players table
  read_fx_table = {
    sid = "ReadFxTable", actions = ["s3:GetObject"], resources = [local.fx_table_object]
  }
  # one new player: a conditional PutItem; more: BatchExecuteStatement of PartiQL INSERTs (dynamodb:PartiQLInsert)
  claim_first_purchases = {
    sid = "ClaimFirstPurchases", actions = ["dynamodb:BatchGetItem", "dynamodb:PutItem", "dynamodb:PartiQLInsert"], resources = [var.table_arns["players"]]
  }
  # the real-time aggregates (lambdas/common/realtime.py): the writers' TransactWriteItems is a Put of the marker
  # (condition attribute_not_exists) and Updates (ADD) of the rollups; the readers query a game's hours
  write_realtime_aggregates = {
    sid = "WriteRealtimeAggregates", actions = ["dynamodb:PutItem", "dynamodb:UpdateItem"], resources = [var.table_arns["realtime_aggregates"]]
  }
  # an undo takes a version's (or a chunk group's) rollups back: Delete of its marker (attribute_exists) + ADD
  withdraw_realtime_aggregates = {
    sid = "WithdrawRealtimeAggregates", actions = ["dynamodb:DeleteItem", "dynamodb:UpdateItem"], resources = [var.table_arns["realtime_aggregates"]]
  }
  read_realtime_aggregates = {
    sid = "QueryRealtimeAggregates", actions = ["dynamodb:Query"], resources = [var.table_arns["realtime_aggregates"]]
  }
  chunk_objects    = "${var.bucket_arns["raw"]}/chunks/*"
  rejected_objects = "${var.bucket_arns["raw"]}/rejected/*"
  archived_letters = "${var.bucket_arns["raw"]}/archive/dead-letters/*"
  list_analytics = {
    sid = "ListAnalyticsTransactions", actions = ["s3:ListBucket"], resources = [var.bucket_arns["analytics"]]
  }
  dead_letter = {
    sid = "SendToDeadLetterQueue", actions = ["sqs:GetQueueUrl", "sqs:SendMessage"], resources = [var.dead_letter_queue_arn]
  }
  # The analytics job state machine analytics_api starts, by exact ARN. Built from its
  # name (modules/state_machines names it <name_prefix>-analytics-job, as Settings does):
  # taking the module's output would make a cycle (its definition names run_analytics_job).
  analytics_job_state_machine_arn = "arn:${local.partition}:states:${local.region}:${local.account_id}:stateMachine:${var.name_prefix}-analytics-job"
  # Its alias (modules/state_machines, var.state_machine_alias_name): the version it routes to runs; the
  # handler starts the alias (MTX_STATE_MACHINE_ALIAS, contracts/config.py Settings.state_machine_start_arn).
  analytics_job_alias_arn = "${local.analytics_job_state_machine_arn}:${var.state_machine_alias_name}"
  # Executions the net and the sweeper describe, by state machine name (built from names like the ARN above:
  # the state machines' definitions name these functions). Standard: execution:<machine>:<name>;
  # Express: express:<machine>:<name>:<id>.
  states_prefix = "arn:${local.partition}:states:${local.region}:${local.account_id}"
  executions = { for w in ["transaction", "batch_ingest", "analytics_refresh", "analytics_job"] :
    w => "${local.states_prefix}:execution:${var.name_prefix}-${replace(w, "_", "-")}:*"
  }
  transaction_express_executions = "${local.states_prefix}:express:${var.name_prefix}-transaction:*"
  # The ledger both write before dead-lettering an execution (claim, confirm, release a failed claim).
  use_ledger = {
    sid = "ClaimExecutionDeadLetters", actions = ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"], resources = [var.table_arns["execution_dead_letters"]]
  }
  # Results of analytics jobs too big for the job record (lambdas/analytics_job result_key()).
  analytics_job_results = "${var.bucket_arns["query_results"]}/analytics-jobs/*"
  # One secret per database role (modules/database_roles); each function reads only its own.
  # The master secrets are read by migrate_databases alone, at deploy time.
  secrets = var.database_secret_arns
  read_writer_secret = {
    sid = "ReadComplianceWriterSecret", actions = ["secretsmanager:GetSecretValue"], resources = [local.secrets["compliance_writer"]]
  }
  read_reader_secrets = {
    sid = "ReadDatabaseReaderSecrets", actions = ["secretsmanager:GetSecretValue"], resources = [local.secrets["compliance_reader"], local.secrets["warehouse_reader"]]
  }
  # The operations both analytics functions run (lambdas/analytics_api/operations.py): the warehouse
  # and the compliance counts function (data_integrity_analysis) as the readers, the DLQ depth.
  analytics_operations = [
    local.read_reader_secrets,
    local.read_realtime_aggregates,
    { sid = "CountDeadLetters", actions = ["sqs:GetQueueUrl", "sqs:GetQueueAttributes"], resources = [var.dead_letter_queue_arn] },
  ]

  # What each handler calls (lambdas/<short>/handler.py), and nothing else.
  permissions = {
    validate_transaction = []
    check_item = [
      { sid = "ReadShopCatalogue", actions = ["dynamodb:GetItem"], resources = [var.table_arns["item_catalogue"]] },
      { sid = "DecryptCatalogue", actions = ["kms:Decrypt"], resources = [var.kms_key_arn] },
    ]
    enrich_transaction = [
      local.read_fx_table,
      local.claim_first_purchases,
      { sid = "ReadShopCatalogue", actions = ["dynamodb:GetItem"], resources = [var.table_arns["item_catalogue"]] },
      { sid = "UseTheDataKey", actions = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"], resources = [var.kms_key_arn] },
    ]
    # the daily FX table: read, merged with the configured source's rates, written back (raw bucket's key)
    refresh_fx_rates = [
      { sid = "ReadAndWriteFxTable", actions = ["s3:GetObject", "s3:PutObject"], resources = [local.fx_table_object] },
      { sid = "ListRawForMissingKey", actions = ["s3:ListBucket"], resources = [var.bucket_arns["raw"]] },
      { sid = "UseTheDataKey", actions = ["kms:Decrypt", "kms:GenerateDataKey"], resources = [var.kms_key_arn] },
    ]
    store_compliance = [
      local.read_writer_secret,
      { sid = "DecryptComplianceSecret", actions = ["kms:Decrypt"], resources = [var.kms_key_arn] },
    ]
    strip_pii = []
    store_analytics = [
      { sid = "PutAnalyticsObjects", actions = ["s3:PutObject"], resources = [local.analytics_objects] },
      { sid = "PutAnalyticsItems", actions = ["dynamodb:PutItem"], resources = [var.table_arns["analytics"]] },
      local.write_realtime_aggregates,
      { sid = "EncryptAnalyticsData", actions = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"], resources = [var.kms_key_arn] },
    ]
    # undo of version n > 1: the analytics item goes back to version n - 1, read from its S3 object
    undo_partial_write = [
      { sid = "DeleteAnalyticsObjects", actions = ["s3:DeleteObject", "s3:GetObject"], resources = [local.analytics_objects] },
      { sid = "DeleteAnalyticsItems", actions = ["dynamodb:DeleteItem", "dynamodb:PutItem"], resources = [var.table_arns["analytics"]] },
      local.withdraw_realtime_aggregates,
      local.read_writer_secret,
      { sid = "DecryptComplianceData", actions = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"], resources = [var.kms_key_arn] },
    ]
    split_file = [
      { sid = "ReadIncomingFiles", actions = ["s3:GetObject"], resources = [local.incoming_objects] },
      { sid = "WriteChunks", actions = ["s3:PutObject"], resources = [local.chunk_objects] },
      { sid = "DecryptIncomingFiles", actions = ["kms:Decrypt"], resources = [var.kms_key_arn] },
    ]
    process_chunk = [
      local.read_fx_table,
      local.claim_first_purchases,
      { sid = "ScanShopCatalogue", actions = ["dynamodb:Scan"], resources = [var.table_arns["item_catalogue"]] },
      { sid = "ReadChunks", actions = ["s3:GetObject"], resources = [local.chunk_objects] },
      { sid = "WriteAndUndoAnalyticsObjects", actions = ["s3:PutObject", "s3:DeleteObject"], resources = [local.analytics_objects] },
      local.list_analytics,
      local.write_realtime_aggregates,
      local.read_writer_secret,
      local.dead_letter,
      { sid = "UseTheDataKey", actions = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"], resources = [var.kms_key_arn] },
    ]
    # a Kinesis batch (modules/stream adds the stream's read permissions to this role)
    ingest_stream = [
      local.read_fx_table,
      local.claim_first_purchases,
      { sid = "ScanShopCatalogue", actions = ["dynamodb:Scan"], resources = [var.table_arns["item_catalogue"]] },
      { sid = "WriteAnalyticsObjects", actions = ["s3:PutObject"], resources = [local.analytics_objects] },
      { sid = "QuarantineRecords", actions = ["s3:PutObject"], resources = [local.rejected_objects] },
      local.write_realtime_aggregates,
      local.read_writer_secret,
      local.dead_letter,
      { sid = "UseTheDataKey", actions = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"], resources = [var.kms_key_arn] },
    ]
    # POST /events into the Kinesis stream: modules/stream grants kinesis:PutRecords on the stream and
    # kms:GenerateDataKey on the key to this role, where the stream is (no cycle with the stream's mapping)
    put_events = []
    dead_letter_chunk = [
      { sid = "ReadChunks", actions = ["s3:GetObject"], resources = [local.chunk_objects] },
      { sid = "UndoAnalyticsObjects", actions = ["s3:DeleteObject", "s3:GetObject"], resources = [local.analytics_objects] },
      local.withdraw_realtime_aggregates,
      local.list_analytics,
      local.read_writer_secret,
      local.dead_letter,
      { sid = "UseTheDataKey", actions = ["kms:Decrypt", "kms:GenerateDataKey"], resources = [var.kms_key_arn] },
    ]
    finalize_run = [
      { sid = "UpdateBatchRun", actions = ["dynamodb:UpdateItem"], resources = [var.table_arns["batch_runs"]] },
      { sid = "EncryptBatchRuns", actions = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"], resources = [var.kms_key_arn] },
    ]
    quarantine_file = [
      { sid = "MoveRejectedFiles", actions = ["s3:GetObject", "s3:DeleteObject"], resources = [local.incoming_objects] },
      { sid = "WriteRejectedFiles", actions = ["s3:PutObject"], resources = [local.rejected_objects] },
      { sid = "DecryptIncomingFiles", actions = ["kms:Decrypt"], resources = [var.kms_key_arn] },
    ]
    build_marts = [
      { sid = "ReadWarehouseTransformerSecret", actions = ["secretsmanager:GetSecretValue"], resources = [local.secrets["warehouse_transformer"]] },
      { sid = "DecryptWarehouseSecret", actions = ["kms:Decrypt"], resources = [var.kms_key_arn] },
    ]
    run_data_checks = [
      local.read_reader_secrets,
      local.read_realtime_aggregates,
      local.list_analytics,
      { sid = "ReadAnalyticsObjects", actions = ["s3:GetObject"], resources = [local.analytics_objects] },
      { sid = "CountDeadLetters", actions = ["sqs:GetQueueUrl", "sqs:GetQueueAttributes"], resources = [var.dead_letter_queue_arn] },
      { sid = "PublishAlerts", actions = ["sns:Publish"], resources = [var.alerts_topic_arn] },
      { sid = "DecryptDataAndEncryptAlerts", actions = ["kms:Decrypt", "kms:GenerateDataKey"], resources = [var.kms_key_arn] },
    ]
    analytics_api = concat(local.analytics_operations, [
      { sid = "UseAnalyticsCache", actions = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DescribeTable"], resources = [var.table_arns["analytics_cache"]] },
      { sid = "SubmitAndReadJobs", actions = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DescribeTable"], resources = [var.table_arns["analytics_jobs"]] },
      { sid = "StartAnalyticsJob", actions = ["states:StartExecution"], resources = [local.analytics_job_alias_arn] },
      { sid = "PresignJobResults", actions = ["s3:GetObject"], resources = [local.analytics_job_results] },
      { sid = "UseTheDataKey", actions = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"], resources = [var.kms_key_arn] },
    ])
    run_analytics_job = concat(local.analytics_operations, [
      { sid = "WriteJobResults", actions = ["s3:PutObject"], resources = [local.analytics_job_results] },
      { sid = "StoreJobResults", actions = ["dynamodb:UpdateItem"], resources = [var.table_arns["analytics_jobs"]] },
      { sid = "UseTheDataKey", actions = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"], resources = [var.kms_key_arn] },
    ])
    dead_letter_failed_execution = [
      { sid = "DescribeFailedExecutions", actions = ["states:DescribeExecution"], resources = [local.executions["batch_ingest"], local.executions["analytics_refresh"], local.executions["analytics_job"]] },
      local.use_ledger,
      local.dead_letter,
      local.keep_failed_invocations,
      { sid = "UseTheDataKey", actions = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"], resources = [var.kms_key_arn] },
    ]
    sweep_pending = [
      { sid = "FindAndSettlePending", actions = ["dynamodb:Scan", "dynamodb:UpdateItem"], resources = [var.table_arns["execution_status"], var.table_arns["batch_runs"]] },
      { sid = "FindAnalyticsCopies", actions = ["dynamodb:GetItem"], resources = [var.table_arns["analytics"]] },
      merge(local.use_ledger, { actions = ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:Scan"] }),
      { sid = "DescribePendingExecutions", actions = ["states:DescribeExecution"], resources = [local.executions["transaction"], local.transaction_express_executions, local.executions["batch_ingest"]] },
      { sid = "ReadComplianceReaderSecret", actions = ["secretsmanager:GetSecretValue"], resources = [local.secrets["compliance_reader"]] },
      local.dead_letter,
      local.keep_failed_invocations,
      { sid = "UseTheDataKey", actions = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"], resources = [var.kms_key_arn] },
    ]
    # The deploy-time migration step (invoked by modules/database_roles): the master secrets to create
    # the roles, every role's secret to set its password, nothing else.
    migrate_databases = [
      { sid = "ReadMasterAndRoleSecrets", actions = ["secretsmanager:GetSecretValue"], resources = values(local.secrets) },
      { sid = "DecryptSecrets", actions = ["kms:Decrypt"], resources = [var.kms_key_arn] },
    ]
    # Old dead letters to archive/dead-letters/ of the raw bucket: write (never read) the object, then
    # settle the message. The queue's policy (modules/messaging) lets this role read, by its name.
    archive_dead_letters = [
      { sid = "ReadAndSettleDeadLetters", actions = ["sqs:GetQueueUrl", "sqs:ReceiveMessage", "sqs:ChangeMessageVisibility", "sqs:DeleteMessage"], resources = [var.dead_letter_queue_arn] },
      { sid = "WriteArchivedLetters", actions = ["s3:PutObject"], resources = [local.archived_letters] },
      { sid = "UseTheDataKey", actions = ["kms:Decrypt", "kms:GenerateDataKey"], resources = [var.kms_key_arn] },
    ]
  }
}

locals {
  # The functions that log in to the compliance database as a runtime role (they read the writer's or the
  # reader's secret; not the migration step, which reads every secret to set the roles' passwords): through
  # the RDS Proxy, each with reserved concurrency so that a burst cannot ask the
  # proxy for more connections than its pool holds (modules/database_proxy checks the sum below).
  # Their reservations: infra/functions.json reserved_concurrency, unless var.database_reserved_concurrency
  # replaces them all.
  database_reserved_concurrency = var.database_reserved_concurrency != null ? var.database_reserved_concurrency : {
    for short, f in local.functions : short => f.reserved_concurrency if f.reserved_concurrency != null
  }
  compliance_runtime_secrets = [local.secrets["compliance_writer"], local.secrets["compliance_reader"]]
  # (the statements are filtered on their actions first: another statement's resources may be unknown
  # until apply, e.g. the async-failures queue's ARN, and must not make this list unknown at plan)
  database_functions = sort([for short, statements in local.permissions : short if !contains(local.migration_functions, short) && anytrue([
    for s in statements : length(setintersection(s.resources, local.compliance_runtime_secrets)) > 0 if contains(s.actions, "secretsmanager:GetSecretValue")
  ])])
  # Compliance connections one container holds at once: lambdas/common/db.py serves one invocation at a
  # time per container, with one connection per secret, and each of these functions uses one compliance
  # secret (nested connection() blocks on the same secret would need two: none does).
  connections_per_container = 1
  database_connections_at_most = sum(concat([0], [
    for short in local.database_functions : lookup(local.database_reserved_concurrency, short, 0) * local.connections_per_container
  ]))

  # The functions that log in as a master user (the deploy-time migration step): straight to RDS, from
  # their own security group; every other function reaches PostgreSQL only through the proxy.
  migration_functions = [for short, f in local.functions : short if f.master_login]

  # Functions EventBridge invokes asynchronously (modules/triggers): an invocation that still fails after
  # Lambda's retries is kept in the async-failures queue (below), never dropped.
  async_functions = [for short, f in local.functions : short if f.async]
  keep_failed_invocations = {
    sid = "KeepFailedInvocations", actions = ["sqs:SendMessage"], resources = [aws_sqs_queue.this.arn]
  }
}

locals {
  # The functions whose permissions send to the dead-letter queue: the only functions the queue's
  # policy (modules/messaging) lets send.
  dead_letter_senders = sort([for short, statements in local.permissions : short if anytrue([
    for s in statements : contains(s.actions, "sqs:SendMessage") && contains(s.resources, var.dead_letter_queue_arn)
  ])])
}

resource "aws_lambda_layer_version" "this" {
  layer_name               = "${var.name_prefix}-python-deps"
  description              = "Pinned dependencies of the MTX Lambdas (pydantic, aws-lambda-powertools, psycopg)"
  filename                 = var.layer_path
  source_code_hash         = fileexists(var.layer_path) ? filebase64sha256(var.layer_path) : null
  compatible_runtimes      = [var.runtime]
  compatible_architectures = [var.architecture]

  lifecycle {
    precondition {
      condition     = fileexists(var.layer_path)
      error_message = "No layer zip at ${var.layer_path}: build it first with `python infra/scripts/package.py`."
    }
  }
}

resource "aws_cloudwatch_log_group" "this" {
  for_each = local.function_names

  name              = "/aws/lambda/${each.value}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "this" {
  for_each = local.function_names

  name               = each.value
  description        = "Execution role of the ${each.key} function"
  assume_role_policy = data.aws_iam_policy_document.assume.json
}

data "aws_iam_policy_document" "this" {
  for_each = local.function_names

  statement {
    sid       = "WriteOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.this[each.key].arn}:*"]
  }

  statement {
    sid       = "SendTraces"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"] # X-Ray trace ingestion supports no resource-level permissions
  }

  statement {
    sid     = "CreateEnisInOwnSubnets"
    actions = ["ec2:CreateNetworkInterface"]
    resources = concat(
      var.subnet_arns,
      [contains(local.migration_functions, each.key) ? var.migration_security_group_arn : var.security_group_arn],
      ["arn:${local.partition}:ec2:${local.region}:${local.account_id}:network-interface/*"],
    )
  }

  statement {
    sid       = "ManageOwnEnis"
    actions   = ["ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"]
    resources = ["arn:${local.partition}:ec2:${local.region}:${local.account_id}:network-interface/*"]
  }

  statement {
    sid       = "DescribeEnis"
    actions   = ["ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"]
    resources = ["*"] # EC2 Describe* actions support no resource-level permissions
  }

  statement {
    sid       = "DecryptEnvironment"
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]
  }

  dynamic "statement" {
    for_each = local.permissions[each.key]
    content {
      sid       = statement.value.sid
      actions   = statement.value.actions
      resources = statement.value.resources
    }
  }
}

resource "aws_iam_role_policy" "this" {
  for_each = local.function_names

  name   = "${each.value}-least-privilege"
  role   = aws_iam_role.this[each.key].id
  policy = data.aws_iam_policy_document.this[each.key].json
}

resource "aws_lambda_function" "this" {
  for_each = local.functions

  function_name    = local.function_names[each.key]
  description      = "MTX ${each.key} (${each.value.handler})"
  role             = aws_iam_role.this[each.key].arn
  package_type     = contains(local.image_functions, each.key) ? "Image" : "Zip"
  image_uri        = contains(local.image_functions, each.key) ? var.analytics_image_uri : null
  handler          = contains(local.image_functions, each.key) ? null : each.value.handler
  runtime          = contains(local.image_functions, each.key) ? null : var.runtime
  architectures    = [var.architecture]
  filename         = contains(local.image_functions, each.key) ? null : var.package_path
  source_code_hash = !contains(local.image_functions, each.key) && fileexists(var.package_path) ? filebase64sha256(var.package_path) : null
  layers           = contains(local.image_functions, each.key) ? [] : [aws_lambda_layer_version.this.arn]
  memory_size      = each.value.memory
  timeout          = each.value.timeout
  kms_key_arn      = var.kms_key_arn

  # The database functions' own reservation (see local.database_functions), the rest the common one.
  reserved_concurrent_executions = lookup(local.database_reserved_concurrency, each.key, var.reserved_concurrency)

  environment {
    # OPENLINEAGE_URL: the standard OpenLineage client setting (contracts/lineage.py); unset, no lineage is sent
    variables = merge(var.environment, { POWERTOOLS_SERVICE_NAME = replace(each.key, "_", "-") },
    var.openlineage_url == "" ? {} : { OPENLINEAGE_URL = var.openlineage_url })
  }

  dynamic "image_config" {
    for_each = contains(local.image_functions, each.key) ? [each.value.handler] : []
    content {
      command = [image_config.value]
    }
  }

  tracing_config {
    mode = "Active"
  }

  # asynchronous invocations (EventBridge) that failed past Lambda's retries are kept, not dropped
  dynamic "dead_letter_config" {
    for_each = contains(local.async_functions, each.key) ? [aws_sqs_queue.this.arn] : []
    content {
      target_arn = dead_letter_config.value
    }
  }

  vpc_config {
    subnet_ids         = var.subnet_ids
    security_group_ids = [contains(local.migration_functions, each.key) ? var.migration_security_group_id : var.security_group_id]
  }

  lifecycle {
    precondition {
      condition     = fileexists(var.package_path)
      error_message = "No functions zip at ${var.package_path}: build it first with `python infra/scripts/package.py`."
    }
    precondition {
      condition     = !contains(local.database_functions, each.key) || lookup(local.database_reserved_concurrency, each.key, null) != null
      error_message = "${each.key} logs in to the compliance database: it needs its reserved_concurrency in infra/functions.json (or var.database_reserved_concurrency)."
    }
  }

  depends_on = [aws_cloudwatch_log_group.this, aws_iam_role_policy.this]

  # checkov:skip=CKV_AWS_115: the database functions always have reserved concurrency (reserved_concurrency in infra/functions.json, enforced by a precondition); the others are bounded upstream (API Gateway throttling, Map MaxConcurrency) and reserved_concurrency is opt-in for them
  # checkov:skip=CKV_AWS_116: the functions EventBridge invokes asynchronously on an event (local.async_functions) have a dead-letter queue; the daily schedules of archive_dead_letters and refresh_fx_rates have nothing to dead-letter (a failed run leaves the letters in the queue, or the last FX table in place and its age alarming; the next run takes them); the others are invoked synchronously only (by Step Functions, and analytics_api by the API Gateway proxy integration), where a failed invocation is retried and dead-lettered by the state machine or answered to the API client, and a Lambda DLQ applies to asynchronous invocations only
  # checkov:skip=CKV_AWS_272: packages are built from the reviewed repository by infra/scripts/package.py; code signing needs an AWS Signer profile per account, left to the deploying organisation
}

# --- asynchronous invocations: the net and the sweeper ------------------------------------------

# Lambda retries a failed asynchronous invocation twice; what still fails (the event: an execution's
# status change, with its input, or a schedule's tick) waits here for a person, encrypted like the DLQ.
# EventBridge's targets use it too for events they could not deliver (modules/triggers).
resource "aws_sqs_queue" "this" {
  name                              = "${var.name_prefix}-async-invocation-failures"
  message_retention_seconds         = 1209600 # 14 days, the most SQS keeps
  kms_master_key_id                 = var.kms_key_arn
  kms_data_key_reuse_period_seconds = 300
}

module "secure_transport" {
  source = "../secure_transport"

  actions       = ["sqs:*"]
  resource_arns = [aws_sqs_queue.this.arn]
}

data "aws_iam_policy_document" "async_failures" {
  source_policy_documents = [module.secure_transport.json]

  statement {
    sid       = "OurRulesKeepUndeliveredEvents"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.this.arn]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${local.partition}:events:${local.region}:${local.account_id}:rule/${var.name_prefix}-*"]
    }
  }
}

resource "aws_sqs_queue_policy" "this" {
  queue_url = aws_sqs_queue.this.id
  policy    = data.aws_iam_policy_document.async_failures.json
}

resource "aws_lambda_function_event_invoke_config" "this" {
  for_each = toset(local.async_functions)

  function_name                = aws_lambda_function.this[each.key].function_name
  maximum_retry_attempts       = 2
  maximum_event_age_in_seconds = 3600
}

# --- scheduled functions: an EventBridge rule each (the local runtime creates the same rules) ----------

resource "aws_cloudwatch_event_rule" "this" {
  for_each = local.schedules

  name                = local.function_names[each.key]
  description         = "Starts the ${each.key} function (${each.value})"
  schedule_expression = each.value
}

resource "aws_cloudwatch_event_target" "this" {
  for_each = local.schedules

  rule = aws_cloudwatch_event_rule.this[each.key].name
  arn  = aws_lambda_function.this[each.key].arn

  retry_policy {
    maximum_event_age_in_seconds = 3600
    maximum_retry_attempts       = 3
  }

  # an event EventBridge could not deliver is kept with the asynchronous invocations' failures
  dead_letter_config {
    arn = aws_sqs_queue.this.arn
  }
}

resource "aws_lambda_permission" "this" {
  for_each = local.schedules

  statement_id  = "StartedByItsSchedule"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.this[each.key].function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.this[each.key].arn
}

# The repository the analytics image is pushed to (see infra/README.md, "The analytics image").
resource "aws_ecr_repository" "this" {
  count = var.create_image_repository ? 1 : 0

  name                 = "${var.name_prefix}-analytics"
  image_tag_mutability = "IMMUTABLE"
  force_delete         = var.image_repository_force_delete

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = var.kms_key_arn
  }
}

resource "aws_ecr_lifecycle_policy" "this" {
  count = var.create_image_repository ? 1 : 0

  repository = aws_ecr_repository.this[0].name
  # Only untagged images expire (left behind by a re-pushed build): a tagged image may be the
  # one the functions run, and tags are immutable, so deployed images are never removed here.
  policy = jsonencode({
    rules = [{
      rulePriority = 1
      description  = "Expire untagged images after 14 days"
      selection    = { tagStatus = "untagged", countType = "sinceImagePushed", countUnit = "days", countNumber = 14 }
      action       = { type = "expire" }
    }]
  })
}
