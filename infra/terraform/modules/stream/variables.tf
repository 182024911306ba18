variable "name_prefix" {
  description = "Prefix of every name (project-environment); the stream is <name_prefix>-transaction-stream (orchestration/manifest.py stream_name)."
  type        = string
}

variable "kms_key_arn" {
  description = "The customer-managed key (module kms) the stream and the on-failure queue are encrypted with."
  type        = string
}

variable "function_arn" {
  description = "ARN of the ingest_stream function (module lambda) the mapping invokes."
  type        = string
}

variable "function_role_name" {
  description = "Name of the ingest_stream function's execution role (module lambda), given the stream's read permissions here."
  type        = string
}

variable "producer_role_name" {
  description = "Name of the put_events function's execution role (module lambda; POST /events of the API), given kinesis:PutRecords on this stream and kms:GenerateDataKey on the key, nothing else; null: no API producer."
  type        = string
  default     = null
}

variable "stream_mode" {
  description = "ON_DEMAND (sizes itself, up to 200 MiB/s and 200,000 records/s without a quota increase; docs/capacity.md) or PROVISIONED (shard_count shards, e.g. pre-warmed for a launch)."
  type        = string
  default     = "ON_DEMAND"

  validation {
    condition     = contains(["ON_DEMAND", "PROVISIONED"], var.stream_mode)
    error_message = "stream_mode is ON_DEMAND or PROVISIONED."
  }
}

variable "shard_count" {
  description = "Shards of a PROVISIONED stream (1,000 records/s or 1 MiB/s each); ignored on demand."
  type        = number
  default     = 1
}

variable "retention_period_hours" {
  description = "Hours the stream keeps a record: what a failed batch has to be retried or replayed within (24 to 8760)."
  type        = number
  default     = 24

  validation {
    condition     = var.retention_period_hours >= 24 && var.retention_period_hours <= 8760
    error_message = "retention_period_hours is between 24 and 8760."
  }
}

variable "batch_size" {
  description = "Records per batch at most (one COPY each): 500 by default (docs/capacity.md)."
  type        = number
  default     = 500

  validation {
    condition     = var.batch_size >= 1 && var.batch_size <= 10000
    error_message = "batch_size is between 1 and 10000."
  }
}

variable "maximum_batching_window_in_seconds" {
  description = "Seconds the mapping gathers records before it invokes with a batch that is not full."
  type        = number
  default     = 1

  validation {
    condition     = var.maximum_batching_window_in_seconds >= 0 && var.maximum_batching_window_in_seconds <= 300
    error_message = "maximum_batching_window_in_seconds is between 0 and 300."
  }
}

variable "parallelization_factor" {
  description = "Batches of one shard in flight at once (1 to 10): 1 keeps a shard's records in order and the compliance connections low; raise it only if a batch is slower than a shard fills (docs/capacity.md)."
  type        = number
  default     = 1

  validation {
    condition     = var.parallelization_factor >= 1 && var.parallelization_factor <= 10
    error_message = "parallelization_factor is between 1 and 10."
  }
}

variable "maximum_retry_attempts" {
  description = "Retries of a failed batch (or of its records from the first reported one) before it is given up to the on-failure queue; the records stay in the stream for its retention."
  type        = number
  default     = 10

  validation {
    condition     = var.maximum_retry_attempts >= 0 && var.maximum_retry_attempts <= 10000
    error_message = "maximum_retry_attempts is between 0 and 10000."
  }
}

variable "maximum_record_age_in_seconds" {
  description = "Records older than this are not retried any more but given up to the on-failure queue (60 to 604800; below the retention)."
  type        = number
  default     = 3600

  validation {
    condition     = var.maximum_record_age_in_seconds >= 60 && var.maximum_record_age_in_seconds <= 604800
    error_message = "maximum_record_age_in_seconds is between 60 and 604800."
  }
}

variable "starting_position" {
  description = "Where a new mapping starts reading: TRIM_HORIZON (everything the stream holds) or LATEST."
  type        = string
  default     = "TRIM_HORIZON"

  validation {
    condition     = contains(["TRIM_HORIZON", "LATEST"], var.starting_position)
    error_message = "starting_position is TRIM_HORIZON or LATEST."
  }
}

variable "enhanced_fan_out" {
  description = "Read through a dedicated consumer (enhanced fan-out: 2 MiB/s per shard of its own, pushed with SubscribeToShard) instead of sharing the shards' 2 MiB/s with other readers."
  type        = bool
  default     = false
}
