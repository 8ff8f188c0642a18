################################################################################
# Naming and tags
################################################################################

variable "name_prefix" {
  description = "Prefix of every name: the API, the slot functions (<prefix>-blue, <prefix>-green), roles, alarms and the dashboard."
  type        = string
  default     = "apigw-canary"

  validation {
    condition     = can(regex("^[A-Za-z][A-Za-z0-9-]{0,37}$", var.name_prefix))
    error_message = "name_prefix must start with a letter and hold 1-38 letters, digits or hyphens (function and role names derive from it)."
  }
}

variable "tags" {
  description = "Tags added to every resource that takes tags."
  type        = map(string)
  default     = {}
}

################################################################################
# Slot functions
################################################################################

variable "blue_source_dir" {
  description = "Source directory of the blue slot's function (null = the module's lambda/blue, the recipe's v1.0.0 handler)."
  type        = string
  default     = null
}

variable "green_source_dir" {
  description = "Source directory of the green slot's function (null = the module's lambda/green, the recipe's v2.0.0 handler)."
  type        = string
  default     = null
}

variable "blue_package_file" {
  description = "Prebuilt .zip for the blue slot, used instead of blue_source_dir."
  type        = string
  default     = null
}

variable "green_package_file" {
  description = "Prebuilt .zip for the green slot, used instead of green_source_dir."
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

variable "lambda_handler" {
  description = "Entry point of both slot functions, MODULE.FUNCTION."
  type        = string
  default     = "handler.lambda_handler"
}

variable "lambda_runtime" {
  description = "Runtime of both slot functions."
  type        = string
  default     = "python3.12"
}

variable "lambda_memory_size" {
  description = "Memory of each slot function in MB."
  type        = number
  default     = 128
}

variable "lambda_timeout" {
  description = "Timeout of each slot function in seconds (keep it under the API's 29 s integration timeout)."
  type        = number
  default     = 10

  validation {
    condition     = var.lambda_timeout >= 1 && var.lambda_timeout <= 29
    error_message = "lambda_timeout must be 1-29 seconds: API Gateway gives up on the function after 29 s."
  }
}

variable "lambda_environment_variables" {
  description = "Environment variables of both slot functions (VERSION_LABEL is added per slot)."
  type        = map(string)
  default     = {}
}

variable "lambda_kms_key_arn" {
  description = "KMS key for the functions' environment variables (null = AWS managed key)."
  type        = string
  default     = null
}

variable "lambda_vpc_subnet_ids" {
  description = "Subnets for the slot functions (empty = not in a VPC)."
  type        = list(string)
  default     = []
}

variable "lambda_vpc_security_group_ids" {
  description = "Security groups for the slot functions when lambda_vpc_subnet_ids is set."
  type        = list(string)
  default     = []
}

variable "lambda_layers" {
  description = "Layer version ARNs for both slot functions."
  type        = list(string)
  default     = []
}

variable "lambda_reserved_concurrent_executions" {
  description = "Reserved concurrency of each slot function (-1 = unreserved)."
  type        = number
  default     = -1
}

variable "lambda_dead_letter_target_arn" {
  description = "Existing SQS queue or SNS topic for failed asynchronous invocations of either slot (null = none; create_dlq makes one)."
  type        = string
  default     = null

  validation {
    condition     = var.lambda_dead_letter_target_arn == null || can(regex("^arn:[^:]+:(sqs|sns):", coalesce(var.lambda_dead_letter_target_arn, "x")))
    error_message = "lambda_dead_letter_target_arn must be an SQS queue or SNS topic ARN."
  }
}

variable "create_dlq" {
  description = "Create an SQS dead-letter queue (<name_prefix>-dlq, encrypted with SSE-SQS) for both slots' failed asynchronous invocations, with a queue policy that lets only the slot roles send, and only over TLS. API Gateway invokes synchronously, so only other callers' events ever land there."
  type        = bool
  default     = false
  nullable    = false

  validation {
    condition     = !(var.create_dlq && var.lambda_dead_letter_target_arn != null)
    error_message = "Set create_dlq or lambda_dead_letter_target_arn, not both: each slot has one dead-letter target."
  }
}

variable "dlq_message_retention_seconds" {
  description = "How long the created dead-letter queue keeps a message, in seconds (60 to 1209600, 14 days)."
  type        = number
  default     = 1209600
  nullable    = false

  validation {
    condition     = var.dlq_message_retention_seconds >= 60 && var.dlq_message_retention_seconds <= 1209600 && floor(var.dlq_message_retention_seconds) == var.dlq_message_retention_seconds
    error_message = "dlq_message_retention_seconds must be a whole number of seconds from 60 to 1209600 (14 days)."
  }
}

variable "lambda_tracing_mode" {
  description = "X-Ray tracing of the slot functions: Active or PassThrough."
  type        = string
  default     = "Active"
}

variable "lambda_log_retention_days" {
  description = "Retention of the slot functions' log groups in days."
  type        = number
  default     = 30
}

variable "lambda_build_dir" {
  description = "Where packages built from the source directories are written (null = modules/lambda_function/build)."
  type        = string
  default     = null
}

################################################################################
# REST API and stages
################################################################################

variable "routes" {
  description = "Routes served by the slot functions (path up to 3 segments, method or ANY, authorization NONE or AWS_IAM)."
  type = list(object({
    path          = string
    method        = string
    authorization = optional(string, "NONE")
  }))
  default = [{ path = "/hello", method = "GET" }]
}

variable "endpoint_type" {
  description = "Endpoint type of the REST API: REGIONAL, EDGE or PRIVATE."
  type        = string
  default     = "REGIONAL"
}

variable "api_description" {
  description = "Description of the REST API."
  type        = string
  default     = "Blue/green slots behind one REST API; the controller shifts traffic between them."
  nullable    = false
}

# Stage names: letters, digits, hyphens and underscores, at most 128
# (https://docs.aws.amazon.com/apigateway/latest/api/API_CreateStage.html).
variable "production_stage_name" {
  description = "Name of the stage that serves live traffic: part of its invoke URL and the Stage dimension of its metrics (its canary's is <name>/Canary)."
  type        = string
  default     = "production"
  nullable    = false

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,128}$", var.production_stage_name))
    error_message = "production_stage_name must be 1-128 letters, digits, hyphens or underscores."
  }
}

