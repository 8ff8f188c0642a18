# Everything on: alarms notify an SNS topic, the dashboard, a custom domain with an ACM certificate validated
# through Route 53, non-default routes and stage names, throttling and thresholds, detailed metrics, a
# dead-letter queue for the slots, and the account's API Gateway logging role.

provider "aws" {
  region = var.region
  # Credentials and, for the local cloud, the endpoint come from the environment.
}

data "aws_caller_identity" "current" {}

locals {
  name        = var.name_prefix
  create_zone = var.domain_name != null && var.zone_name != null
  # Decided from inputs only, never from the zone's id: a zone created below has no id until apply, and the
  # module's record for_each must be known at plan time.
  manage_dns = local.create_zone || var.zone_id != null
  zone_id    = local.create_zone ? one(aws_route53_zone.this[*].zone_id) : var.zone_id
}

# The hosted zone for the custom domain, created in the same apply as the records that go in it.
resource "aws_route53_zone" "this" {
  #checkov:skip=CKV2_AWS_38:DNSSEC signing needs a KMS key in us-east-1 and a DS record at the parent; an example zone leaves that to the zone owner.
  #checkov:skip=CKV2_AWS_39:Query logging needs a CloudWatch log group in us-east-1 with a Route 53 resource policy; an example zone leaves that to the zone owner.
  count = local.create_zone ? 1 : 0

  name = var.zone_name
  tags = { Example = "complete" }

  lifecycle {
    precondition {
      condition     = var.domain_name == var.zone_name || endswith(var.domain_name, ".${var.zone_name}")
      error_message = "zone_name must be domain_name or one of its parent domains (api.example.com lives in example.com)."
    }
  }
}

# Delegation from the parent zone: without it no resolver, ACM's included, finds the new zone's records.
resource "aws_route53_record" "delegation" {
  count = local.create_zone && var.parent_zone_id != null ? 1 : 0

  zone_id = var.parent_zone_id
  name    = var.zone_name
  type    = "NS"
  ttl     = 300
  records = aws_route53_zone.this[0].name_servers
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
  blue_source_dir     = var.blue_source_dir
  green_source_dir    = var.green_source_dir
  blue_version_label  = var.blue_version_label
  green_version_label = var.green_version_label
  initial_live_slot   = "blue"

  api_description       = "Orders API: blue/green slots, traffic shifted by apigw-canary"
  production_stage_name = var.production_stage_name
  staging_stage_name    = var.staging_stage_name

  routes = [
    { path = "/hello", method = "GET" },
    { path = "/hello/{name}", method = "GET" },
    { path = "/orders", method = "POST", authorization = "AWS_IAM" },
  ]

  lambda_memory_size        = 256
  lambda_timeout            = 5
  lambda_log_retention_days = 14
  create_dlq                = true # both slots' failed asynchronous invocations, kept 14 days
  access_log_retention_days = 90

  throttling_rate_limit  = 500
  throttling_burst_limit = 1000
  logging_level          = "ERROR"
  metrics_enabled        = true  # per-method metrics as well as the stage's
  data_trace_enabled     = false # never log request and response bodies

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
    domain_name        = var.domain_name
    zone_id            = local.zone_id
    create_dns_records = local.manage_dns
    certificate_arn    = var.certificate_arn
    routing = var.dns_weight == null ? null : {
      policy         = "weighted"
      set_identifier = "${local.name}-${var.region}"
      weight         = var.dns_weight
    }
  }

  execute_api_endpoint = var.execute_api_endpoint

  tags = {
    Example = "complete"
  }
}
