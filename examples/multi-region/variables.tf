variable "primary_region" {
  description = "First region of the API (the one a release wave usually starts with)."
  type        = string
  default     = "us-east-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.primary_region))
    error_message = "primary_region must be an AWS region name such as us-east-1."
  }
}

variable "secondary_region" {
  description = "Second region of the API."
  type        = string
  default     = "eu-west-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.secondary_region)) && var.secondary_region != var.primary_region
    error_message = "secondary_region must be an AWS region name such as eu-west-1, other than primary_region."
  }
}

variable "name_prefix" {
  description = "Prefix of every name; each region's stack adds its region (<prefix>-<region>), since IAM role names are global."
  type        = string
  default     = "multi"

  validation {
    condition     = can(regex("^[A-Za-z][A-Za-z0-9-]{0,21}$", var.name_prefix))
    error_message = "name_prefix must start with a letter and hold 1-22 letters, digits or hyphens (a region name is appended)."
  }
}

variable "domain_name" {
  description = "The one name clients call in every region, for example api.example.com."
  type        = string

  validation {
    condition     = can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$", var.domain_name))
    error_message = "domain_name must be a lower-case DNS name such as api.example.com."
  }
}

variable "zone_id" {
  description = "Existing Route 53 hosted zone that holds domain_name. Ignored when zone_name is set."
  type        = string
  default     = null

  validation {
    condition     = var.zone_id != null || var.zone_name != null
    error_message = "Set zone_id (an existing hosted zone for domain_name) or zone_name (create one)."
  }
}

variable "zone_name" {
  description = "Create a public hosted zone of this name (domain_name or a parent of it) in the same apply (null = use zone_id). On AWS, delegate it from its parent zone, or ACM never validates the certificates."
  type        = string
  default     = null

  validation {
    condition     = var.zone_name == null || can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$", var.zone_name))
    error_message = "zone_name must be a lower-case DNS name such as example.com."
  }
}

variable "certificate_arns" {
  description = "Existing ACM certificate for domain_name per region, e.g. { \"us-east-1\" = \"arn:...\" } (a regional domain name needs a certificate from its own region). A region left out requests one, validated in the zone."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for arn in values(var.certificate_arns) : can(regex("^arn:aws[a-z-]*:acm:", arn))])
    error_message = "certificate_arns values must be ACM certificate ARNs."
  }
}

variable "routing_policy" {
  description = "How Route 53 spreads clients over the regions: latency (each client gets the region closest to it; the other takes over when it fails) or weighted (in proportion to weights; a failing region's share goes to the other)."
  type        = string
  default     = "latency"

  validation {
    condition     = contains(["latency", "weighted"], var.routing_policy)
    error_message = "routing_policy must be latency or weighted."
  }
}

variable "weights" {
  description = "With routing_policy = weighted: each region's weight, 0-255 (0 = only when no other region is healthy)."
  type = object({
    primary   = number
    secondary = number
  })
  default = { primary = 50, secondary = 50 }

  validation {
    condition     = alltrue([for w in [var.weights.primary, var.weights.secondary] : w >= 0 && w <= 255 && floor(w) == w])
    error_message = "weights must be whole numbers from 0 to 255."
  }
}

variable "health_check_path" {
  description = "Path on the production stage that each region's Route 53 health check requests (a GET route is added for it; your function must answer it with 2xx or 3xx)."
  type        = string
  default     = "/health"

  validation {
    condition     = can(regex("^/[A-Za-z0-9._~/-]*$", var.health_check_path)) && var.health_check_path != "/hello"
    error_message = "health_check_path must be a path such as /health (letters, digits, . _ ~ - and /), other than /hello."
  }
}

variable "health_check_failure_threshold" {
  description = "Consecutive failed checks before Route 53 considers a region unhealthy (and passed checks before healthy again), 1-10."
  type        = number
  default     = 3

  validation {
    condition     = var.health_check_failure_threshold >= 1 && var.health_check_failure_threshold <= 10 && floor(var.health_check_failure_threshold) == var.health_check_failure_threshold
    error_message = "health_check_failure_threshold must be a whole number from 1 to 10."
  }
}

variable "health_check_request_interval" {
  description = "Seconds between a Route 53 checker's requests: 10 or 30."
  type        = number
  default     = 30

  validation {
    condition     = contains([10, 30], var.health_check_request_interval)
    error_message = "health_check_request_interval must be 10 or 30."
  }
}

variable "canary_percent" {
  description = "Share of production traffic the idle slot gets when the stacks are first applied, in both regions (0 = none; the controller owns it afterwards)."
  type        = number
  default     = 0

  validation {
    condition     = var.canary_percent >= 0 && var.canary_percent <= 100
    error_message = "canary_percent must be between 0 and 100."
  }
}

variable "blue_source_dir" {
  description = "Source directory of the release in the blue slot of both regions (null = the module's lambda/blue, v1.0.0)."
  type        = string
  default     = null
}

variable "green_source_dir" {
  description = "Source directory of the release in the green slot of both regions (null = the module's lambda/green, v2.0.0)."
  type        = string
  default     = null
}

variable "blue_version_label" {
  description = "Release label of the code in the blue slot."
  type        = string
  default     = "v1.0.0"
}

variable "green_version_label" {
  description = "Release label of the code in the green slot."
  type        = string
  default     = "v2.0.0"
}

variable "execute_api_endpoint" {
  description = "Local cloud data plane, e.g. http://127.0.0.1:4566 (null on AWS): the invoke URLs and the health checks use it."
  type        = string
  default     = null
}

variable "metric_period_seconds" {
  description = "Alarm metric period: 60 on AWS, 10 in the local cloud."
  type        = number
  default     = 60
}
