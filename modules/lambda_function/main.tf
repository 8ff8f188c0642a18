data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

locals {
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.region
  account_id = data.aws_caller_identity.current.account_id

  log_group_name = "/aws/lambda/${var.function_name}"
  log_group_arn  = "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:${local.log_group_name}"

  # The package is built at apply time, so its hash cannot be read at plan time. Hash the sources instead
  # (path and content of every file the packaging script includes): stable across machines and changing
  # exactly when the package would. The skip rules match scripts/package.py.
  build_from_source = var.source_dir != null
  source_files = local.build_from_source ? sort([
    for f in fileset(var.source_dir, "**") : f
    if !strcontains("/${f}", "/__pycache__/") && !endswith(f, ".pyc")
  ]) : []
  source_manifest = join("\n", [for f in local.source_files : "${f}:${filesha256("${var.source_dir}/${f}")}"])

  build_dir    = coalesce(var.build_dir, "${path.module}/build")
  package_path = local.build_from_source ? "${local.build_dir}/${var.function_name}-${substr(sha256(local.source_manifest), 0, 16)}.zip" : var.package_file
  package_hash = local.build_from_source ? base64sha256(local.source_manifest) : filebase64sha256(var.package_file)

  in_vpc        = length(var.vpc_subnet_ids) > 0
  uses_dlq      = var.dead_letter_target_arn != null
  dlq_is_sqs    = local.uses_dlq && can(regex("^arn:[^:]+:sqs:", coalesce(var.dead_letter_target_arn, "x")))
  uses_tracing  = var.tracing_mode == "Active"
  uses_env_kms  = var.kms_key_arn != null
  environment   = merge(var.environment_variables, { VERSION_LABEL = var.version_label })
  inline_policy = data.aws_iam_policy_document.execution.json
}

resource "terraform_data" "package" {
  count = local.build_from_source ? 1 : 0

  # Rebuild when a source file changes or the function is renamed (a new function needs the file on disk).
  triggers_replace = [local.package_hash, var.function_name]

  provisioner "local-exec" {
    # The script reads its arguments from the environment, so paths need no shell quoting.
    command     = "${path.module}/scripts/package.py"
    interpreter = [var.python_executable]
    environment = {
      PACKAGE_SOURCE_DIR = var.source_dir
      PACKAGE_OUTPUT     = local.package_path
    }
  }
}

resource "aws_cloudwatch_log_group" "this" {
  #checkov:skip=CKV_AWS_338:Retention is a variable (log_retention_days, default 30 days); keeping function logs a year is a compliance choice, not a default.
  name              = local.log_group_name
  retention_in_days = var.log_retention_days
  kms_key_id        = var.log_kms_key_arn
  tags              = var.tags
}

data "aws_iam_policy_document" "assume_role" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "execution" {
  # Logging only to this function's own log group; the group exists already, so no CreateLogGroup.
  statement {
    sid       = "WriteOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${local.log_group_arn}:*"]
  }

  dynamic "statement" {
    for_each = local.uses_dlq ? [1] : []
    content {
      sid       = "SendToDeadLetterTarget"
      actions   = local.dlq_is_sqs ? ["sqs:SendMessage"] : ["sns:Publish"]
      resources = [var.dead_letter_target_arn]
    }
  }

  # X-Ray and VPC networking actions accept only Resource "*"
  # (https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsx-ray.html,
  # https://docs.aws.amazon.com/lambda/latest/dg/configuration-vpc.html#configuration-vpc-permissions);
  # they are granted only when the feature is on.
  dynamic "statement" {
    for_each = local.uses_tracing ? [1] : []
    content {
      sid       = "WriteTraces"
      actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
      resources = ["*"]
    }
  }

  dynamic "statement" {
    for_each = local.in_vpc ? [1] : []
    content {
      sid = "ManageVpcNetworkInterfaces"
      actions = [
        "ec2:CreateNetworkInterface",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeSubnets",
        "ec2:DeleteNetworkInterface",
        "ec2:AssignPrivateIpAddresses",
        "ec2:UnassignPrivateIpAddresses",
      ]
      resources = ["*"]
    }
  }

  dynamic "statement" {
    for_each = local.uses_env_kms ? [1] : []
    content {
      sid       = "DecryptEnvironment"
      actions   = ["kms:Decrypt"]
      resources = [var.kms_key_arn]
    }
  }
}

resource "aws_iam_role" "this" {
  name                 = "${var.function_name}-exec"
  description          = "Execution role of Lambda function ${var.function_name}"
  assume_role_policy   = data.aws_iam_policy_document.assume_role.json
  permissions_boundary = var.role_permissions_boundary
  tags                 = var.tags
}

resource "aws_iam_role_policy" "execution" {
  name   = "execution"
  role   = aws_iam_role.this.id
  policy = local.inline_policy
}

resource "aws_lambda_function" "this" {
  #checkov:skip=CKV_AWS_272:Code signing needs a signing profile and signed artifacts from a CI pipeline; the module ships plain zips. Add code_signing_config_arn in a fork if your org signs packages.
  #checkov:skip=CKV_AWS_117:VPC placement is optional (vpc_subnet_ids); an API backend that calls only public AWS endpoints does not need one.
  #checkov:skip=CKV_AWS_116:A dead-letter queue only applies to asynchronous invocations; API Gateway invokes synchronously. Set dead_letter_target_arn if you also invoke asynchronously.
  #checkov:skip=CKV_AWS_173:Environment variables are encrypted at rest with the AWS managed key; pass kms_key_arn for a customer managed key.
  #checkov:skip=CKV_AWS_115:Reserved concurrency is a capacity decision per account (reserved_concurrent_executions); reserving by default would starve other functions.
  function_name = var.function_name
  description   = trimspace("${var.description} (${var.version_label})")
  role          = aws_iam_role.this.arn
  handler       = var.handler
  runtime       = var.runtime
  architectures = var.architectures
  memory_size   = var.memory_size
  timeout       = var.timeout
  layers        = var.layers
  kms_key_arn   = var.kms_key_arn

  reserved_concurrent_executions = var.reserved_concurrent_executions

  filename         = local.package_path
  source_code_hash = local.package_hash

  environment {
    variables = local.environment
  }

  tracing_config {
    mode = var.tracing_mode
  }

  dynamic "vpc_config" {
    for_each = local.in_vpc ? [1] : []
    content {
      subnet_ids         = var.vpc_subnet_ids
      security_group_ids = var.vpc_security_group_ids
    }
  }

  dynamic "dead_letter_config" {
    for_each = local.uses_dlq ? [1] : []
    content {
      target_arn = var.dead_letter_target_arn
    }
  }

  tags = merge(var.tags, { VersionLabel = var.version_label })

  # The log group must exist first, or Lambda creates one without retention; the role's policies must be
  # attached before the first invocation; the package must be on disk before the upload.
  depends_on = [
    terraform_data.package,
    aws_cloudwatch_log_group.this,
    aws_iam_role_policy.execution,
  ]
}
