variable "name" {
  description = "Name of the REST API (the ApiName dimension of its CloudWatch metrics)."
  type        = string

  validation {
    condition     = length(var.name) > 0 && length(var.name) <= 1024
    error_message = "name must be 1-1024 characters."
  }
}

variable "description" {
  description = "Description of the REST API."
  type        = string
  default     = "Blue/green slots behind one REST API; the controller shifts traffic between them."
}

variable "endpoint_type" {
  description = "Endpoint type of the API: REGIONAL (put CloudFront or a custom domain in front yourself), EDGE or PRIVATE."
  type        = string
  default     = "REGIONAL"

  validation {
    condition     = contains(["REGIONAL", "EDGE", "PRIVATE"], var.endpoint_type)
    error_message = "endpoint_type must be REGIONAL, EDGE or PRIVATE."
  }
}

variable "routes" {
  description = "Routes served by the slot functions: path (up to 3 segments; {param} and {proxy+} allowed), HTTP method (or ANY) and authorization (NONE or AWS_IAM)."
  type = list(object({
    path          = string
    method        = string
    authorization = optional(string, "NONE")
  }))
  default = [{ path = "/hello", method = "GET" }]

  validation {
    condition     = length(var.routes) > 0
    error_message = "routes must hold at least one route."
  }

  validation {
    condition     = alltrue([for r in var.routes : can(regex("^/$|^(/([A-Za-z0-9._-]+|\\{[A-Za-z0-9_]+\\+?\\})){1,3}$", r.path))])
    error_message = "Each route path must be \"/\" or 1-3 segments like /hello, /items/{id} or /{proxy+}."
  }

  validation {
    condition     = alltrue([for r in var.routes : contains(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "ANY"], r.method)])
    error_message = "Each route method must be GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS or ANY (upper case)."
  }

  validation {
    condition     = alltrue([for r in var.routes : contains(["NONE", "AWS_IAM"], r.authorization)])
    error_message = "Each route authorization must be NONE or AWS_IAM."
  }

  validation {
    condition     = length(distinct([for r in var.routes : "${r.method} ${r.path}"])) == length(var.routes)
    error_message = "routes must not repeat a method and path."
  }
}

variable "function_name_prefix" {
  description = "Slot functions are named \"<prefix>-<slot>\"; the integrations select one with the slot stage variable."
  type        = string
}

variable "slot_functions" {
  description = "The slot functions by slot name (blue, green): their names, which must be <function_name_prefix>-<slot>."
  type        = map(object({ function_name = string }))

  validation {
    condition     = toset(keys(var.slot_functions)) == toset(["blue", "green"])
    error_message = "slot_functions must have exactly the keys blue and green."
  }
}

variable "initial_live_slot" {
  description = "Slot the production stage serves when first created; staging serves the other. The controller owns this afterwards."
  type        = string
  default     = "blue"

  validation {
    condition     = contains(["blue", "green"], var.initial_live_slot)
    error_message = "initial_live_slot must be blue or green."
  }
}

variable "production_stage_name" {
  description = "Name of the stage that serves live traffic."
  type        = string
  default     = "production"
}

variable "staging_stage_name" {
  description = "Name of the stage that serves the idle slot for testing."
  type        = string
  default     = "staging"

  validation {
    condition     = var.staging_stage_name != var.production_stage_name
    error_message = "staging_stage_name must differ from production_stage_name."
  }
}

variable "slot_variable_name" {
  description = "Name of the stage variable that selects the slot."
  type        = string
  default     = "slot"

  validation {
    condition     = can(regex("^[A-Za-z0-9_]+$", var.slot_variable_name))
    error_message = "slot_variable_name may hold only letters, digits and underscores."
  }
}

variable "integration_timeout_ms" {
  description = "How long API Gateway waits for the function, in milliseconds (50-29000)."
  type        = number
  default     = 29000

  validation {
    condition     = var.integration_timeout_ms >= 50 && var.integration_timeout_ms <= 29000
    error_message = "integration_timeout_ms must be between 50 and 29000."
  }
}

variable "throttling_rate_limit" {
  description = "Steady-state request rate limit per second for every method of both stages."
  type        = number
  default     = 1000

  validation {
    condition     = var.throttling_rate_limit >= 0
    error_message = "throttling_rate_limit must not be negative."
  }
}

variable "throttling_burst_limit" {
  description = "Burst limit (requests) for every method of both stages."
  type        = number
  default     = 2000

  validation {
    condition     = var.throttling_burst_limit >= 0 && floor(var.throttling_burst_limit) == var.throttling_burst_limit
    error_message = "throttling_burst_limit must be a whole number >= 0."
  }
}

variable "logging_level" {
  description = "Execution logging level of both stages: OFF, ERROR or INFO. Anything but OFF needs the account's API Gateway CloudWatch role (see create_account_cloudwatch_role)."
  type        = string
  default     = "INFO"

  validation {
    condition     = contains(["OFF", "ERROR", "INFO"], var.logging_level)
    error_message = "logging_level must be OFF, ERROR or INFO."
  }
}

variable "data_trace_enabled" {
  description = "Log full requests and responses in execution logs. Off by default: it can write personal data to the logs."
  type        = bool
  default     = false
}

variable "metrics_enabled" {
  description = "Publish per-method CloudWatch metrics. The controller and the alarms need the stage metrics, which API Gateway always publishes."
  type        = bool
  default     = true
}

variable "xray_tracing_enabled" {
  description = "Trace requests through both stages with X-Ray."
  type        = bool
  default     = true
}

variable "access_log_retention_days" {
  description = "Retention of the access log group in days."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.access_log_retention_days)
    error_message = "access_log_retention_days must be a retention CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, ... 3653)."
  }
}

variable "log_kms_key_arn" {
  description = "KMS key that encrypts the access log group (null = CloudWatch Logs default encryption)."
  type        = string
  default     = null
}

variable "create_account_cloudwatch_role" {
  description = "Create the IAM role API Gateway uses to write execution logs and register it in the account settings. That setting is per account and region: enable it in one stack only."
  type        = bool
  default     = false
}

variable "canary_percent" {
  description = "Share of production traffic sent to a canary of the idle slot when the stack is first applied (0 = no canary; recipe step 5 uses 10). The controller owns the canary afterwards."
  type        = number
  default     = 0

  validation {
    condition     = var.canary_percent >= 0 && var.canary_percent <= 100
    error_message = "canary_percent must be between 0 and 100."
  }
}

variable "canary_stage_variable_overrides" {
  description = "Extra stage variables the initial canary overrides (the slot variable is always set to the idle slot)."
  type        = map(string)
  default     = {}
}

variable "tags" {
  description = "Tags for every resource this module creates."
  type        = map(string)
  default     = {}
}
