data "aws_region" "current" {}

locals {
  create_certificate = var.certificate_arn == null
  regional           = var.endpoint_type == "REGIONAL"

  certificate_arn = local.create_certificate ? one(aws_acm_certificate_validation.this[*].certificate_arn) : var.certificate_arn

  target_name    = local.regional ? aws_api_gateway_domain_name.this.regional_domain_name : aws_api_gateway_domain_name.this.cloudfront_domain_name
  target_zone_id = local.regional ? aws_api_gateway_domain_name.this.regional_zone_id : aws_api_gateway_domain_name.this.cloudfront_zone_id

  record_types = var.create_ipv6_record ? ["A", "AAAA"] : ["A"]

  # The health check probes this region's own API, never the custom domain (whose records it steers).
  local_endpoint = var.execute_api_endpoint == null ? null : regex("^https?://(?P<host>[^/:]+)(?::(?P<port>[0-9]+))?$", var.execute_api_endpoint)
  health_target = var.health_check == null ? null : (
    local.local_endpoint == null ? {
      type          = "HTTPS"
      fqdn          = "${var.rest_api_id}.execute-api.${data.aws_region.current.region}.amazonaws.com"
      ip_address    = null
      port          = 443
      resource_path = "/${var.stage_name}${var.health_check.path}"
      enable_sni    = true
      } : {
      type          = "HTTP"
      fqdn          = can(cidrhost("${local.local_endpoint.host}/32", 0)) ? null : local.local_endpoint.host
      ip_address    = can(cidrhost("${local.local_endpoint.host}/32", 0)) ? local.local_endpoint.host : null
      port          = tonumber(coalesce(local.local_endpoint.port, startswith(var.execute_api_endpoint, "https:") ? "443" : "80"))
      resource_path = "/restapis/${var.rest_api_id}/${var.stage_name}/_user_request_${var.health_check.path}"
      enable_sni    = false
    }
  )
  health_check_id = var.health_check == null ? var.health_check_id : one(aws_route53_health_check.this[*].id)
}

resource "aws_acm_certificate" "this" {
  count = local.create_certificate ? 1 : 0

  domain_name       = var.domain_name
  validation_method = "DNS"
  tags              = var.tags

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_route53_record" "validation" {
  for_each = {
    for dvo in flatten(aws_acm_certificate.this[*].domain_validation_options) : dvo.domain_name => dvo
  }

  zone_id         = var.zone_id
  name            = each.value.resource_record_name
  type            = each.value.resource_record_type
  records         = [each.value.resource_record_value]
  ttl             = 300
  allow_overwrite = true # every region's stack validates the same name with the same record
}

resource "aws_acm_certificate_validation" "this" {
  count = local.create_certificate ? 1 : 0

  certificate_arn         = aws_acm_certificate.this[0].arn
  validation_record_fqdns = [for r in aws_route53_record.validation : r.fqdn]
}

resource "aws_api_gateway_domain_name" "this" {
  #checkov:skip=CKV_AWS_206:security_policy is a variable whose validation admits only TLS_1_2 and the enhanced TLS 1.2/1.3 policies; checkov cannot follow it through the module call.
  domain_name              = var.domain_name
  security_policy          = var.security_policy
  regional_certificate_arn = local.regional ? local.certificate_arn : null
  certificate_arn          = local.regional ? null : local.certificate_arn

  endpoint_configuration {
    types = [var.endpoint_type]
  }

  tags = var.tags

  lifecycle {
    # Here rather than on the records, which have no instances to check when the flag is off. A zone_id known
    # only after apply (a zone created in the same run) leaves this unknown at plan; Terraform checks it at apply.
    precondition {
      condition     = !var.create_dns_records || var.zone_id != null
      error_message = "create_dns_records is true but zone_id is null: pass the hosted zone that holds domain_name, or set create_dns_records = false and point your DNS at the target_domain_name output."
    }
  }
}

resource "aws_api_gateway_base_path_mapping" "this" {
  api_id      = var.rest_api_id
  stage_name  = var.stage_name
  domain_name = aws_api_gateway_domain_name.this.domain_name
  base_path   = var.base_path == "" ? null : var.base_path
}

resource "aws_route53_health_check" "this" {
  count = var.health_check == null ? 0 : 1

  type              = local.health_target.type
  fqdn              = local.health_target.fqdn
  ip_address        = local.health_target.ip_address
  port              = local.health_target.port
  resource_path     = local.health_target.resource_path
  enable_sni        = local.health_target.enable_sni
  failure_threshold = var.health_check.failure_threshold
  request_interval  = var.health_check.request_interval
  regions           = var.health_check.regions

  tags = merge(var.tags, { Name = "${var.domain_name} ${var.routing.set_identifier}" })
}

resource "aws_route53_record" "alias" {
  # A plain input, not zone_id != null: a zone created in the same apply has an unknown id at plan time, and
  # for_each must be known then (and at destroy, when the zone may be gone).
  for_each = var.create_dns_records ? toset(local.record_types) : toset([])

  zone_id         = var.zone_id
  name            = var.domain_name
  type            = each.key
  set_identifier  = var.routing == null ? null : var.routing.set_identifier
  health_check_id = local.health_check_id

  alias {
    name                   = local.target_name
    zone_id                = local.target_zone_id
    evaluate_target_health = var.evaluate_target_health
  }

  dynamic "weighted_routing_policy" {
    for_each = try(var.routing.policy, null) == "weighted" ? [var.routing] : []
    content {
      weight = weighted_routing_policy.value.weight
    }
  }

  dynamic "latency_routing_policy" {
    for_each = try(var.routing.policy, null) == "latency" ? [var.routing] : []
    content {
      region = coalesce(latency_routing_policy.value.region, data.aws_region.current.region)
    }
  }
}
