variable "region" {
  description = "AWS region to deploy to."
  type        = string
  default     = "us-east-1"
}

variable "name_prefix" {
  description = "Prefix of every name in the stack."
  type        = string
  default     = "recipe-complete"
}

variable "domain_name" {
  description = "Custom domain for production, e.g. api.example.com (null = no custom domain)."
  type        = string
  default     = null
}

variable "zone_id" {
  description = "Route 53 hosted zone that holds domain_name (alias and certificate validation records go here)."
  type        = string
  default     = null
}

variable "certificate_arn" {
  description = "Existing ACM certificate for domain_name (null = request one and validate it through zone_id)."
  type        = string
  default     = null
}

variable "dns_weight" {
  description = "Weight of this region's alias records when the same name is served from several regions (null = simple alias)."
  type        = number
  default     = null
}

variable "sns_kms_key_id" {
  description = "KMS key for the alarm topic. The AWS managed SNS key cannot be used by CloudWatch alarms; pass a customer managed key that allows cloudwatch.amazonaws.com, or null for no SSE."
  type        = string
  default     = null
}

variable "create_account_cloudwatch_role" {
  description = "Register API Gateway's CloudWatch logging role for the account and region (once per account and region)."
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
