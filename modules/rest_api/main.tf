data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

locals {
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.region
  account_id = data.aws_caller_identity.current.account_id

  slots     = ["blue", "green"]
  idle_slot = var.initial_live_slot == "blue" ? "green" : "blue"

  # One integration URI serves both slots: API Gateway substitutes the stage's slot variable per request
  # (https://docs.aws.amazon.com/apigateway/latest/developerguide/aws-api-gateway-stage-variables-reference.html).
  integration_uri = join("", [
    "arn:${local.partition}:apigateway:${local.region}:lambda:path/2015-03-31/functions/",
    "arn:${local.partition}:lambda:${local.region}:${local.account_id}:function:",
    "${var.function_name_prefix}-$${stageVariables.${var.slot_variable_name}}/invocations",
  ])

  # Built here rather than read from the API so it is right even when the provider skips the account lookup.
  execution_arn = "arn:${local.partition}:execute-api:${local.region}:${local.account_id}:${aws_api_gateway_rest_api.this.id}"

  route_map = { for r in var.routes : "${r.method} ${r.path}" => r }
  segments  = { for k, r in local.route_map : k => r.path == "/" ? [] : split("/", trimprefix(r.path, "/")) }

  # API Gateway models a path as a tree of resources; a resource's parent must exist first, so each depth
  # is its own resource block (Terraform cannot reference other instances of the same block).
  level1 = toset(flatten([for s in values(local.segments) : length(s) >= 1 ? [join("/", slice(s, 0, 1))] : []]))
  level2 = toset(flatten([for s in values(local.segments) : length(s) >= 2 ? [join("/", slice(s, 0, 2))] : []]))
  level3 = toset(flatten([for s in values(local.segments) : length(s) >= 3 ? [join("/", slice(s, 0, 3))] : []]))

  resource_ids = merge(
    { "" = aws_api_gateway_rest_api.this.root_resource_id },
    { for k, r in aws_api_gateway_resource.level1 : k => r.id },
    { for k, r in aws_api_gateway_resource.level2 : k => r.id },
    { for k, r in aws_api_gateway_resource.level3 : k => r.id },
  )

  # Lambda permissions per slot and route: only this API, only the route's method and path, any stage.
  permissions = {
    for pair in setproduct(local.slots, keys(local.route_map)) : "${pair[0]} ${pair[1]}" => {
      slot         = pair[0]
      statement_id = "AllowExecuteApi-${substr(sha1("${aws_api_gateway_rest_api.this.id} ${pair[1]}"), 0, 12)}"
      source_arn = format("%s/*/%s%s",
        local.execution_arn,
        local.route_map[pair[1]].method == "ANY" ? "*" : local.route_map[pair[1]].method,
        replace(local.route_map[pair[1]].path, "/\\{[^}]+\\}/", "*"),
      )
    }
  }

  # What a deployment snapshots. A change here creates a new deployment for staging.
  definition_hash = sha1(jsonencode({
    routes          = local.route_map
    integration_uri = local.integration_uri
    timeout_ms      = var.integration_timeout_ms
  }))

  access_log_format = jsonencode({
    requestId          = "$context.requestId"
    extendedRequestId  = "$context.extendedRequestId"
    requestTime        = "$context.requestTime"
    ip                 = "$context.identity.sourceIp"
    httpMethod         = "$context.httpMethod"
    resourcePath       = "$context.resourcePath"
    status             = "$context.status"
    protocol           = "$context.protocol"
    responseLength     = "$context.responseLength"
    responseLatency    = "$context.responseLatency"
    integrationLatency = "$context.integrationLatency"
    integrationStatus  = "$context.integrationStatus"
    errorMessage       = "$context.error.message"
    stage              = "$context.stage"
    deploymentId       = "$context.deploymentId"
    isCanaryRequest    = "$context.isCanaryRequest"
    xrayTraceId        = "$context.xrayTraceId"
  })

  stage_names = {
    production = var.production_stage_name
    staging    = var.staging_stage_name
  }
}

resource "aws_api_gateway_rest_api" "this" {
  name        = var.name
  description = var.description

  endpoint_configuration {
    types = [var.endpoint_type]
  }

  tags = var.tags

  lifecycle {
    create_before_destroy = true # a replacement API exists before the old one goes
  }
}

resource "aws_api_gateway_resource" "level1" {
  for_each = local.level1

  rest_api_id = aws_api_gateway_rest_api.this.id
  parent_id   = aws_api_gateway_rest_api.this.root_resource_id
  path_part   = each.key
}

resource "aws_api_gateway_resource" "level2" {
  for_each = local.level2

  rest_api_id = aws_api_gateway_rest_api.this.id
  parent_id   = aws_api_gateway_resource.level1[dirname(each.key)].id
  path_part   = basename(each.key)
}