variable "staging_stage_name" {
  description = "Name of the stage that serves the idle slot, for tests before a rollout."
  type        = string
  default     = "staging"
  nullable    = false

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,128}$", var.staging_stage_name))
    error_message = "staging_stage_name must be 1-128 letters, digits, hyphens or underscores."
  }

  validation {
    condition     = var.staging_stage_name != var.production_stage_name
    error_message = "staging_stage_name must differ from production_stage_name."
  }
}

variable "initial_live_slot" {
  description = "Slot production serves when the stack is created (staging serves the other). After that the controller decides."
  type        = string
  default     = "blue"

  validation {
    condition     = contains(["blue", "green"], var.initial_live_slot)
    error_message = "initial_live_slot must be blue or green."
  }
}

variable "throttling_rate_limit" {
  description = "Requests per second allowed per method on each stage."
  type        = number
  default     = 1000
}

variable "throttling_burst_limit" {
  description = "Burst of requests allowed per method on each stage."
  type        = number
  default     = 2000
}

variable "logging_level" {
  description = "Execution logging level of both stages: OFF, ERROR or INFO (anything but OFF needs the account's API Gateway CloudWatch role)."
  type        = string
  default     = "INFO"
}

variable "metrics_enabled" {
  description = "Detailed CloudWatch metrics per method (ApiName, Method, Resource, Stage) on both stages. The alarms and the controller read the stage metrics, which API Gateway publishes either way."
  type        = bool
  default     = true
  nullable    = false
}

