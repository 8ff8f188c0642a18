"""Blue slot: the release that serves production when the stack is first applied (recipe step 1)."""

import json


def lambda_handler(event, context):
    return {
        "statusCode": 200,
        "headers": {
            "Content-Type": "application/json",
            "Access-Control-Allow-Origin": "*",
        },
        "body": json.dumps(
            {
                "message": "Hello from Blue environment!",
                "version": "v1.0.0",
                "environment": "blue",
                "timestamp": context.aws_request_id,
            }
        ),
    }
