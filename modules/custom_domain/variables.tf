variable "domain_name" {
  description = "Custom domain name clients call, for example api.example.com."
  type        = string

  validation {
    condition     = can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$", var.domain_name))
    error_message = "domain_name must be a lower-case DNS name such as api.example.com."
  }
}

variable "rest_api_id" {
  description = "REST API the domain maps to."
  type        = string
}

variable "stage_name" {
  description = "Stage the base path maps to (production: the controller shifts traffic inside it, so the mapping never changes)."
  type        = string
  default     = "production"
}

variable "base_path" {
  description = "Base path of the mapping (empty = the domain root)."
  type        = string
  default     = ""

  validation {
    condition     = var.base_path == "" || can(regex("^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$", var.base_path))
    error_message = "base_path must be empty or like v1 or v1/orders (no leading slash)."
  }
}

variable "endpoint_type" {
  description = "REGIONAL (certificate from this region; needed for weighted multi-region records) or EDGE (certificate must be in us-east-1)."
  type        = string
  default     = "REGIONAL"

  validation {
    condition     = contains(["REGIONAL", "EDGE"], var.endpoint_type)
    error_message = "endpoint_type must be REGIONAL or EDGE."
  }
}

variable "security_policy" {
  description = "TLS security policy of the domain: TLS_1_2, or one of API Gateway's enhanced SecurityPolicy_TLS12_*/SecurityPolicy_TLS13_* policies. TLS 1.0 is not offered."
  type        = string
  default     = "TLS_1_2"

  validation {
    condition     = var.security_policy == "TLS_1_2" || can(regex("^SecurityPolicy_TLS1[23]_", var.security_policy))
    error_message = "security_policy must be TLS_1_2 or an enhanced SecurityPolicy_TLS12_*/SecurityPolicy_TLS13_* policy."
  }
}

variable "certificate_arn" {
  description = "ARN of an existing ACM certificate for domain_name. Null = request one from ACM and validate it with DNS records in zone_id."
  type        = string
  default     = null
}

variable "zone_id" {
  description = "Route 53 hosted zone for the alias records (with create_dns_records) and for certificate validation (without certificate_arn). May be known only after apply, e.g. a zone created in the same configuration."
  type        = string
  default     = null

  validation {
    condition     = var.zone_id != null || var.certificate_arn != null
    error_message = "Set zone_id when certificate_arn is null: the requested certificate is validated with DNS records in that zone."
  }
}

variable "create_dns_records" {
  description = "Create the alias records for domain_name in zone_id (requires zone_id). False = you point your DNS at the target_domain_name output yourself."
  type        = bool
  default     = true
}

variable "create_ipv6_record" {
  description = "Also create an AAAA alias record."
  type        = bool
  default     = true
}

variable "routing" {
  description = "Routing policy of the alias records when several regions serve domain_name, one stack per region with its own set_identifier: weighted (weight 0-255: Route 53 answers each region in proportion) or latency (Route 53 answers the region with the lowest latency to the client; region defaults to this stack's). Null = a simple alias record, for one region."
  type = object({
    policy         = string
    set_identifier = string
    weight         = optional(number)
    region         = optional(string)
  })
  default = null

  validation {
    condition     = var.routing == null || try(contains(["weighted", "latency"], var.routing.policy), false)
    error_message = "routing.policy must be weighted or latency."
  }

  validation {
    condition     = var.routing == null || try(length(var.routing.set_identifier) >= 1 && length(var.routing.set_identifier) <= 128, false)
    error_message = "routing.set_identifier must be 1 to 128 characters, and different in each region's stack."
  }

  validation {
    condition     = var.routing == null || try(var.routing.policy != "weighted" || (var.routing.weight >= 0 && var.routing.weight <= 255 && floor(var.routing.weight) == var.routing.weight), false)
    error_message = "routing.weight must be a whole number from 0 to 255 with the weighted policy."
  }

  validation {
    condition     = var.routing == null || try(var.routing.policy == "weighted" || var.routing.weight == null, false)
    error_message = "routing.weight applies to the weighted policy only; latency records choose by the client's latency to routing.region."
  }

  validation {
    condition     = var.routing == null || try(var.routing.policy == "latency" || var.routing.region == null, false)
    error_message = "routing.region applies to the latency policy only."
  }
}

