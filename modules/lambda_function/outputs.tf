output "function_name" {
  description = "Name of the Lambda function."
  value       = aws_lambda_function.this.function_name
}

output "function_arn" {
  description = "ARN of the Lambda function (unqualified: the slot always runs $LATEST)."
  value       = aws_lambda_function.this.arn
}

output "invoke_arn" {
  description = "ARN API Gateway uses to invoke the function."
  value       = aws_lambda_function.this.invoke_arn
}

output "version_label" {
  description = "Release label of the code in this slot."
  value       = var.version_label
}

output "source_code_hash" {
  description = "Hash that identifies the deployed package (of the sources when built from source_dir)."
  value       = local.package_hash
}

output "package_path" {
  description = "Path of the deployment package that was uploaded."
  value       = local.package_path
}

output "role_arn" {
  description = "ARN of the function's execution role."
  value       = aws_iam_role.this.arn
}

output "role_name" {
  description = "Name of the function's execution role."
  value       = aws_iam_role.this.name
}

output "log_group_name" {
  description = "Name of the function's CloudWatch log group."
  value       = aws_cloudwatch_log_group.this.name
}
