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
