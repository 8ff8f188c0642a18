data "aws_region" "current" {}

locals {
  # API Gateway publishes canary requests under Stage = "<stage>/Canary"
  # (https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-metrics-and-dimensions.html).
  api_targets = {
    production = var.production_stage_name
    canary     = "${var.production_stage_name}/Canary"
    staging    = var.staging_stage_name
  }

  # Rates, not raw sums: 5 errors in 10 requests and 5 in 100 000 must not look alike.
  rate_alarms = merge([
    for target, stage in local.api_targets : {
      for kind, spec in {
        "5xx-rate" = { metric = "5XXError", threshold = var.error_5xx_rate_threshold_percent, what = "5XX" }
        "4xx-rate" = { metric = "4XXError", threshold = var.error_4xx_rate_threshold_percent, what = "4XX" }
        } : "${target}-${kind}" => {
        stage     = stage
        metric    = spec.metric
        threshold = spec.threshold
        name      = "${var.name_prefix}-${target}-${kind}"
        what      = spec.what
      }
    }
  ]...)

  latency_alarms = {
    for target, stage in local.api_targets : "${target}-p99-latency" => {
      stage = stage
      name  = "${var.name_prefix}-${target}-p99-latency"
    }
  }

  lambda_alarms = merge([
    for slot, function_name in var.slot_function_names : {
      for kind, spec in {
        errors    = { metric = "Errors", threshold = var.lambda_errors_threshold }
        throttles = { metric = "Throttles", threshold = var.lambda_throttles_threshold }
        } : "${slot}-lambda-${kind}" => {
        function_name = function_name
        metric        = spec.metric
        threshold     = spec.threshold
        name          = "${var.name_prefix}-${slot}-lambda-${kind}"
      }
    }
  ]...)

  # What the rollback composite watches: the canary's own health, and both slots' function health
  # (which slot is the candidate is decided at run time, and either one failing is a reason to stop).
  rollback_members = concat(
    [aws_cloudwatch_metric_alarm.rate["canary-5xx-rate"].alarm_name],
    var.include_4xx_in_rollback ? [aws_cloudwatch_metric_alarm.rate["canary-4xx-rate"].alarm_name] : [],
    [aws_cloudwatch_metric_alarm.latency["canary-p99-latency"].alarm_name],
    [for k in sort(keys(local.lambda_alarms)) : aws_cloudwatch_metric_alarm.lambda[k].alarm_name],
  )
}

resource "aws_cloudwatch_metric_alarm" "rate" {
  for_each = local.rate_alarms

  alarm_name          = each.value.name
  alarm_description   = "${each.value.what} responses above ${each.value.threshold}% of requests on API ${var.api_name}, stage ${each.value.stage}."
  comparison_operator = "GreaterThanThreshold"
  threshold           = each.value.threshold
  evaluation_periods  = var.evaluation_periods
  datapoints_to_alarm = var.datapoints_to_alarm
  treat_missing_data  = "notBreaching" # no data means no traffic, which is not an error
  alarm_actions       = var.alarm_actions
  ok_actions          = var.ok_actions

  metric_query {
    id          = "rate"
    expression  = "100 * FILL(errors, 0) / requests"
    label       = "${each.value.what} rate (%)"
    return_data = true
  }

  metric_query {
    id = "errors"
    metric {
      namespace   = "AWS/ApiGateway"
      metric_name = each.value.metric
      period      = var.metric_period_seconds
      stat        = "Sum"
      dimensions = {
        ApiName = var.api_name
        Stage   = each.value.stage
      }
    }
  }

  metric_query {
    id = "requests"
    metric {
      namespace   = "AWS/ApiGateway"
      metric_name = "Count"
      period      = var.metric_period_seconds
      stat        = "Sum"
      dimensions = {
        ApiName = var.api_name
        Stage   = each.value.stage
      }
    }
  }

  tags = var.tags
}

resource "aws_cloudwatch_metric_alarm" "latency" {
  for_each = local.latency_alarms

  alarm_name          = each.value.name
  alarm_description   = "p99 latency above ${var.latency_p99_threshold_ms} ms on API ${var.api_name}, stage ${each.value.stage}."
  namespace           = "AWS/ApiGateway"
  metric_name         = "Latency"
  extended_statistic  = "p99"
  period              = var.metric_period_seconds
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.latency_p99_threshold_ms
  evaluation_periods  = var.evaluation_periods
  datapoints_to_alarm = var.datapoints_to_alarm
  treat_missing_data  = "notBreaching" # no data means no traffic
  alarm_actions       = var.alarm_actions
  ok_actions          = var.ok_actions

  dimensions = {
    ApiName = var.api_name
    Stage   = each.value.stage
  }

  tags = var.tags
}

resource "aws_cloudwatch_metric_alarm" "lambda" {
  for_each = local.lambda_alarms

  alarm_name          = each.value.name
  alarm_description   = "Lambda ${each.value.metric} above ${each.value.threshold} per period on ${each.value.function_name}."
  namespace           = "AWS/Lambda"
  metric_name         = each.value.metric
  statistic           = "Sum"
  period              = var.metric_period_seconds
  comparison_operator = "GreaterThanThreshold"
  threshold           = each.value.threshold
  evaluation_periods  = var.evaluation_periods
  datapoints_to_alarm = var.datapoints_to_alarm
  treat_missing_data  = "notBreaching" # no invocations means nothing failed
  alarm_actions       = var.alarm_actions
  ok_actions          = var.ok_actions

  dimensions = {
    FunctionName = each.value.function_name
  }

  tags = var.tags
}

resource "aws_cloudwatch_composite_alarm" "rollback" {
  alarm_name        = "${var.name_prefix}-rollback"
  alarm_description = "Any reason to roll the canary back: canary error rates or latency, or a slot function failing or throttled."
  alarm_rule        = join(" OR ", [for name in local.rollback_members : "ALARM(\"${name}\")"])
  actions_enabled   = true
  alarm_actions     = var.alarm_actions
  ok_actions        = var.ok_actions
  tags              = var.tags
}

resource "aws_cloudwatch_dashboard" "this" {
  count = var.create_dashboard ? 1 : 0

  dashboard_name = "${var.name_prefix}-rollout"
  dashboard_body = jsonencode({ widgets = local.dashboard_widgets })
}