resource "aws_api_gateway_resource" "level3" {
  for_each = local.level3

  rest_api_id = aws_api_gateway_rest_api.this.id
  parent_id   = aws_api_gateway_resource.level2[dirname(each.key)].id
  path_part   = basename(each.key)
}

resource "aws_api_gateway_method" "this" {
  for_each = local.route_map

  #checkov:skip=CKV_AWS_59:Authorization is per route (routes[*].authorization, NONE or AWS_IAM); the recipe's /hello is a public endpoint.
  #checkov:skip=CKV2_AWS_53:The slot functions validate their own input under AWS_PROXY; a request validator needs a model per route, which is the API owner's to write.
  rest_api_id   = aws_api_gateway_rest_api.this.id
  resource_id   = local.resource_ids[join("/", local.segments[each.key])]
  http_method   = each.value.method
  authorization = each.value.authorization
}

resource "aws_api_gateway_integration" "this" {
  for_each = local.route_map

  rest_api_id             = aws_api_gateway_rest_api.this.id
  resource_id             = aws_api_gateway_method.this[each.key].resource_id
  http_method             = aws_api_gateway_method.this[each.key].http_method
  type                    = "AWS_PROXY"
  integration_http_method = "POST" # Lambda is always invoked with POST, whatever the client's method
  uri                     = local.integration_uri
  timeout_milliseconds    = var.integration_timeout_ms
}

resource "aws_lambda_permission" "invoke" {
  for_each = local.permissions

  statement_id  = each.value.statement_id
  action        = "lambda:InvokeFunction"
  function_name = var.slot_functions[each.value.slot].function_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = each.value.source_arn

  lifecycle {
    precondition {
      condition     = var.slot_functions[each.value.slot].function_name == "${var.function_name_prefix}-${each.value.slot}"
      error_message = "Slot functions must be named <function_name_prefix>-<slot>: the integration URI builds the name from the slot stage variable."
    }
  }
}

# Deployments. API Gateway refuses to delete a deployment that a stage (or a stage's canary) points at, and
# the controller moves production and its canary at run time. So Terraform never lets production point at a
# deployment it may replace:
#   - `initial` is created once and never replaced; production (and the optional first canary) start on it.
#   - `staging` is replaced (create before destroy) whenever the API definition changes; only the staging
#     stage points at it, so destroying the old one always succeeds.
# The controller promotes by taking its own snapshot of this definition (see README, "Who owns what").
resource "aws_api_gateway_deployment" "initial" {
  rest_api_id = aws_api_gateway_rest_api.this.id
  description = "Initial production deployment; the controller owns production's deployment from here on."

  lifecycle {
    create_before_destroy = true # never replaced in practice (no triggers); only if the API itself is
  }

  depends_on = [aws_api_gateway_integration.this]
}

resource "aws_api_gateway_deployment" "staging" {
  rest_api_id = aws_api_gateway_rest_api.this.id
  description = "API definition ${local.definition_hash}"

  triggers = {
    definition = local.definition_hash
  }

  lifecycle {
    create_before_destroy = true
  }

  depends_on = [aws_api_gateway_integration.this]
}

resource "aws_cloudwatch_log_group" "access" {
  #checkov:skip=CKV_AWS_338:Retention is a variable (access_log_retention_days, default 30 days); a year of access logs is a compliance choice, not a default.
  #checkov:skip=CKV_AWS_158:Log groups are encrypted by CloudWatch Logs by default; pass log_kms_key_arn for a customer managed key.
  name              = "/aws/apigateway/${var.name}/access"
  retention_in_days = var.access_log_retention_days
  kms_key_id        = var.log_kms_key_arn
  tags              = var.tags
}

