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

variable "blue_source_dir" {
  description = "Source directory of the release to deploy to the blue slot; relative paths start from where terraform runs (null = the module's lambda/blue, v1.0.0)."
  type        = string
  default     = null
}

variable "green_source_dir" {
  description = "Source directory of the release to deploy to the green slot; relative paths start from where terraform runs (null = the module's lambda/green, v2.0.0)."
  type        = string
  default     = null
}

variable "blue_version_label" {
  description = "Release label of the code in the blue slot (the function's VERSION_LABEL, description and tags; the controller reports it)."
  type        = string
  default     = "v1.0.0"
}

variable "green_version_label" {
  description = "Release label of the code in the green slot (the function's VERSION_LABEL, description and tags; the controller reports it)."
  type        = string
  default     = "v2.0.0"
}
