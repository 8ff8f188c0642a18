# One API served from two regions under one name: the root module applied once per region (a provider alias
# each), one hosted zone, and Route 53 records per region, latency-based or weighted, each with a health check
# of that region's production stage. A failing region drops out of DNS answers; see README.md for how.
# Releases go to both regions' idle slot in one apply; the controller then shifts one region at a time.

provider "aws" {
  alias  = "primary"
  region = var.primary_region
  # Credentials and, for the local cloud, the endpoint come from the environment.
}

provider "aws" {
  alias  = "secondary"
  region = var.secondary_region
}

locals {
  regions = {
    primary   = var.primary_region
    secondary = var.secondary_region
  }

  # /health is what each region's Route 53 health check requests on production: the slot function answers it.
  routes = [
    { path = "/hello", method = "GET" },
    { path = var.health_check_path, method = "GET" },
  ]

  create_zone = var.zone_name != null
  zone_id     = local.create_zone ? one(aws_route53_zone.this[*].zone_id) : var.zone_id

  # One stack per region: its own names (IAM roles are global, so the region is part of every name), and its
  # own record in the group of records for domain_name.
  custom_domain = {
    for key, region in local.regions : key => {
      domain_name     = var.domain_name
      zone_id         = local.zone_id
      certificate_arn = lookup(var.certificate_arns, region, null)
      routing = {
        policy         = var.routing_policy
        set_identifier = "${var.name_prefix}-${region}"
        weight         = var.routing_policy == "weighted" ? var.weights[key] : null
      }
      health_check = {
        path              = var.health_check_path
        failure_threshold = var.health_check_failure_threshold
        request_interval  = var.health_check_request_interval
      }
    }
  }
}

# The hosted zone both regions' records go in (Route 53 is global; the primary provider creates it).
resource "aws_route53_zone" "this" {
  #checkov:skip=CKV2_AWS_38:DNSSEC signing needs a KMS key in us-east-1 and a DS record at the parent; an example zone leaves that to the zone owner.
  #checkov:skip=CKV2_AWS_39:Query logging needs a CloudWatch log group in us-east-1 with a Route 53 resource policy; an example zone leaves that to the zone owner.
  provider = aws.primary
  count    = local.create_zone ? 1 : 0

  name = var.zone_name
  tags = { Example = "multi-region" }

  lifecycle {
    precondition {
      condition     = var.domain_name == var.zone_name || endswith(var.domain_name, ".${var.zone_name}")
      error_message = "zone_name must be domain_name or one of its parent domains (api.example.com lives in example.com)."
    }
  }
}

module "primary" {
  source    = "../.."
  providers = { aws = aws.primary }

  name_prefix         = "${var.name_prefix}-${var.primary_region}"
  routes              = local.routes
  canary_percent      = var.canary_percent
  blue_source_dir     = var.blue_source_dir
  green_source_dir    = var.green_source_dir
  blue_version_label  = var.blue_version_label
  green_version_label = var.green_version_label
  custom_domain       = local.custom_domain.primary

  execute_api_endpoint  = var.execute_api_endpoint
  metric_period_seconds = var.metric_period_seconds

  tags = { Example = "multi-region" }
}

module "secondary" {
  source    = "../.."
  providers = { aws = aws.secondary }

  name_prefix         = "${var.name_prefix}-${var.secondary_region}"
  routes              = local.routes
  canary_percent      = var.canary_percent
  blue_source_dir     = var.blue_source_dir
  green_source_dir    = var.green_source_dir
  blue_version_label  = var.blue_version_label
  green_version_label = var.green_version_label
  custom_domain       = local.custom_domain.secondary

  execute_api_endpoint  = var.execute_api_endpoint
  metric_period_seconds = var.metric_period_seconds

  tags = { Example = "multi-region" }
}