data "aws_iam_policy_document" "apigateway_assume_role" {
  count = var.create_account_cloudwatch_role ? 1 : 0

  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["apigateway.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "apigateway_cloudwatch" {
  count = var.create_account_cloudwatch_role ? 1 : 0

  name               = "${var.name}-apigateway-cloudwatch"
  description        = "Lets API Gateway write execution and access logs in this account and region."
  assume_role_policy = data.aws_iam_policy_document.apigateway_assume_role[0].json
  tags               = var.tags
}

# The permissions of the AWS managed AmazonAPIGatewayPushToCloudWatchLogs policy, inline: API Gateway writes to
# log groups it names itself (API-Gateway-Execution-Logs_*) and to the access log groups of every API.
data "aws_iam_policy_document" "apigateway_cloudwatch" {
  count = var.create_account_cloudwatch_role ? 1 : 0

  statement {
    actions = [
      "logs:CreateLogGroup",
      "logs:CreateLogStream",
      "logs:DescribeLogGroups",
      "logs:DescribeLogStreams",
      "logs:PutLogEvents",
      "logs:GetLogEvents",
      "logs:FilterLogEvents",
    ]
    resources = ["arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:*"]
  }
}

resource "aws_iam_role_policy" "apigateway_cloudwatch" {
  count = var.create_account_cloudwatch_role ? 1 : 0

  name   = "push-to-cloudwatch-logs"
  role   = aws_iam_role.apigateway_cloudwatch[0].id
  policy = data.aws_iam_policy_document.apigateway_cloudwatch[0].json
}

resource "aws_api_gateway_account" "this" {
  count = var.create_account_cloudwatch_role ? 1 : 0

  cloudwatch_role_arn = aws_iam_role.apigateway_cloudwatch[0].arn

  depends_on = [aws_iam_role_policy.apigateway_cloudwatch]
}

resource "aws_api_gateway_stage" "production" {
  #checkov:skip=CKV_AWS_120:Response caching would serve one slot's answers to the other's requests during a canary; the stage cache is off by design.
  #checkov:skip=CKV2_AWS_51:Client certificates authenticate API Gateway to HTTP backends; these integrations are Lambda, which uses IAM.
  #checkov:skip=CKV2_AWS_29:A WAF web ACL is account policy; associate one with aws_wafv2_web_acl_association on the stage ARN output.
  rest_api_id          = aws_api_gateway_rest_api.this.id
  stage_name           = var.production_stage_name
  description          = "Live traffic. Slot, deployment and canary are owned by the traffic controller."
  deployment_id        = aws_api_gateway_deployment.initial.id
  xray_tracing_enabled = var.xray_tracing_enabled

  variables = {
    (var.slot_variable_name) = var.initial_live_slot
  }

  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.access.arn
    format          = local.access_log_format
  }

  dynamic "canary_settings" {
    for_each = var.canary_percent > 0 ? [1] : []
    content {
      deployment_id            = aws_api_gateway_deployment.initial.id
      percent_traffic          = var.canary_percent
      stage_variable_overrides = merge(var.canary_stage_variable_overrides, { (var.slot_variable_name) = local.idle_slot })
      use_stage_cache          = false
    }
  }

  tags = var.tags

  lifecycle {
    # The traffic controller owns these at run time (shift, promote, rollback, its lock variable); Terraform
    # sets them only when it creates the stage, so a plan after a rollout shows no changes.
    ignore_changes = [deployment_id, variables, canary_settings]
  }

  depends_on = [aws_api_gateway_account.this]
}

resource "aws_api_gateway_stage" "staging" {
  #checkov:skip=CKV_AWS_120:Response caching would hide which slot answered; staging exists to test the idle slot.
  #checkov:skip=CKV2_AWS_51:Client certificates authenticate API Gateway to HTTP backends; these integrations are Lambda, which uses IAM.
  #checkov:skip=CKV2_AWS_29:A WAF web ACL is account policy; associate one with aws_wafv2_web_acl_association on the stage ARN output.
  rest_api_id          = aws_api_gateway_rest_api.this.id
  stage_name           = var.staging_stage_name
  description          = "Idle slot on the latest API definition, for tests before a rollout."
  deployment_id        = aws_api_gateway_deployment.staging.id
  xray_tracing_enabled = var.xray_tracing_enabled

  variables = {
    (var.slot_variable_name) = local.idle_slot
  }

  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.access.arn
    format          = local.access_log_format
  }

  tags = var.tags

  lifecycle {
    # The traffic controller swaps the slot variable when it promotes; Terraform sets it only on creation.
    ignore_changes = [variables]
  }

  depends_on = [aws_api_gateway_account.this]
}

resource "aws_api_gateway_method_settings" "all" {
  for_each = local.stage_names

  #checkov:skip=CKV_AWS_225:Caching is off by design: a cached answer from one slot would be served for the other during a canary.
  #checkov:skip=CKV_AWS_308:Nothing is cached (caching_enabled = false), so there is no cache to encrypt.
  rest_api_id = aws_api_gateway_rest_api.this.id
  stage_name  = each.key == "production" ? aws_api_gateway_stage.production.stage_name : aws_api_gateway_stage.staging.stage_name
  method_path = "*/*"

  settings {
    metrics_enabled        = var.metrics_enabled
    logging_level          = var.logging_level
    data_trace_enabled     = var.data_trace_enabled
    throttling_rate_limit  = var.throttling_rate_limit
    throttling_burst_limit = var.throttling_burst_limit
    caching_enabled        = false
  }
}
