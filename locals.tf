locals {
  # Names come from here only: prefix + purpose.
  names = {
    api         = var.name_prefix
    blue        = "${var.name_prefix}-blue"
    green       = "${var.name_prefix}-green"
    alarms      = var.name_prefix
    controller  = "${var.name_prefix}-controller"
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
}