variable "data_trace_enabled" {
  description = "Log full requests and responses in both stages' execution logs. Off by default: it can write personal data to the logs."
  type        = bool
  default     = false
  nullable    = false
}

variable "xray_tracing_enabled" {
  description = "X-Ray tracing on both stages."
  type        = bool
  default     = true
}

variable "access_log_retention_days" {
  description = "Retention of the stages' JSON access logs in days."
  type        = number
  default     = 30
}

variable "log_kms_key_arn" {
  description = "KMS key for the access log group (null = default encryption)."
  type        = string
  default     = null
}

variable "create_account_cloudwatch_role" {
  description = "Create and register the account-wide role API Gateway writes logs with. Per account and region: enable it in one stack only; required once before logging_level can be ERROR or INFO on AWS."
  type        = bool
  default     = false
}

variable "canary_percent" {
  description = "Share of production traffic sent to the idle slot when the stack is first applied (recipe step 5 uses 10; 0 = none). The controller owns the canary afterwards."
  type        = number
  default     = 0
}

variable "canary_stage_variable_overrides" {
  description = "Extra stage variables every canary overrides: Terraform's initial one and each one the controller creates (the slot variable always points at the candidate slot)."
  type        = map(string)
  default     = {}
}

variable "extra_rollback_alarm_names" {
  description = "Existing CloudWatch alarms (names, in this stack's region and account) that roll a release back while in ALARM, as the module's own alarms do: the controller watches them (controller_config.alarm_names) and controller_iam_policy_json lets it read them."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for name in var.extra_rollback_alarm_names : length(name) >= 1 && length(name) <= 255 && !can(regex("[\\x00-\\x1f]", name))])
    error_message = "extra_rollback_alarm_names must be CloudWatch alarm names: 1-255 characters, no control characters."
  }
}

variable "controller_notification_topic_arns" {
  description = "SNS topics the controller may publish to (`shift --notify arn:...`); added to controller_iam_policy_json as sns:Publish on exactly these."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for arn in var.controller_notification_topic_arns : can(regex("^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]+$", arn))])
    error_message = "controller_notification_topic_arns must be SNS topic ARNs (arn:aws:sns:REGION:ACCOUNT:NAME)."
  }
}

variable "execute_api_endpoint" {
  description = "Base URL of a local execute-api data plane (for example http://127.0.0.1:4566). Null = AWS: invoke URLs are the stages' own."
  type        = string
  default     = null

  validation {
    condition     = var.execute_api_endpoint == null || can(regex("^https?://[^/]+$", coalesce(var.execute_api_endpoint, "x")))
    error_message = "execute_api_endpoint must be a scheme and host, such as http://127.0.0.1:4566, without a trailing slash."
  }
}

################################################################################
# Alarms and dashboard
################################################################################

variable "metric_period_seconds" {
  description = "Period of the alarms' metrics: 60 on AWS; 10 or 30 only with high-resolution metrics (the local cloud)."
  type        = number
  default     = 60
}

variable "alarm_evaluation_periods" {
  description = "Periods each alarm evaluates."
  type        = number
  default     = 3
}

variable "alarm_datapoints_to_alarm" {
  description = "Breaching periods (of alarm_evaluation_periods) that put an alarm in ALARM."
  type        = number
  default     = 2
}

variable "error_5xx_rate_threshold_percent" {
  description = "5XX rate (% of requests) above which the stage and canary alarms fire."
  type        = number
  default     = 5

  validation {
    condition     = var.error_5xx_rate_threshold_percent > 0 && var.error_5xx_rate_threshold_percent <= 100
    error_message = "error_5xx_rate_threshold_percent must be a percentage in (0, 100]."
  }
}

