variable "function_name" {
  description = "Name of the Lambda function (also names its role and log group)."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,64}$", var.function_name))
    error_message = "function_name must be 1-64 letters, digits, hyphens or underscores."
  }
}

variable "description" {
  description = "Description of the function."
  type        = string
  default     = ""
}

variable "version_label" {
  description = "Release label of the code in this slot (for example v1.0.0); surfaced in outputs, the function description and the VERSION_LABEL environment variable."
  type        = string

  validation {
    condition     = length(var.version_label) > 0 && length(var.version_label) <= 64
    error_message = "version_label must be 1-64 characters."
  }
}

variable "source_dir" {
  description = "Directory whose files become the package root. Packaged at apply time by a bundled Python script; exactly one of source_dir and package_file must be set."
  type        = string
  default     = null
}

variable "package_file" {
  description = "Path to a prebuilt deployment package (.zip) to use instead of source_dir."
  type        = string
  default     = null

  validation {
    condition     = var.package_file == null || endswith(coalesce(var.package_file, "x"), ".zip")
    error_message = "package_file must be a .zip file."
  }

  validation {
    condition     = (var.source_dir == null) != (var.package_file == null)
    error_message = "Set exactly one of source_dir and package_file."
  }
}

variable "build_dir" {
  description = "Directory where packages built from source_dir are written (default: <module>/build)."
  type        = string
  default     = null
}

variable "python_executable" {
  description = "Python interpreter that runs the packaging script on the machine running Terraform."
  type        = string
  default     = "python3"
}

variable "handler" {
  description = "Function entry point, MODULE.FUNCTION."
  type        = string
  default     = "handler.lambda_handler"

  validation {
    condition     = can(regex("^[^.\\s]+(\\.[^.\\s]+)+$", var.handler))
    error_message = "handler must look like MODULE.FUNCTION, for example handler.lambda_handler."
  }
}

variable "runtime" {
  description = "Lambda runtime identifier."
  type        = string
  default     = "python3.12"
}

variable "architectures" {
  description = "Instruction set architecture: [\"x86_64\"] or [\"arm64\"]."
  type        = list(string)
  default     = ["x86_64"]

  validation {
    condition     = length(var.architectures) == 1 && contains(["x86_64", "arm64"], var.architectures[0])
    error_message = "architectures must be [\"x86_64\"] or [\"arm64\"]."
  }
}

variable "memory_size" {
  description = "Memory in MB (128-10240)."
  type        = number
  default     = 128

  validation {
    condition     = var.memory_size >= 128 && var.memory_size <= 10240 && floor(var.memory_size) == var.memory_size
    error_message = "memory_size must be a whole number of MB between 128 and 10240."
  }
}

variable "timeout" {
  description = "Timeout in seconds (1-900). API Gateway stops waiting after 29 s by default, so keep it below the integration timeout."
  type        = number
  default     = 10

  validation {
    condition     = var.timeout >= 1 && var.timeout <= 900 && floor(var.timeout) == var.timeout
    error_message = "timeout must be a whole number of seconds between 1 and 900."
  }
}

variable "environment_variables" {
  description = "Environment variables for the function. VERSION_LABEL is added from version_label."
  type        = map(string)
  default     = {}
}

variable "kms_key_arn" {
  description = "KMS key that encrypts the environment variables at rest (null = AWS managed key). The role gets kms:Decrypt on it."
  type        = string
  default     = null
}

variable "vpc_subnet_ids" {
  description = "Subnets to place the function in (empty = no VPC). Needs vpc_security_group_ids too."
  type        = list(string)
  default     = []
}

variable "vpc_security_group_ids" {
  description = "Security groups for the function's network interfaces when vpc_subnet_ids is set."
  type        = list(string)
  default     = []

  validation {
    condition     = length(var.vpc_subnet_ids) == 0 || length(var.vpc_security_group_ids) > 0
    error_message = "vpc_security_group_ids must not be empty when vpc_subnet_ids is set."
  }
}

variable "layers" {
  description = "Lambda layer version ARNs (at most 5)."
  type        = list(string)
  default     = []

  validation {
    condition     = length(var.layers) <= 5
    error_message = "A function can use at most 5 layers."
  }
}

variable "reserved_concurrent_executions" {
  description = "Concurrency reserved for the function (-1 = unreserved, 0 = throttle everything)."
  type        = number
  default     = -1

  validation {
    condition     = var.reserved_concurrent_executions >= -1 && floor(var.reserved_concurrent_executions) == var.reserved_concurrent_executions
    error_message = "reserved_concurrent_executions must be -1 or a whole number >= 0."
  }
}

variable "dead_letter_target_arn" {
  description = "SQS queue or SNS topic ARN that receives failed asynchronous invocations (null = none). The role gets permission to send to it."
  type        = string
  default     = null

  validation {
    condition     = var.dead_letter_target_arn == null || can(regex("^arn:[^:]+:(sqs|sns):", coalesce(var.dead_letter_target_arn, "x")))
    error_message = "dead_letter_target_arn must be an SQS queue or SNS topic ARN."
  }
}

variable "tracing_mode" {
  description = "X-Ray tracing: \"Active\" (sample and trace; the role gets X-Ray write access) or \"PassThrough\"."
  type        = string
  default     = "Active"

  validation {
    condition     = contains(["Active", "PassThrough"], var.tracing_mode)
    error_message = "tracing_mode must be Active or PassThrough."
  }
}

variable "log_retention_days" {
  description = "Retention of the function's log group in days (a value CloudWatch Logs accepts)."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653."
  }
}

variable "log_kms_key_arn" {
  description = "KMS key that encrypts the log group (null = CloudWatch Logs default encryption)."
  type        = string
  default     = null
}

variable "role_permissions_boundary" {
  description = "Permissions boundary ARN for the execution role (null = none)."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags for every resource this module creates."
  type        = map(string)
  default     = {}
}
