"""Green slot: the release candidate that staging serves when the stack is first applied (recipe step 1)."""

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
                "message": "Hello from Green environment!",
                "version": "v2.0.0",
                "environment": "green",
                "timestamp": context.aws_request_id,
                "new_feature": "Enhanced response format",
            }
        ),
    }
