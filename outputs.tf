################################################################################
# For the controller: one object, versioned
################################################################################

output "controller_config" {
  description = "Everything the traffic controller needs, as one versioned object (schema in docs/contracts.md)."
  value = {
    schema_version   = 1
    region           = data.aws_region.current.region
    api_id           = module.rest_api.rest_api_id
    api_name         = module.rest_api.rest_api_name
    production_stage = module.rest_api.production_stage_name
    staging_stage    = module.rest_api.staging_stage_name
    invoke_urls      = local.invoke_urls
    routes           = module.rest_api.routes
    slot_variable    = module.rest_api.slot_variable_name
    slots = {
      for slot, m in module.slot : slot => {
        function_name = m.function_name
        function_arn  = m.function_arn
        version_label = m.version_label
      }
    }
    alarm_names         = concat(module.alarms.alarm_names, var.extra_rollback_alarm_names)
    rollback_alarm_name = module.alarms.rollback_alarm_name
    metrics = {
      namespace      = "AWS/ApiGateway"
      api_name       = module.rest_api.rest_api_name
      period_seconds = var.metric_period_seconds
    }
    # Every canary the controller creates carries these (the slot variable's override wins).
    canary_stage_variable_overrides = var.canary_stage_variable_overrides
  }
}

output "controller_iam_policy_json" {
  description = "Least-privilege IAM policy (JSON) for whoever runs the controller against this stack."
  value       = data.aws_iam_policy_document.controller.json
}

################################################################################
# API
################################################################################

output "rest_api_id" {
  description = "ID of the REST API."
  value       = module.rest_api.rest_api_id
}

output "rest_api_name" {
  description = "Name of the REST API."
  value       = module.rest_api.rest_api_name
}

output "rest_api_arn" {
  description = "ARN of the REST API (for IAM policies on its configuration)."
  value       = module.rest_api.rest_api_arn
}

output "execution_arn" {
  description = "Execution ARN of the REST API."
  value       = module.rest_api.execution_arn
}

output "production_stage_name" {
  description = "Stage serving live traffic."
  value       = module.rest_api.production_stage_name
}

output "staging_stage_name" {
  description = "Stage serving the idle slot."
  value       = module.rest_api.staging_stage_name
}

output "production_stage_arn" {
  description = "ARN of the production stage: what aws_wafv2_web_acl_association takes as resource_arn."
  value       = module.rest_api.production_stage_arn
}

output "staging_stage_arn" {
  description = "ARN of the staging stage (for a WAF association of its own)."
  value       = module.rest_api.staging_stage_arn
}

output "production_invoke_url" {
  description = "Invoke URL of the production stage (the local data plane's when execute_api_endpoint is set)."
  value       = local.invoke_urls.production
}

output "staging_invoke_url" {
  description = "Invoke URL of the staging stage (the local data plane's when execute_api_endpoint is set)."
  value       = local.invoke_urls.staging
}

output "access_log_group_name" {
  description = "Log group of both stages' JSON access logs."
  value       = module.rest_api.access_log_group_name
}

################################################################################
# Slots
################################################################################

output "function_names" {
  description = "Slot function names by slot."
  value       = { for slot, m in module.slot : slot => m.function_name }
}

output "function_arns" {
  description = "Slot function ARNs by slot."
  value       = { for slot, m in module.slot : slot => m.function_arn }
}

output "function_invoke_arns" {
  description = "ARN API Gateway invokes each slot function with, by slot (for integrations of your own)."
  value       = { for slot, m in module.slot : slot => m.invoke_arn }
}

output "version_labels" {
  description = "Release label of each slot."
  value       = { for slot, m in module.slot : slot => m.version_label }
}

output "function_role_arns" {
  description = "Execution role ARN of each slot function."
  value       = { for slot, m in module.slot : slot => m.role_arn }
}

output "function_role_names" {
  description = "Execution role name of each slot function (to attach policies for what your code calls)."
  value       = { for slot, m in module.slot : slot => m.role_name }
}

output "dead_letter_target_arn" {
  description = "Where both slots send failed asynchronous invocations: the queue create_dlq made, lambda_dead_letter_target_arn, or null."
  value       = local.dead_letter_target_arn
}

output "dlq_url" {
  description = "URL of the dead-letter queue create_dlq made, to read or redrive it (null without create_dlq)."
  value       = one(aws_sqs_queue.dlq[*].url)
}

################################################################################
# Alarms
################################################################################

output "alarm_names" {
  description = "Every metric alarm's name."
  value       = module.alarms.alarm_names
}

output "rollback_alarm_name" {
  description = "Composite alarm that means \"roll back\"."
  value       = module.alarms.rollback_alarm_name
}

output "dashboard_name" {
  description = "CloudWatch dashboard (null when create_dashboard is false)."
  value       = module.alarms.dashboard_name
}

output "dashboard_url" {
  description = "The dashboard in the CloudWatch console (null when create_dashboard is false)."
  value       = local.dashboard_url
}

################################################################################
# Custom domain
################################################################################

output "custom_domain_url" {
  description = "URL of production through the custom domain (null when custom_domain is null)."
  value       = one(module.custom_domain[*].url)
}

output "custom_domain_target" {
  description = "API Gateway host name and hosted zone the custom domain's alias records point at (null when custom_domain is null)."
  value = one([
    for m in module.custom_domain : { domain_name = m.target_domain_name, zone_id = m.target_zone_id }
  ])
}

output "custom_domain_health_check_id" {
  description = "Route 53 health check attached to this region's custom domain records (null without custom_domain.health_check or health_check_id)."
  value       = one(module.custom_domain[*].health_check_id)
}

################################################################################
# Where it runs, and how to try it
################################################################################

output "region" {
  description = "Region the stack is in."
  value       = data.aws_region.current.region
}

output "account_id" {
  description = "AWS account the stack is in."
  value       = data.aws_caller_identity.current.account_id
}

output "test_commands" {
  description = "Commands to try the stack, run from this directory: production and staging hold one curl per route ({params} filled with \"example\"; AWS_IAM routes signed with your credentials by curl --aws-sigv4); status and shift_dry_run run the controller without changing anything."
  value = {
    production    = local.curl_commands.production
    staging       = local.curl_commands.staging
    status        = "apigw-canary status --tf-dir ${path.root}"
    shift_dry_run = "apigw-canary shift --tf-dir ${path.root} --dry-run"
  }
}
