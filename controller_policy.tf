# Least privilege for running the traffic controller against this stack: read both stages and the
# deployments, snapshot the API definition into a new deployment (and delete the controller's unused ones),
# patch the two stages, read metrics and this stack's alarms. Nothing else (no integration, function or API changes).
locals {
  apigateway_api_arn = "arn:${data.aws_partition.current.partition}:apigateway:${data.aws_region.current.region}::/restapis/${module.rest_api.rest_api_id}"
  alarm_arn_prefix   = "arn:${data.aws_partition.current.partition}:cloudwatch:${data.aws_region.current.region}:${data.aws_caller_identity.current.account_id}:alarm:"
}

data "aws_iam_policy_document" "controller" {
  statement {
    sid     = "ReadStagesAndDeployments"
    actions = ["apigateway:GET"]
    resources = concat(
      [for stage in values(local.stage_names) : "${local.apigateway_api_arn}/stages/${stage}"],
      # GetStages: which deployments are still in use before a snapshot is deleted.
      ["${local.apigateway_api_arn}/stages"],
      ["${local.apigateway_api_arn}/deployments", "${local.apigateway_api_arn}/deployments/*"],
    )
  }

  statement {
    sid       = "ShiftPromoteRollBack"
    actions   = ["apigateway:PATCH"]
    resources = [for stage in values(local.stage_names) : "${local.apigateway_api_arn}/stages/${stage}"]
  }

  statement {
    sid       = "SnapshotDefinitionForRelease"
    actions   = ["apigateway:POST"]
    resources = ["${local.apigateway_api_arn}/deployments"]
  }

  # Only the controller's own snapshots are deleted (description prefix "apigw-canary "), and only when no
  # stage uses them; API Gateway itself refuses to delete a deployment a stage points at.
  statement {
    sid       = "DeleteUnusedReleaseSnapshots"
    actions   = ["apigateway:DELETE"]
    resources = ["${local.apigateway_api_arn}/deployments/*"]
  }

  statement {
    sid       = "ReadAlarms"
    actions   = ["cloudwatch:DescribeAlarms"]
    resources = [for name in concat(module.alarms.alarm_names, [module.alarms.rollback_alarm_name], var.extra_rollback_alarm_names) : "${local.alarm_arn_prefix}${name}"]
  }

  # CloudWatch metric reads have no resource-level permissions
  # (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncloudwatch.html);
  # GetMetricData is the only read the controller makes (the judge's series and metric gates alike).
  statement {
    sid       = "ReadMetrics"
    actions   = ["cloudwatch:GetMetricData"]
    resources = ["*"]
  }

  # The slots' code SHA-256 and revision: recorded at each promotion, compared by `undo`.
  statement {
    sid       = "ReadSlotFunctions"
    actions   = ["lambda:GetFunctionConfiguration"]
    resources = [for m in module.slot : m.function_arn]
  }

  # `--notify arn:aws:sns:...`: only the topics listed in controller_notification_topic_arns.
  dynamic "statement" {
    for_each = length(var.controller_notification_topic_arns) > 0 ? [1] : []
    content {
      sid       = "PublishNotifications"
      actions   = ["sns:Publish"]
      resources = var.controller_notification_topic_arns
    }
  }
}