variable "health_check" {
  description = "Create a Route 53 health check of this region's API and attach it to the alias records, so that Route 53 stops answering with this region while it fails (needs routing). On AWS: HTTPS to the regional endpoint {api_id}.execute-api.{region}.amazonaws.com, path /{stage_name}{path}; with execute_api_endpoint: HTTP to the local data plane. path must be a GET route the API serves and your function answers with 2xx or 3xx. failure_threshold: consecutive failed (or passed) checks that change a checker's view (1-10); request_interval: 10 or 30 seconds; regions: at least three Route 53 checker regions (null = all). Null = no health check."
  type = object({
    path              = optional(string, "/health")
    failure_threshold = optional(number, 3)
    request_interval  = optional(number, 30)
    regions           = optional(list(string))
  })
  default = null

  validation {
    condition     = var.health_check == null || var.routing != null
    error_message = "health_check needs routing (weighted or latency): a health check only moves traffic between records of the same name, one per region."
  }

  validation {
    condition     = var.health_check == null || try(can(regex("^/[^?#\\s]*(\\?[^#\\s]*)?$", var.health_check.path)) && length(var.health_check.path) <= 200, false)
    error_message = "health_check.path must start with / (for example /health), without spaces, at most 200 characters."
  }

  validation {
    condition     = var.health_check == null || try(var.health_check.failure_threshold >= 1 && var.health_check.failure_threshold <= 10 && floor(var.health_check.failure_threshold) == var.health_check.failure_threshold, false)
    error_message = "health_check.failure_threshold must be a whole number from 1 to 10."
  }

  validation {
    condition     = var.health_check == null || try(contains([10, 30], var.health_check.request_interval), false)
    error_message = "health_check.request_interval must be 10 or 30 (seconds), the intervals Route 53 offers."
  }

  validation {
    condition = var.health_check == null || try(
      var.health_check.regions == null ||
      (length(var.health_check.regions) >= 3 && length(setsubtract(var.health_check.regions, ["us-east-1", "us-west-1", "us-west-2", "eu-west-1", "ap-southeast-1", "ap-southeast-2", "ap-northeast-1", "sa-east-1"])) == 0),
      false
    )
    error_message = "health_check.regions must be null or at least three of us-east-1, us-west-1, us-west-2, eu-west-1, ap-southeast-1, ap-southeast-2, ap-northeast-1, sa-east-1."
  }
}

variable "health_check_id" {
  description = "An existing Route 53 health check to attach to the alias records instead of creating one (needs routing). Null = none, or the one health_check creates."
  type        = string
  default     = null

  validation {
    condition     = var.health_check_id == null || (var.routing != null && var.health_check == null)
    error_message = "health_check_id needs routing, and cannot be combined with health_check (which creates one)."
  }
}

variable "execute_api_endpoint" {
  description = "Local cloud data plane, e.g. http://127.0.0.1:4566: the health check then probes /restapis/{api_id}/{stage_name}/_user_request_{path} there over HTTP. Null on AWS."
  type        = string
  default     = null

  validation {
    condition     = var.execute_api_endpoint == null || can(regex("^https?://[^/:]+(:[0-9]+)?$", coalesce(var.execute_api_endpoint, "x")))
    error_message = "execute_api_endpoint must be a scheme, host and optional port, such as http://127.0.0.1:4566, without a path."
  }
}

variable "evaluate_target_health" {
  description = "Let the alias records inherit the health of their target, the API Gateway domain name's regional endpoint. It does not see your function fail: health_check does."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags for the certificate and the domain name."
  type        = map(string)
  default     = {}
}
