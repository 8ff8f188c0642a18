output "domain_name" {
  description = "The custom domain name."
  value       = aws_api_gateway_domain_name.this.domain_name
}

output "url" {
  description = "HTTPS URL of the mapped stage through the custom domain."
  value       = "https://${var.domain_name}/${var.base_path}"
}

output "certificate_arn" {
  description = "ARN of the certificate the domain uses."
  value       = local.certificate_arn
}

output "target_domain_name" {
  description = "API Gateway host name the DNS records alias (regional or CloudFront)."
  value       = local.target_name
}

output "target_zone_id" {
  description = "Hosted zone of target_domain_name, for alias records you manage yourself."
  value       = local.target_zone_id
}

output "record_fqdns" {
  description = "FQDNs of the alias records created (empty when create_dns_records is false)."
  value       = [for r in aws_route53_record.alias : r.fqdn]
}

output "base_path" {
  description = "Base path of the mapping (empty = root)."
  value       = var.base_path
}

output "health_check_id" {
  description = "Route 53 health check attached to the alias records: the one health_check created, or health_check_id (null when none)."
  value       = local.health_check_id
}

output "health_check_target" {
  description = "What the created health check probes: type, host (fqdn or ip_address), port and resource_path (null without health_check)."
  value = var.health_check == null ? null : {
    type          = local.health_target.type
    host          = coalesce(local.health_target.fqdn, local.health_target.ip_address)
    port          = local.health_target.port
    resource_path = local.health_target.resource_path
  }
}

output "set_identifier" {
  description = "This region's set_identifier in the group of alias records (null with a simple record)."
  value       = try(var.routing.set_identifier, null)
}
