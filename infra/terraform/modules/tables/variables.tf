variable "name_prefix" {
  description = "Prefix of every resource name, \"<project>-<environment>\" (e.g. mtx-dev)."
  type        = string
}

variable "kms_key_arn" {
  description = "ARN of the KMS key that encrypts the tables."
  type        = string
}

variable "deletion_protection" {
  description = "Protect the tables against deletion (true in prod)."
  type        = bool
  default     = true
}
