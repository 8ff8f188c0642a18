variable "region" {
  description = "AWS region to deploy to."
  type        = string
  default     = "us-east-1"
}

variable "name_prefix" {
  description = "Prefix of every name in the stack."
  type        = string
  default     = "recipe-basic"
}

variable "canary_percent" {
  description = "Share of production traffic the initial canary sends to green (recipe step 5 uses 10)."
  type        = number
  default     = 10
}

variable "create_account_cloudwatch_role" {
  description = "Register API Gateway's CloudWatch logging role for the account and region (needed once before stages can log)."
  type        = bool
  default     = true
}

variable "execute_api_endpoint" {
  description = "Local cloud data plane, e.g. http://127.0.0.1:4566 (null on AWS)."
  type        = string
  default     = null
}

variable "metric_period_seconds" {
  description = "Alarm metric period: 60 on AWS, 10 in the local cloud."
  type        = number
  default     = 60
}
