# The tables of the manifest (orchestration/runtime/resources.py): same names, hash keys, range
# keys and TTL attributes. On-demand capacity, point-in-time recovery, KMS.

locals {
  tables = {
    item_catalogue   = { name = "${var.name_prefix}-item-catalogue", hash_key = "item_id", range_key = null, ttl_attribute = null }
    analytics        = { name = "${var.name_prefix}-analytics-transactions", hash_key = "transaction_id", range_key = null, ttl_attribute = null }
    execution_status = { name = "${var.name_prefix}-execution-status", hash_key = "transaction_id", range_key = null, ttl_attribute = null }
    batch_runs       = { name = "${var.name_prefix}-batch-runs", hash_key = "run_id", range_key = null, ttl_attribute = null }
    analytics_cache  = { name = "${var.name_prefix}-analytics-cache", hash_key = "cache_key", range_key = null, ttl_attribute = "expires_at" }
    analytics_jobs   = { name = "${var.name_prefix}-analytics-jobs", hash_key = "job_id", range_key = null, ttl_attribute = "expires_at" }
    # one item per execution whose input the last-resort net or the sweeper dead-lettered (exactly once)
    execution_dead_letters = { name = "${var.name_prefix}-execution-dead-letters", hash_key = "execution_arn", range_key = null, ttl_attribute = null }
    # one item per player: its first transaction, put once with a condition (lambdas/common/enrich/players.py)
    players = { name = "${var.name_prefix}-players", hash_key = "player_id", range_key = null, ttl_attribute = null }
    # the real-time revenue rollups (game x hour, item x day) and the markers that apply each version once,
    # which expire (lambdas/common/realtime.py; docs/lifecycle.md, "Real-time aggregates")
    realtime_aggregates = { name = "${var.name_prefix}-realtime-aggregates", hash_key = "pk", range_key = "sk", ttl_attribute = "expires_at" }
  }
}

resource "aws_dynamodb_table" "this" {
  for_each = local.tables

  name                        = each.value.name
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = each.value.hash_key
  range_key                   = each.value.range_key
  deletion_protection_enabled = var.deletion_protection

  attribute {
    name = each.value.hash_key
    type = "S"
  }

  dynamic "attribute" {
    for_each = each.value.range_key == null ? [] : [each.value.range_key]
    content {
      name = attribute.value
      type = "S"
    }
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = var.kms_key_arn
  }

  dynamic "ttl" {
    for_each = each.value.ttl_attribute == null ? [] : [each.value.ttl_attribute]
    content {
      enabled        = true
      attribute_name = ttl.value
    }
  }
}
