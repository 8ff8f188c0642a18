output "controller_config" {
  description = "What the controller reads (python -m controller ... --tf-dir .)."
  value       = module.canary.controller_config
}

output "controller_iam_policy_json" {
  description = "Least-privilege policy for the controller's role."
  value       = module.canary.controller_iam_policy_json
}

output "production_invoke_url" {
  description = "Production stage URL."
  value       = module.canary.production_invoke_url
}

output "staging_invoke_url" {
  description = "Staging stage URL."
  value       = module.canary.staging_invoke_url
}

output "production_stage_arn" {
  description = "Production stage ARN, for aws_wafv2_web_acl_association."
  value       = module.canary.production_stage_arn
}

output "function_role_names" {
  description = "Execution role of each slot, to attach policies for what your code calls."
  value       = module.canary.function_role_names
}

output "dlq_url" {
  description = "Dead-letter queue of both slots' failed asynchronous invocations."
  value       = module.canary.dlq_url
}

output "test_commands" {
  description = "curl every route on both stages; the controller's status and dry run."
  value       = module.canary.test_commands
}

output "alarm_topic_arn" {
  description = "SNS topic the alarms notify."
  value       = aws_sns_topic.alarms.arn
}

output "dashboard_name" {
  description = "CloudWatch dashboard with both slots side by side."
  value       = module.canary.dashboard_name
}

output "dashboard_url" {
  description = "The dashboard in the CloudWatch console."
  value       = module.canary.dashboard_url
}

output "custom_domain_url" {
  description = "Production through the custom domain (null without domain_name)."
  value       = module.canary.custom_domain_url
}

output "zone_id" {
  description = "Hosted zone holding the custom domain's records (null without domain_name, or when DNS is yours)."
  value       = var.domain_name == null ? null : local.zone_id
}

output "zone_name_servers" {
  description = "Name servers of the zone this stack created, to delegate to from the parent domain (empty unless zone_name is set)."
  value       = flatten(aws_route53_zone.this[*].name_servers)
}
