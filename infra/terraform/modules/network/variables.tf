variable "name_prefix" {
  description = "Prefix of every resource name, \"<project>-<environment>\" (e.g. mtx-dev)."
  type        = string
}

variable "cidr_block" {
  description = "IPv4 CIDR block of the VPC; private subnets are carved from it (/20 each)."
  type        = string
  default     = "10.40.0.0/16"

  validation {
    condition     = can(cidrhost(var.cidr_block, 0)) && tonumber(split("/", var.cidr_block)[1]) <= 18
    error_message = "cidr_block must be an IPv4 CIDR of /18 or larger."
  }
}

variable "az_count" {
  description = "Number of availability zones with a private subnet (RDS needs at least 2)."
  type        = number
  default     = 2

  validation {
    condition     = var.az_count >= 2 && var.az_count <= 4
    error_message = "az_count must be between 2 and 4."
  }
}

variable "interface_endpoints" {
  description = "AWS services reached through interface VPC endpoints (the subnets have no route to the internet). secretsmanager, sqs, sns, glue and states for the Lambdas, kinesis-streams for put_events (POST /events); glue, logs, monitoring, sts and kms for the Glue job that runs in the VPC."
  type        = list(string)
  default     = ["secretsmanager", "sqs", "sns", "glue", "states", "kinesis-streams", "logs", "monitoring", "sts", "kms"]

  validation {
    condition     = alltrue([for s in ["secretsmanager", "sqs", "sns", "glue", "states"] : contains(var.interface_endpoints, s)])
    error_message = "The Lambdas read their database secrets, dead-letter batch records, publish data-check alerts, start the Glue crawler and job, start analytics jobs and describe executions (the net, the sweeper): secretsmanager, sqs, sns, glue and states must be among interface_endpoints."
  }
}

variable "kms_key_arn" {
  description = "ARN of the KMS key that encrypts the flow-log group."
  type        = string
}

variable "log_retention_days" {
  description = "Retention of the VPC flow-log group, in days."
  type        = number
  default     = 365
}
