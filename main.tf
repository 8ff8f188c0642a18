data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

module "slot" {
  source   = "./modules/lambda_function"
  for_each = local.slots

  function_name   = local.names[each.key]
  description     = each.value.description
  version_label   = each.value.version_label
  source_dir      = each.value.source_dir
  package_file    = each.value.package_file
  build_dir       = var.lambda_build_dir
  handler         = var.lambda_handler
  runtime         = var.lambda_runtime
  memory_size     = var.lambda_memory_size
  timeout         = var.lambda_timeout
  layers          = var.lambda_layers
  kms_key_arn     = var.lambda_kms_key_arn
  tracing_mode    = var.lambda_tracing_mode
  log_kms_key_arn = var.log_kms_key_arn

  environment_variables          = var.lambda_environment_variables
  vpc_subnet_ids                 = var.lambda_vpc_subnet_ids
  vpc_security_group_ids         = var.lambda_vpc_security_group_ids
  reserved_concurrent_executions = var.lambda_reserved_concurrent_executions
  dead_letter_target_arn         = local.dead_letter_target_arn
  log_retention_days             = var.lambda_log_retention_days

  tags = merge(local.tags, { "apigw-canary:slot" = each.key })
}

module "rest_api" {
  source = "./modules/rest_api"

  name                 = local.names.api
  description          = var.api_description
  endpoint_type        = var.endpoint_type
  routes               = var.routes
  function_name_prefix = local.names.slot_prefix
  slot_functions       = { for slot, m in module.slot : slot => { function_name = m.function_name } }
  initial_live_slot    = var.initial_live_slot

  production_stage_name = var.production_stage_name
  staging_stage_name    = var.staging_stage_name

  throttling_rate_limit          = var.throttling_rate_limit
  throttling_burst_limit         = var.throttling_burst_limit
  logging_level                  = var.logging_level
  metrics_enabled                = var.metrics_enabled
  data_trace_enabled             = var.data_trace_enabled
  xray_tracing_enabled           = var.xray_tracing_enabled
  access_log_retention_days      = var.access_log_retention_days
  log_kms_key_arn                = var.log_kms_key_arn
  create_account_cloudwatch_role = var.create_account_cloudwatch_role

  canary_percent                  = var.canary_percent
  canary_stage_variable_overrides = var.canary_stage_variable_overrides

  tags = local.tags
}

module "alarms" {
  source = "./modules/alarms"

  name_prefix           = local.names.alarms
  api_name              = module.rest_api.rest_api_name
  production_stage_name = module.rest_api.production_stage_name
  staging_stage_name    = module.rest_api.staging_stage_name
  slot_function_names   = { for slot, m in module.slot : slot => m.function_name }
  slot_version_labels   = { for slot, m in module.slot : slot => m.version_label }

  metric_period_seconds            = var.metric_period_seconds
  evaluation_periods               = var.alarm_evaluation_periods
  datapoints_to_alarm              = var.alarm_datapoints_to_alarm
  error_5xx_rate_threshold_percent = var.error_5xx_rate_threshold_percent
  error_4xx_rate_threshold_percent = var.error_4xx_rate_threshold_percent
  latency_p99_threshold_ms         = var.latency_p99_threshold_ms
  lambda_errors_threshold          = var.lambda_errors_threshold
  lambda_throttles_threshold       = var.lambda_throttles_threshold
  include_4xx_in_rollback          = var.include_4xx_in_rollback
  alarm_actions                    = var.alarm_actions
  ok_actions                       = var.ok_actions
  create_dashboard                 = var.create_dashboard

  tags = local.tags
}

module "custom_domain" {
  source = "./modules/custom_domain"
  count  = var.custom_domain == null ? 0 : 1

  domain_name            = var.custom_domain.domain_name
  zone_id                = var.custom_domain.zone_id
  certificate_arn        = var.custom_domain.certificate_arn
  base_path              = var.custom_domain.base_path
  endpoint_type          = var.custom_domain.endpoint_type
  security_policy        = var.custom_domain.security_policy
  create_dns_records     = var.custom_domain.create_dns_records
  create_ipv6_record     = var.custom_domain.create_ipv6_record
  evaluate_target_health = var.custom_domain.evaluate_target_health
  routing                = var.custom_domain.routing
  health_check           = var.custom_domain.health_check
  health_check_id        = var.custom_domain.health_check_id
  execute_api_endpoint   = var.execute_api_endpoint
  rest_api_id            = module.rest_api.rest_api_id
  stage_name             = module.rest_api.production_stage_name

  tags = local.tags
}
