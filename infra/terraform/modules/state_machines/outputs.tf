output "workflows" {
  description = "Workflows deployed (stems of the ASL files present), known at plan time."
  value       = sort(keys(local.workflows))
}

output "state_machine_names" {
  description = "State machine names by workflow."
  value       = { for w, m in aws_sfn_state_machine.this : w => m.name }
}

output "state_machine_arns" {
  description = "State machine ARNs by workflow (unqualified: for metrics, events and DescribeExecution; executions are started through alias_arns)."
  value       = { for w, m in aws_sfn_state_machine.this : w => m.arn }
}

output "role_arns" {
  description = "State machine role ARNs by workflow."
  value       = { for w, r in aws_iam_role.this : w => r.arn }
}

output "queue_sender_role_arns" {
  description = "Roles of the state machines that send to each queue, by queue ARN (derived from their definitions): the only state machines a queue's policy needs to let send."
  value = { for q in distinct(flatten(values(local.sent_queues))) : q => sort([
    for w, queues in local.sent_queues : aws_iam_role.this[w].arn if contains(queues, q)
  ]) }
}

output "log_group_names" {
  description = "CloudWatch Logs group of each workflow's execution history (level var.log_level, no execution data), by workflow."
  value       = { for w, g in aws_cloudwatch_log_group.this : w => g.name }
}

output "standard_state_machine_arns" {
  description = "ARNs of the Standard state machines: the ones whose executions emit status-change events (the last-resort net watches them)."
  value       = sort([for w, m in aws_sfn_state_machine.this : m.arn if m.type == "STANDARD"])
}

output "alias_arns" {
  description = "ARN of each workflow's alias (<state machine ARN>:live), by workflow: what every starter of an execution targets."
  value       = { for w, a in aws_sfn_alias.this : w => a.arn }
}

output "live_version_arns" {
  description = "The version each workflow's alias routes to, by workflow (the latest published unless pinned by live_versions)."
  value       = local.live_version_arns
}

output "published_version_arns" {
  description = "The version this apply published of each workflow (the current definition), by workflow."
  value       = { for w, m in aws_sfn_state_machine.this : w => m.state_machine_version_arn }
}
