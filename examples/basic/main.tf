# The recipe "Advanced API Gateway Deployment Strategies" as one module call: blue v1.0.0 serves production,
# green v2.0.0 serves staging, and (step 5) a canary sends canary_percent of production traffic to green.
# Then shift and promote with the controller: python -m controller shift --tf-dir .

provider "aws" {
  region = var.region
  # Credentials and, for the local cloud, the endpoint come from the environment
  # (AWS_PROFILE or AWS_ACCESS_KEY_ID...; AWS_ENDPOINT_URL=http://127.0.0.1:4566).
}

module "canary" {
  source = "../.."

  name_prefix    = var.name_prefix
  canary_percent = var.canary_percent

  # The code in each slot. A release goes to the idle slot (the one staging serves); the controller then
  # shifts production to it: terraform apply -var blue_source_dir=../releases/v3 -var blue_version_label=v3.0.0
  blue_source_dir     = var.blue_source_dir
  green_source_dir    = var.green_source_dir
  blue_version_label  = var.blue_version_label
  green_version_label = var.green_version_label

  # Execution and access logs need API Gateway's CloudWatch role in the account settings (once per account
  # and region). Set false if another stack already registers it.
  create_account_cloudwatch_role = var.create_account_cloudwatch_role

  # Local cloud only: its data plane URL and its high-resolution metrics. Null and 60 on AWS.
  execute_api_endpoint  = var.execute_api_endpoint
  metric_period_seconds = var.metric_period_seconds

  tags = {
    Example = "basic"
  }
}
