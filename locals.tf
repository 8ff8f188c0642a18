locals {
  # Names come from here only: prefix + purpose.
  names = {
    api         = var.name_prefix
    blue        = "${var.name_prefix}-blue"
    green       = "${var.name_prefix}-green"
    alarms      = var.name_prefix
    controller  = "${var.name_prefix}-controller"
    dlq         = "${var.name_prefix}-dlq"
    slot_prefix = var.name_prefix
  }

  tags = merge(
    {
      "apigw-canary:stack" = var.name_prefix
      ManagedBy            = "terraform"
    },
    var.tags,
  )

  slots = {
    blue = {
      source_dir    = var.blue_package_file == null ? coalesce(var.blue_source_dir, "${path.module}/lambda/blue") : null
      package_file  = var.blue_package_file
      version_label = var.blue_version_label
      description   = "Blue slot of ${var.name_prefix}"
    }
    green = {
      source_dir    = var.green_package_file == null ? coalesce(var.green_source_dir, "${path.module}/lambda/green") : null
      package_file  = var.green_package_file
      version_label = var.green_version_label
      description   = "Green slot of ${var.name_prefix}"
    }
  }

  stage_names = {
    production = module.rest_api.production_stage_name
    staging    = module.rest_api.staging_stage_name
  }

  # On AWS the stage's own URL; in the local cloud its execute-api data plane path.
  invoke_urls = var.execute_api_endpoint == null ? {
    production = module.rest_api.production_invoke_url
    staging    = module.rest_api.staging_invoke_url
    } : {
    for key, stage in local.stage_names :
    key => "${var.execute_api_endpoint}/restapis/${module.rest_api.rest_api_id}/${stage}/_user_request_"
  }

  # One curl per route and stage. Path parameters get a sample value, ANY is tried as GET, and AWS_IAM routes
  # are signed with the caller's credentials (curl 7.75+; the session token header only when there is one).
  sigv4 = join(" ", [
    "--aws-sigv4 'aws:amz:${data.aws_region.current.region}:execute-api'",
    "--user \"$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY\"",
    "$${AWS_SESSION_TOKEN:+-H \"x-amz-security-token: $AWS_SESSION_TOKEN\"}",
  ])
  curl_commands = {
    for stage, url in local.invoke_urls : stage => [
      for r in var.routes : join(" ", compact([
        "curl -sS",
        r.method == "HEAD" ? "-I" : (contains(["GET", "ANY"], r.method) ? "" : "-X ${r.method}"),
        contains(["POST", "PUT", "PATCH"], r.method) ? "-H 'Content-Type: application/json' -d '{}'" : "",
        r.authorization == "AWS_IAM" ? local.sigv4 : "",
        "'${url}${replace(r.path, "/\\{[^}]+\\}/", "example")}'",
      ]))
    ]
  }

  # The console's address for a dashboard, by partition; null where there is none to name.
  console_hosts = {
    aws        = "https://console.aws.amazon.com"
    aws-cn     = "https://console.amazonaws.cn"
    aws-us-gov = "https://console.amazonaws-us-gov.com"
  }
  console_host = lookup(local.console_hosts, data.aws_partition.current.partition, null)
  dashboard_url = (module.alarms.dashboard_name == null || local.console_host == null ? null :
    "${local.console_host}/cloudwatch/home?region=${data.aws_region.current.region}#dashboards:name=${module.alarms.dashboard_name}"
  )
}
