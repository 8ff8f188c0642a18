locals {
  all_metric_alarms = concat(
    [for k in sort(keys(aws_cloudwatch_metric_alarm.rate)) : aws_cloudwatch_metric_alarm.rate[k]],
    [for k in sort(keys(aws_cloudwatch_metric_alarm.latency)) : aws_cloudwatch_metric_alarm.latency[k]],
    [for k in sort(keys(aws_cloudwatch_metric_alarm.lambda)) : aws_cloudwatch_metric_alarm.lambda[k]],
  )
}

output "alarm_names" {
  description = "Names of every metric alarm (stage, canary and slot alarms), sorted by kind."
  value       = [for a in local.all_metric_alarms : a.alarm_name]
}

output "alarm_arns" {
  description = "ARNs of every metric alarm and of the rollback composite."
  value       = concat([for a in local.all_metric_alarms : a.arn], [aws_cloudwatch_composite_alarm.rollback.arn])
}

output "canary_alarm_names" {
  description = "Names of the canary's alarms by kind (5xx-rate, 4xx-rate, p99-latency)."
  value = {
    "5xx-rate"    = aws_cloudwatch_metric_alarm.rate["canary-5xx-rate"].alarm_name
    "4xx-rate"    = aws_cloudwatch_metric_alarm.rate["canary-4xx-rate"].alarm_name
    "p99-latency" = aws_cloudwatch_metric_alarm.latency["canary-p99-latency"].alarm_name
  }
}

output "rollback_alarm_name" {
  description = "Name of the composite alarm that means \"roll back\"."
  value       = aws_cloudwatch_composite_alarm.rollback.alarm_name
}

output "rollback_alarm_arn" {
  description = "ARN of the rollback composite alarm."
  value       = aws_cloudwatch_composite_alarm.rollback.arn
}

output "rollback_alarm_members" {
  description = "Alarms the rollback composite watches."
  value       = local.rollback_members
}

output "dashboard_name" {
  description = "Name of the CloudWatch dashboard (null when create_dashboard is false)."
  value       = var.create_dashboard ? aws_cloudwatch_dashboard.this[0].dashboard_name : null
}

output "metric_dimensions" {
  description = "Dimensions the API Gateway alarms watch, by target (production, canary, staging)."
  value       = { for target, stage in local.api_targets : target => { ApiName = var.api_name, Stage = stage } }
}