variable "error_4xx_rate_threshold_percent" {
  description = "4XX rate (% of requests) above which the stage and canary alarms fire."
  type        = number
  default     = 20

  validation {
    condition     = var.error_4xx_rate_threshold_percent > 0 && var.error_4xx_rate_threshold_percent <= 100
    error_message = "error_4xx_rate_threshold_percent must be a percentage in (0, 100]."
  }
}

variable "latency_p99_threshold_ms" {
  description = "p99 latency (ms) above which the stage and canary alarms fire."
  type        = number
  default     = 2000

  validation {
    condition     = var.latency_p99_threshold_ms > 0
    error_message = "latency_p99_threshold_ms must be positive."
  }
}

variable "lambda_errors_threshold" {
  description = "Lambda Errors per period above which a slot alarm fires."
  type        = number
  default     = 5

  validation {
    condition     = var.lambda_errors_threshold >= 0
    error_message = "lambda_errors_threshold must be zero or more."
  }
}

variable "lambda_throttles_threshold" {
  description = "Lambda Throttles per period above which a slot alarm fires."
  type        = number
  default     = 0

  validation {
    condition     = var.lambda_throttles_threshold >= 0
    error_message = "lambda_throttles_threshold must be zero or more."
  }
}

variable "include_4xx_in_rollback" {
  description = "Whether the canary's 4XX-rate alarm is part of the rollback composite alarm."
  type        = bool
  default     = true
}

variable "alarm_actions" {
  description = "ARNs (for example SNS topics) notified when an alarm goes to ALARM."
  type        = list(string)
  default     = []
}

variable "ok_actions" {
  description = "ARNs notified when an alarm returns to OK."
  type        = list(string)
  default     = []
}

variable "create_dashboard" {
  description = "Create the CloudWatch dashboard showing both slots side by side."
  type        = bool
  default     = true
}

################################################################################
# Custom domain (off by default)
################################################################################

variable "custom_domain" {
  description = "Custom domain for the production stage (null = none). certificate_arn null requests an ACM certificate validated in zone_id; create_dns_records (default true, needs zone_id) writes the alias records, false leaves DNS to you. For one name served from several regions (one stack each): routing makes the records weighted or latency-based with a set_identifier per region, and health_check creates a Route 53 health check of this region's API on path (default /health, which must be a GET route in routes) and attaches it, so Route 53 stops answering with a failing region; health_check_id attaches one you manage instead. See modules/custom_domain for each field."
  type = object({
    domain_name            = string
    zone_id                = optional(string)
    certificate_arn        = optional(string)
    base_path              = optional(string, "")
    endpoint_type          = optional(string, "REGIONAL")
    security_policy        = optional(string, "TLS_1_2")
    create_dns_records     = optional(bool, true)
    create_ipv6_record     = optional(bool, true)
    evaluate_target_health = optional(bool, true)
    routing = optional(object({
      policy         = string
      set_identifier = string
      weight         = optional(number)
      region         = optional(string)
    }))
    health_check = optional(object({
      path              = optional(string, "/health")
      failure_threshold = optional(number, 3)
      request_interval  = optional(number, 30)
      regions           = optional(list(string))
    }))
    health_check_id = optional(string)
  })
  default = null

  validation {
    # The health check calls production's path: without a route there, API Gateway answers 403 and the
    # region would be reported unhealthy for good.
    condition = try(var.custom_domain.health_check == null, true) || try(anytrue([
      for r in var.routes : contains(["GET", "ANY"], upper(r.method)) && can(regex(
        "^${replace(replace(r.path, "/\\{[^}/]+\\+\\}/", ".+"), "/\\{[^}/]+\\}/", "[^/]+")}$",
        split("?", var.custom_domain.health_check.path)[0]
      ))
    ]), false)
    error_message = "custom_domain.health_check.path must be served by a GET or ANY route in routes, for example { path = \"/health\", method = \"GET\" }, answered by your function with 2xx or 3xx."
  }
}
