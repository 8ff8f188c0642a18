variable "name_prefix" {
  description = "Prefix of every alarm and of the dashboard name."
  type        = string
}

variable "api_name" {
  description = "Name of the REST API (the ApiName dimension of AWS/ApiGateway metrics)."
  type        = string
}

variable "production_stage_name" {
  description = "Stage serving live traffic; its canary's metrics carry the Stage dimension \"<stage>/Canary\"."
  type        = string
  default     = "production"
}

variable "staging_stage_name" {
  description = "Stage serving the idle slot."
  type        = string
  default     = "staging"
}

variable "slot_function_names" {
  description = "Lambda function of each slot, by slot name (blue, green)."
  type        = map(string)

  validation {
    condition     = toset(keys(var.slot_function_names)) == toset(["blue", "green"])
    error_message = "slot_function_names must have exactly the keys blue and green."
  }
}

variable "slot_version_labels" {
  description = "Release label of each slot, by slot name; shown on the dashboard."
  type        = map(string)
  default     = {}
}

variable "metric_period_seconds" {
  description = "Period of every alarm's metrics. 60 on AWS (API Gateway and Lambda publish 1-minute metrics); 10 or 30 only where the metrics are high resolution, as in the local cloud."
  type        = number
  default     = 60

  validation {
    condition     = contains([10, 30], var.metric_period_seconds) || (var.metric_period_seconds >= 60 && var.metric_period_seconds % 60 == 0)
    error_message = "metric_period_seconds must be 10, 30 or a multiple of 60 (CloudWatch alarm periods)."
  }
}

variable "evaluation_periods" {
  description = "Number of recent periods each alarm evaluates."
  type        = number
  default     = 3

  validation {
    condition     = var.evaluation_periods >= 1 && floor(var.evaluation_periods) == var.evaluation_periods
    error_message = "evaluation_periods must be a whole number >= 1."
  }
}

variable "datapoints_to_alarm" {
  description = "How many of the evaluated periods must breach to go to ALARM (M of N)."
  type        = number
  default     = 2

  validation {
    condition     = var.datapoints_to_alarm >= 1 && floor(var.datapoints_to_alarm) == var.datapoints_to_alarm
    error_message = "datapoints_to_alarm must be a whole number >= 1."
  }

  validation {
    condition     = var.datapoints_to_alarm <= var.evaluation_periods
    error_message = "datapoints_to_alarm must not exceed evaluation_periods."
  }
}

variable "error_5xx_rate_threshold_percent" {
  description = "5XX responses as a percentage of requests above which a stage or canary alarm fires."
  type        = number
  default     = 5

  validation {
    condition     = var.error_5xx_rate_threshold_percent > 0 && var.error_5xx_rate_threshold_percent <= 100
    error_message = "error_5xx_rate_threshold_percent must be in (0, 100]."
  }
}

variable "error_4xx_rate_threshold_percent" {
  description = "4XX responses as a percentage of requests above which a stage or canary alarm fires."
  type        = number
  default     = 20

  validation {
    condition     = var.error_4xx_rate_threshold_percent > 0 && var.error_4xx_rate_threshold_percent <= 100
    error_message = "error_4xx_rate_threshold_percent must be in (0, 100]."
  }
}

variable "latency_p99_threshold_ms" {
  description = "p99 of API Gateway Latency (ms) above which a stage or canary alarm fires."
  type        = number
  default     = 2000

  validation {
    condition     = var.latency_p99_threshold_ms > 0
    error_message = "latency_p99_threshold_ms must be positive."
  }
}

variable "lambda_errors_threshold" {
  description = "Lambda Errors (sum per period) above which a slot's alarm fires."
  type        = number
  default     = 5

  validation {
    condition     = var.lambda_errors_threshold >= 0
    error_message = "lambda_errors_threshold must not be negative."
  }
}

variable "lambda_throttles_threshold" {
  description = "Lambda Throttles (sum per period) above which a slot's alarm fires."
  type        = number
  default     = 0

  validation {
    condition     = var.lambda_throttles_threshold >= 0
    error_message = "lambda_throttles_threshold must not be negative."
  }
}

variable "include_4xx_in_rollback" {
  description = "Whether the canary's 4XX-rate alarm is part of the rollback composite (client errors are often not the release's fault)."
  type        = bool
  default     = true
}

variable "alarm_actions" {
  description = "ARNs notified when an alarm goes to ALARM (for example an SNS topic). Empty = no actions."
  type        = list(string)
  default     = []
}

variable "ok_actions" {
  description = "ARNs notified when an alarm returns to OK."
  type        = list(string)
  default     = []
}

variable "create_dashboard" {
  description = "Create a CloudWatch dashboard with both slots and both stages side by side."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags for every alarm."
  type        = map(string)
  default     = {}
}
