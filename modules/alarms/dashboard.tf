locals {
  region = data.aws_region.current.region

  # Baseline = stage minus canary: API Gateway counts canary requests in the stage's metrics too.
  dashboard_stages = {
    baseline = var.production_stage_name
    canary   = "${var.production_stage_name}/Canary"
  }

  slot_label = { for slot, _ in var.slot_function_names : slot => "${slot} ${lookup(var.slot_version_labels, slot, "")}" }

  api_metric = { for key, stage in local.dashboard_stages : key => ["AWS/ApiGateway", "Count", "ApiName", var.api_name, "Stage", stage] }

  dashboard_widgets = [
    {
      type = "text", x = 0, y = 0, width = 24, height = 2
      properties = {
        markdown = "## ${var.name_prefix}: rollout\nLeft: production baseline vs canary on API **${var.api_name}**. Right: the two slots' functions (${join(", ", [for slot in sort(keys(var.slot_function_names)) : local.slot_label[slot]])}). Rollback alarm: **${aws_cloudwatch_composite_alarm.rollback.alarm_name}**."
      }
    },
    {
      type = "metric", x = 0, y = 2, width = 12, height = 6
      properties = {
        title  = "Requests: baseline vs canary"
        region = local.region
        stat   = "Sum"
        period = var.metric_period_seconds
        view   = "timeSeries"
        metrics = [
          ["AWS/ApiGateway", "Count", "ApiName", var.api_name, "Stage", var.production_stage_name, { id = "stage", visible = false }],
          ["AWS/ApiGateway", "Count", "ApiName", var.api_name, "Stage", local.dashboard_stages.canary, { id = "canary", label = "canary" }],
          [{ expression = "stage - FILL(canary, 0)", label = "baseline", id = "baseline" }],
        ]
      }
    },
    {
      type = "metric", x = 12, y = 2, width = 12, height = 6
      properties = {
        title  = "Lambda invocations by slot"
        region = local.region
        stat   = "Sum"
        period = var.metric_period_seconds
        view   = "timeSeries"
        metrics = [
          for slot in sort(keys(var.slot_function_names)) :
          ["AWS/Lambda", "Invocations", "FunctionName", var.slot_function_names[slot], { label = local.slot_label[slot] }]
        ]
      }
    },
    {
      type = "metric", x = 0, y = 8, width = 12, height = 6
      properties = {
        title  = "5XX rate (%): production vs canary"
        region = local.region
        period = var.metric_period_seconds
        view   = "timeSeries"
        metrics = [
          ["AWS/ApiGateway", "5XXError", "ApiName", var.api_name, "Stage", var.production_stage_name, { id = "pe", stat = "Sum", visible = false }],
          ["AWS/ApiGateway", "Count", "ApiName", var.api_name, "Stage", var.production_stage_name, { id = "pr", stat = "Sum", visible = false }],
          ["AWS/ApiGateway", "5XXError", "ApiName", var.api_name, "Stage", local.dashboard_stages.canary, { id = "ce", stat = "Sum", visible = false }],
          ["AWS/ApiGateway", "Count", "ApiName", var.api_name, "Stage", local.dashboard_stages.canary, { id = "cr", stat = "Sum", visible = false }],
          [{ expression = "100 * FILL(pe, 0) / pr", label = "production", id = "prod_rate" }],
          [{ expression = "100 * FILL(ce, 0) / cr", label = "canary", id = "canary_rate" }],
        ]
        annotations = { horizontal = [{ label = "alarm", value = var.error_5xx_rate_threshold_percent }] }
      }
    },
    {
      type = "metric", x = 12, y = 8, width = 12, height = 6
      properties = {
        title  = "Lambda errors and throttles by slot"
        region = local.region
        stat   = "Sum"
        period = var.metric_period_seconds
        view   = "timeSeries"
        metrics = flatten([
          for slot in sort(keys(var.slot_function_names)) : [
            ["AWS/Lambda", "Errors", "FunctionName", var.slot_function_names[slot], { label = "${local.slot_label[slot]} errors" }],
            ["AWS/Lambda", "Throttles", "FunctionName", var.slot_function_names[slot], { label = "${local.slot_label[slot]} throttles" }],
          ]
        ])
      }
    },
    {
      type = "metric", x = 0, y = 14, width = 12, height = 6
      properties = {
        title  = "Latency p99 (ms): production vs canary"
        region = local.region
        stat   = "p99"
        period = var.metric_period_seconds
        view   = "timeSeries"
        metrics = [
          ["AWS/ApiGateway", "Latency", "ApiName", var.api_name, "Stage", var.production_stage_name, { label = "production" }],
          ["AWS/ApiGateway", "Latency", "ApiName", var.api_name, "Stage", local.dashboard_stages.canary, { label = "canary" }],
        ]
        annotations = { horizontal = [{ label = "alarm", value = var.latency_p99_threshold_ms }] }
      }
    },
    {
      type = "metric", x = 12, y = 14, width = 12, height = 6
      properties = {
        title  = "Lambda duration p99 (ms) by slot"
        region = local.region
        stat   = "p99"
        period = var.metric_period_seconds
        view   = "timeSeries"
        metrics = [
          for slot in sort(keys(var.slot_function_names)) :
          ["AWS/Lambda", "Duration", "FunctionName", var.slot_function_names[slot], { label = local.slot_label[slot] }]
        ]
      }
    },
    {
      type = "alarm", x = 0, y = 20, width = 24, height = 4
      properties = {
        title  = "Alarms"
        alarms = concat([aws_cloudwatch_composite_alarm.rollback.arn], [for a in local.all_metric_alarms : a.arn])
      }
    },
  ]
}
