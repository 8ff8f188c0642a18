output "rest_api_id" {
  description = "ID of the REST API."
  value       = aws_api_gateway_rest_api.this.id
}

output "rest_api_name" {
  description = "Name of the REST API (the ApiName metric dimension)."
  value       = aws_api_gateway_rest_api.this.name
}

output "rest_api_arn" {
  description = "ARN of the REST API (for IAM policies on the API's configuration)."
  value       = aws_api_gateway_rest_api.this.arn
}

output "execution_arn" {
  description = "Execution ARN of the REST API (prefix of the ARNs in Lambda permissions and IAM policies)."
  value       = local.execution_arn
}

output "root_resource_id" {
  description = "ID of the API's root resource."
  value       = aws_api_gateway_rest_api.this.root_resource_id
}

output "production_stage_name" {
  description = "Name of the stage serving live traffic."
  value       = aws_api_gateway_stage.production.stage_name
}

output "staging_stage_name" {
  description = "Name of the stage serving the idle slot."
  value       = aws_api_gateway_stage.staging.stage_name
}

output "production_stage_arn" {
  description = "ARN of the production stage (for a WAF association, for example)."
  value       = aws_api_gateway_stage.production.arn
}

output "staging_stage_arn" {
  description = "ARN of the staging stage."
  value       = aws_api_gateway_stage.staging.arn
}

output "production_invoke_url" {
  description = "AWS invoke URL of the production stage."
  value       = aws_api_gateway_stage.production.invoke_url
}

output "staging_invoke_url" {
  description = "AWS invoke URL of the staging stage."
  value       = aws_api_gateway_stage.staging.invoke_url
}

output "initial_deployment_id" {
  description = "Deployment production started on (the controller moves production off it at its first promotion)."
  value       = aws_api_gateway_deployment.initial.id
}

output "staging_deployment_id" {
  description = "Deployment of the current API definition, served by the staging stage."
  value       = aws_api_gateway_deployment.staging.id
}

output "definition_hash" {
  description = "Hash of the API definition the staging deployment snapshots."
  value       = local.definition_hash
}

output "routes" {
  description = "Routes of the API, as path and method."
  value       = [for r in var.routes : { path = r.path, method = r.method }]
}

output "slot_variable_name" {
  description = "Stage variable that selects the slot."
  value       = var.slot_variable_name
}

output "initial_live_slot" {
  description = "Slot production served when it was created."
  value       = var.initial_live_slot
}

output "integration_uri" {
  description = "Integration URI shared by every route (selects the function with the slot stage variable)."
  value       = local.integration_uri
}

output "access_log_group_name" {
  description = "CloudWatch log group of both stages' access logs."
  value       = aws_cloudwatch_log_group.access.name
}
