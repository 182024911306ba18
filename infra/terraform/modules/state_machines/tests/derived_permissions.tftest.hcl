# `terraform test` (offline: mocked provider) of the permissions this module
# derives from the ASL files of orchestration/state_machines. Run by
# infra/scripts/tf_check.sh.

mock_provider "aws" {
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
  override_data {
    target = data.aws_caller_identity.this
    values = { account_id = "123456789012" }
  }
  override_data {
    target = data.aws_region.this
    values = { name = "eu-west-1" }
  }
  override_data {
    target = data.aws_partition.this
    values = { partition = "aws" }
  }
}

variables {
  name_prefix        = "mtx-dev"
  state_machines_dir = "../../../../orchestration/state_machines"
  kms_key_arn        = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000"
  queue_arns_by_url = {
    "https://sqs.eu-west-1.amazonaws.com/123456789012/mtx-dev-dead-letter.fifo" = "arn:aws:sqs:eu-west-1:123456789012:mtx-dev-dead-letter.fifo"
  }
  template_values = {
    validate_transaction_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:mtx-dev-validate-transaction"
    check_item_function_arn           = "arn:aws:lambda:eu-west-1:123456789012:function:mtx-dev-check-item"
    enrich_transaction_function_arn   = "arn:aws:lambda:eu-west-1:123456789012:function:mtx-dev-enrich-transaction"
    store_compliance_function_arn     = "arn:aws:lambda:eu-west-1:123456789012:function:mtx-dev-store-compliance"
    strip_pii_function_arn            = "arn:aws:lambda:eu-west-1:123456789012:function:mtx-dev-strip-pii"
    store_analytics_function_arn      = "arn:aws:lambda:eu-west-1:123456789012:function:mtx-dev-store-analytics"
    undo_partial_write_function_arn   = "arn:aws:lambda:eu-west-1:123456789012:function:mtx-dev-undo-partial-write"
    split_file_function_arn           = "arn:aws:lambda:eu-west-1:123456789012:function:mtx-dev-split-file"
    process_chunk_function_arn        = "arn:aws:lambda:eu-west-1:123456789012:function:mtx-dev-process-chunk"
    dead_letter_chunk_function_arn    = "arn:aws:lambda:eu-west-1:123456789012:function:mtx-dev-dead-letter-chunk"
    finalize_run_function_arn         = "arn:aws:lambda:eu-west-1:123456789012:function:mtx-dev-finalize-run"
    quarantine_file_function_arn      = "arn:aws:lambda:eu-west-1:123456789012:function:mtx-dev-quarantine-file"
    build_marts_function_arn          = "arn:aws:lambda:eu-west-1:123456789012:function:mtx-dev-build-marts"
    run_data_checks_function_arn      = "arn:aws:lambda:eu-west-1:123456789012:function:mtx-dev-run-data-checks"
    run_analytics_job_function_arn    = "arn:aws:lambda:eu-west-1:123456789012:function:mtx-dev-run-analytics-job"
    execution_status_table            = "mtx-dev-execution-status"
    item_catalogue_table              = "mtx-dev-item-catalogue"
    analytics_table                   = "mtx-dev-analytics-transactions"
    batch_runs_table                  = "mtx-dev-batch-runs"
    analytics_jobs_table              = "mtx-dev-analytics-jobs"
    dead_letter_queue_url             = "https://sqs.eu-west-1.amazonaws.com/123456789012/mtx-dev-dead-letter.fifo"
    alerts_topic_arn                  = "arn:aws:sns:eu-west-1:123456789012:mtx-dev-alerts"
    raw_bucket                        = "mtx-dev-raw"
    analytics_bucket                  = "mtx-dev-analytics"
    curated_bucket                    = "mtx-dev-curated"
    query_results_bucket              = "mtx-dev-query-results"
    glue_database                     = "mtx_dev"
    glue_crawler_name                 = "mtx-dev-transactions-crawler"
    glue_job_name                     = "mtx-dev-flatten-transactions"
  }
}

run "every_asl_file_is_a_state_machine" {
  command = plan

  assert {
    condition     = contains(keys(local.names), "transaction") && local.names["transaction"] == "mtx-dev-transaction"
    error_message = "The transaction workflow must be deployed as mtx-dev-transaction."
  }

  assert {
    condition     = aws_sfn_state_machine.this["transaction"].type == "EXPRESS"
    error_message = "The transaction workflow is an Express state machine."
  }

  assert {
    condition     = alltrue([for w, m in aws_sfn_state_machine.this : m.logging_configuration[0].include_execution_data == false])
    error_message = "Execution data (card numbers, IPs) must never be logged."
  }

  assert {
    condition     = alltrue([for w, u in local.unresolved : length(u) == 0])
    error_message = "Every Task of every workflow must map to scoped IAM permissions."
  }
}

