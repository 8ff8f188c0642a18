output "controller_configs" {
  description = "Each region's controller_config, by region: save one with terraform output -json controller_configs | jq '.[\"us-east-1\"]' > us-east-1.json and run python -m controller ... --outputs us-east-1.json."
  value = {
    (var.primary_region)   = module.primary.controller_config
    (var.secondary_region) = module.secondary.controller_config
  }
}

output "production_invoke_urls" {
  description = "Production stage URL of each region, by region (its own regional endpoint, bypassing DNS)."
  value = {
    (var.primary_region)   = module.primary.production_invoke_url
    (var.secondary_region) = module.secondary.production_invoke_url
  }
}

output "staging_invoke_urls" {
  description = "Staging stage URL of each region, by region."
  value = {
    (var.primary_region)   = module.primary.staging_invoke_url
    (var.secondary_region) = module.secondary.staging_invoke_url
  }
}

output "health_check_ids" {
  description = "Route 53 health check of each region's production stage, by region."
  value = {
    (var.primary_region)   = module.primary.custom_domain_health_check_id
    (var.secondary_region) = module.secondary.custom_domain_health_check_id
  }
}

output "custom_domain_url" {
  description = "URL clients call; Route 53 answers with a healthy region."
  value       = module.primary.custom_domain_url
}

output "zone_id" {
  description = "Hosted zone that holds the records."
  value       = local.zone_id
}

output "zone_name_servers" {
  description = "Name servers of the zone created with zone_name, to delegate it from its parent (empty otherwise)."
  value       = flatten(aws_route53_zone.this[*].name_servers)
}
