output "json" {
  description = "The policy document with the DenyInsecureTransport statement, for source_policy_documents."
  value       = data.aws_iam_policy_document.this.json
}