run "transaction_workflow_gets_exactly_what_it_calls" {
  command = plan

  assert {
    condition = toset(flatten([for s in local.statements["transaction"] : s.resources if contains(s.actions, "lambda:InvokeFunction")])) == toset(flatten([
      for short in ["validate_transaction", "check_item", "enrich_transaction", "store_compliance", "strip_pii", "store_analytics", "undo_partial_write"] :
      [var.template_values["${short}_function_arn"], "${var.template_values["${short}_function_arn"]}:*"]
    ]))
    error_message = "lambda:InvokeFunction must cover exactly the seven functions the workflow invokes."
  }

  assert {
    condition     = toset(flatten([for s in local.statements["transaction"] : s.actions if anytrue([for a in s.actions : startswith(a, "dynamodb:")])])) == toset(["dynamodb:PutItem", "dynamodb:UpdateItem"])
    error_message = "The transaction workflow only puts and updates execution-status items."
  }

  assert {
    condition     = toset(flatten([for s in local.statements["transaction"] : s.resources if anytrue([for a in s.actions : startswith(a, "dynamodb:")])])) == toset(["arn:aws:dynamodb:eu-west-1:123456789012:table/mtx-dev-execution-status"])
    error_message = "DynamoDB access is scoped to the execution-status table."
  }

  assert {
    condition     = toset(flatten([for s in local.statements["transaction"] : s.resources if contains(s.actions, "sqs:SendMessage")])) == toset(["arn:aws:sqs:eu-west-1:123456789012:mtx-dev-dead-letter.fifo"])
    error_message = "sqs:SendMessage is scoped to the dead-letter queue."
  }

  assert {
    condition     = toset(flatten([for s in local.statements["transaction"] : s.resources if contains(s.actions, "sns:Publish")])) == toset(["arn:aws:sns:eu-west-1:123456789012:mtx-dev-alerts"])
    error_message = "sns:Publish is scoped to the alert topic."
  }

  assert {
    condition     = alltrue([for s in flatten(values(local.statements)) : !contains(s.resources, "*") && !anytrue([for a in s.actions : endswith(a, "*")])])
    error_message = "Derived statements never use wildcard actions or resources."
  }
}

run "analytics_refresh_gets_exactly_what_it_calls" {
  command = plan

  assert {
    condition     = aws_sfn_state_machine.this["analytics_refresh"].type == "STANDARD"
    error_message = "The analytics refresh is a Standard state machine."
  }

  assert {
    condition = toset(flatten([for s in local.statements["analytics_refresh"] : s.resources if contains(s.actions, "lambda:InvokeFunction")])) == toset(flatten([
      for short in ["build_marts", "run_data_checks"] :
      [var.template_values["${short}_function_arn"], "${var.template_values["${short}_function_arn"]}:*"]
    ]))
    error_message = "lambda:InvokeFunction must cover exactly the two functions the analytics refresh invokes."
  }

  assert {
    condition = toset(flatten([for s in local.statements["analytics_refresh"] : s.actions if anytrue([for a in s.actions : startswith(a, "glue:")])])) == toset([
      "glue:StartCrawler", "glue:GetCrawler", "glue:StartJobRun", "glue:GetJobRun", "glue:GetJobRuns", "glue:BatchStopJobRun",
    ])
    error_message = "The analytics refresh starts and polls its crawler (aws-sdk:glue) and runs its job with glue:startJobRun.sync: exactly those Glue actions."
  }

  assert {
    condition = toset(flatten([for s in local.statements["analytics_refresh"] : s.resources if anytrue([for a in s.actions : startswith(a, "glue:")])])) == toset([
      "arn:aws:glue:eu-west-1:123456789012:crawler/mtx-dev-transactions-crawler",
      "arn:aws:glue:eu-west-1:123456789012:job/mtx-dev-flatten-transactions",
    ])
    error_message = "The Glue actions are scoped to the crawler and the job the refresh names."
  }

  assert {
    condition = alltrue([for s in local.statements["analytics_refresh"] : (
      !anytrue([for a in s.actions : contains(["glue:StartCrawler", "glue:GetCrawler"], a)]) || toset(s.resources) == toset(["arn:aws:glue:eu-west-1:123456789012:crawler/mtx-dev-transactions-crawler"])
    )])
    error_message = "The crawler actions are granted on the crawler alone (not on the job)."
  }

  assert {
    condition     = toset(flatten([for s in local.statements["analytics_refresh"] : s.resources if contains(s.actions, "sns:Publish")])) == toset(["arn:aws:sns:eu-west-1:123456789012:mtx-dev-alerts"])
    error_message = "The analytics refresh's sns:Publish (failure alert) is derived from its ASL and scoped to the alert topic."
  }

  assert {
    condition = toset(flatten([for s in local.statements["analytics_refresh"] : s.actions])) == toset([
      "lambda:InvokeFunction", "sns:Publish",
      "glue:StartCrawler", "glue:GetCrawler", "glue:StartJobRun", "glue:GetJobRun", "glue:GetJobRuns", "glue:BatchStopJobRun",
    ])
    error_message = "The analytics refresh only runs its crawler and job, invokes its Lambdas and publishes its failure alert."
  }
}

run "the_dead_letter_senders_are_derived_from_the_definitions" {
  command = plan

  assert {
    condition     = local.sent_queues["transaction"] == tolist(["arn:aws:sqs:eu-west-1:123456789012:mtx-dev-dead-letter.fifo"])
    error_message = "The transaction workflow dead-letters: it must be listed as a sender to the dead-letter queue."
  }

  assert {
    condition     = alltrue([for w, queues in local.sent_queues : length(queues) == 0 || strcontains(file("${var.state_machines_dir}/${w}.asl.json"), "arn:aws:states:::sqs:sendMessage")])
    error_message = "Only a workflow whose definition sends to SQS may be listed as a queue sender."
  }
}
