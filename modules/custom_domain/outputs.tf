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
