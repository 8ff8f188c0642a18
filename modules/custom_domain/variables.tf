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

variable "weighted_routing" {
  description = "Weighted alias records for serving one name from several regions (each region's stack sets its own set_identifier and weight; a health check lets Route 53 drop a failing region). Null = a simple alias record."
  type = object({
    set_identifier  = string
    weight          = number
    health_check_id = optional(string)
  })
  default = null

  validation {
    condition     = var.weighted_routing == null || try(var.weighted_routing.weight >= 0 && var.weighted_routing.weight <= 255, false)
    error_message = "weighted_routing.weight must be between 0 and 255."
  }
}

variable "evaluate_target_health" {
  description = "Let Route 53 consider the API endpoint's health when answering alias queries."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags for the certificate and the domain name."
  type        = map(string)
  default     = {}
}
