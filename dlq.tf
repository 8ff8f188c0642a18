# Dead-letter queue for both slots (create_dlq). Lambda sends an asynchronous invocation's event here once
# its retries are spent; API Gateway invokes the slots synchronously, so only other callers' events (S3, SNS,
# EventBridge, `aws lambda invoke --invocation-type Event`) ever land here
# (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html#invocation-dlq).
# Lambda sends with the function's execution role: the slot module grants each role sqs:SendMessage on it.
locals {
  dead_letter_target_arn = var.create_dlq ? aws_sqs_queue.dlq[0].arn : var.lambda_dead_letter_target_arn
}

resource "aws_sqs_queue" "dlq" {
  count = var.create_dlq ? 1 : 0

  name                      = local.names.dlq
  message_retention_seconds = var.dlq_message_retention_seconds
  sqs_managed_sse_enabled   = true
  tags                      = local.tags
}

# The queue's own policy: only the slot roles may send, and nobody may use it without TLS
# (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-security-best-practices.html).
data "aws_iam_policy_document" "dlq" {
  count = var.create_dlq ? 1 : 0

  statement {
    sid       = "SlotFunctionsSendFailedEvents"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.dlq[0].arn]

    principals {
      type        = "AWS"
      identifiers = [for slot in sort(keys(module.slot)) : module.slot[slot].role_arn]
    }
  }

  statement {
    sid       = "DenyWithoutTls"
    effect    = "Deny"
    actions   = ["sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:PurgeQueue"]
    resources = [aws_sqs_queue.dlq[0].arn]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_sqs_queue_policy" "dlq" {
  count = var.create_dlq ? 1 : 0

  queue_url = aws_sqs_queue.dlq[0].id
  policy    = data.aws_iam_policy_document.dlq[0].json
}
