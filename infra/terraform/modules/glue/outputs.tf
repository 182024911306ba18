output "database_name" {
  description = "Name of the Glue catalog database (name_prefix with - replaced by _)."
  value       = aws_glue_catalog_database.this.name
}

output "crawler_name" {
  description = "Name of the crawler over the analytics copy."
  value       = aws_glue_crawler.this.name
}

output "job_name" {
  description = "Name of the flatten job."
  value       = aws_glue_job.this.name
}

output "job_role_arn" {
  description = "ARN of the flatten job's role."
  value       = aws_iam_role.job.arn
}
