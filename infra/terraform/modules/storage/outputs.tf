output "bucket_names" {
  description = "Bucket names by role (raw, analytics, curated, glue_scripts, query_results)."
  value       = { for k, b in aws_s3_bucket.this : k => b.bucket }
}

output "bucket_arns" {
  description = "Bucket ARNs by role."
  value       = { for k, b in aws_s3_bucket.this : k => b.arn }
}
