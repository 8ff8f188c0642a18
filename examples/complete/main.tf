# Everything on: alarms notify an SNS topic, the dashboard, a custom domain with an ACM certificate validated
# through Route 53, non-default routes, throttling and thresholds, and the account's API Gateway logging role.

provider "aws" {
  region = var.region
  # Credentials and, for the local cloud, the endpoint come from the environment.
}

data "aws_caller_identity" "current" {}

locals {
  name = var.name_prefix
}

# Alarm notifications. Encrypted with the AWS managed key for SNS; CloudWatch may publish to it.
resource "aws_sns_topic" "alarms" {
  name              = "${local.name}-alarms"
  kms_master_key_id = var.sns_kms_key_id
}

data "aws_iam_policy_document" "alarms_topic" {
  statement {
    sid       = "CloudWatchAlarmsPublish"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alarms.arn]
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_sns_topic_policy" "alarms" {
  arn    = aws_sns_topic.alarms.arn
  policy = data.aws_iam_policy_document.alarms_topic.json
}

module "canary" {
  source = "../.."

  name_prefix         = local.name
  blue_version_label  = "v1.0.0"
  green_version_label = "v2.0.0"
  initial_live_slot   = "blue"

  routes = [
    { path = "/hello", method = "GET" },
    { path = "/hello/{name}", method = "GET" },
    { path = "/orders", method = "POST", authorization = "AWS_IAM" },
  ]

  lambda_memory_size        = 256
  lambda_timeout            = 5
  lambda_log_retention_days = 14
  access_log_retention_days = 90

  throttling_rate_limit  = 500
  throttling_burst_limit = 1000
  logging_level          = "ERROR"

  create_account_cloudwatch_role = var.create_account_cloudwatch_role

  metric_period_seconds            = var.metric_period_seconds
  alarm_evaluation_periods         = 3
  alarm_datapoints_to_alarm        = 2
  error_5xx_rate_threshold_percent = 2
  error_4xx_rate_threshold_percent = 25
  latency_p99_threshold_ms         = 1500
  lambda_errors_threshold          = 3
  alarm_actions                    = [aws_sns_topic.alarms.arn]
  ok_actions                       = [aws_sns_topic.alarms.arn]
  create_dashboard                 = true

  custom_domain = var.domain_name == null ? null : {
    domain_name     = var.domain_name
    zone_id         = var.zone_id
    certificate_arn = var.certificate_arn
    weighted_routing = var.dns_weight == null ? null : {
      set_identifier = "${local.name}-${var.region}"
      weight         = var.dns_weight
    }
  }

  execute_api_endpoint = var.execute_api_endpoint

  tags = {
    Example = "complete"
  }
}
