output "workflows" {
  description = "Workflows deployed (stems of the ASL files present), known at plan time."
  value       = sort(keys(local.workflows))
}

output "state_machine_names" {
  description = "State machine names by workflow."
  value       = { for w, m in aws_sfn_state_machine.this : w => m.name }
}

output "state_machine_arns" {
  description = "State machine ARNs by workflow."
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
