output "endpoint" {
  description = "Host name the runtime roles log in to: the proxy's endpoint (null with no RDS instance)."
  value       = one(aws_db_proxy.this[*].endpoint)
}

output "arn" {
  description = "ARN of the proxy (null with no RDS instance)."
  value       = one(aws_db_proxy.this[*].arn)
}

output "pool_connections" {
  description = "Connections the proxy's pool may open to the instance (max_connections_percent of db_max_connections)."
  value       = local.pool_connections
}
