output "controller_config" {
  description = "What the controller reads (python -m controller ... --tf-dir .)."
  value       = module.canary.controller_config
}

output "production_invoke_url" {
  description = "Production stage URL: curl \"$URL/hello\"."
  value       = module.canary.production_invoke_url
}

output "staging_invoke_url" {
  description = "Staging stage URL: curl \"$URL/hello\"."
  value       = module.canary.staging_invoke_url
}

output "test_commands" {
  description = "curl the routes on both stages; the controller's status and dry run: terraform output -json test_commands."
  value       = module.canary.test_commands
}

output "rollback_alarm_name" {
  description = "Composite alarm that means roll back."
  value       = module.canary.rollback_alarm_name
}
