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

variable "production_stage_name" {
  description = "Stage serving live traffic (and the custom domain)."
  type        = string
  default     = "production"
}

variable "staging_stage_name" {
  description = "Stage serving the idle slot."
  type        = string
  default     = "staging"
}

variable "domain_name" {
  description = "Custom domain for production, e.g. api.example.com (null = no custom domain)."
  type        = string
  default     = null
}

variable "zone_id" {
  description = "Existing Route 53 hosted zone that holds domain_name (alias and certificate validation records go here). Ignored when zone_name is set."
  type        = string
  default     = null
}

variable "zone_name" {
  description = "Create a public hosted zone of this name (domain_name or a parent of it) in the same apply and put the records there (null = use zone_id)."
  type        = string
  default     = null

  validation {
    condition     = var.zone_name == null || can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$", var.zone_name))
    error_message = "zone_name must be a lower-case DNS name such as example.com."
  }
}

variable "parent_zone_id" {
  description = "With zone_name: the Route 53 zone of its parent domain, where the new zone is delegated (NS record), so ACM can resolve the validation records in the same apply on AWS (null = delegate it yourself)."
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
