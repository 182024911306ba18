variable "name_prefix" {
  description = "Prefix of every resource name, \"<project>-<environment>\" (e.g. mtx-dev)."
  type        = string
}

variable "kms_key_arn" {
  description = "ARN of the KMS key used for default bucket encryption (SSE-KMS with an S3 bucket key)."
  type        = string
}

variable "force_destroy" {
  description = "Allow `terraform destroy` to delete buckets that still hold objects (dev only)."
  type        = bool
  default     = false
}

variable "noncurrent_version_expiration_days" {
  description = "Days after which non-current object versions are deleted."
  type        = number
  default     = 30

  validation {
    condition     = var.noncurrent_version_expiration_days >= 1
    error_message = "noncurrent_version_expiration_days must be at least 1."
  }
}

variable "raw_incoming_expiration_days" {
  description = "Days after which batch files under incoming/ of the raw bucket are deleted (they are re-ingestable from the producer)."
  type        = number
  default     = 90

  validation {
    condition     = var.raw_incoming_expiration_days >= 1
    error_message = "raw_incoming_expiration_days must be at least 1."
  }
}

variable "raw_chunks_expiration_days" {
  description = "Days after which the chunks a batch file is split into (chunks/ of the raw bucket, full records) are deleted; a run needs them only while it runs."
  type        = number
  default     = 7

  validation {
    condition     = var.raw_chunks_expiration_days >= 1
    error_message = "raw_chunks_expiration_days must be at least 1."
  }
}

variable "raw_rejected_expiration_days" {
  description = "Days after which quarantined files and records (rejected/ of the raw bucket, full records) are deleted: the time to investigate and re-send them."
  type        = number
  default     = 90

  validation {
    condition     = var.raw_rejected_expiration_days >= 1
    error_message = "raw_rejected_expiration_days must be at least 1."
  }
}

variable "query_results_expiration_days" {
  description = "Days after which query results (analytics API, Athena/Redshift unloads) are deleted."
  type        = number
  default     = 7
}
