"""API Gateway canary settings over the control plane (boto3 against the local cloud).

Pages followed:
CANARY  https://docs.aws.amazon.com/apigateway/latest/developerguide/canary-release.html
CREATE  https://docs.aws.amazon.com/apigateway/latest/developerguide/create-canary-deployment.html
UPDATE  https://docs.aws.amazon.com/apigateway/latest/developerguide/update-canary-deployment.html
PROMOTE https://docs.aws.amazon.com/apigateway/latest/developerguide/promote-canary-deployment.html
DISABLE https://docs.aws.amazon.com/apigateway/latest/developerguide/delete-canary-deployment.html
"""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError


@pytest.fixture
def apigw(aws_client):
    return aws_client("apigateway")


@pytest.fixture
def api(make_api):
    return make_api()


def test_canary_deployment_keeps_stage_deployment_and_attaches_new_one_as_canary(apigw, api):
    base = apigw.create_deployment(
        restApiId=api.id, stageName="prod", variables={"sv0": "val0", "sv1": "val1"}
    )
    canary = apigw.create_deployment(
        restApiId=api.id,
        stageName="prod",
        canarySettings={
            "percentTraffic": 10.5,
            "useStageCache": False,
            "stageVariableOverrides": {"sv1": "val2", "sv2": "val3"},
        },
    )
    stage = apigw.get_stage(restApiId=api.id, stageName="prod")
    # CREATE: the stage keeps deploymentId du4ot1 and canarySettings.deploymentId is the new a6rox0.
    assert stage["deploymentId"] == base["id"]
    assert stage["canarySettings"] == {
        "percentTraffic": 10.5,
        "deploymentId": canary["id"],
        "useStageCache": False,
        "stageVariableOverrides": {"sv1": "val2", "sv2": "val3"},
    }
    assert stage["variables"] == {"sv0": "val0", "sv1": "val1"}


def test_redeploying_to_a_canary_enabled_stage_updates_only_the_canary(apigw, api):
    base = apigw.create_deployment(restApiId=api.id, stageName="prod")
    apigw.create_deployment(restApiId=api.id, stageName="prod", canarySettings={"percentTraffic": 5})
    latest = apigw.create_deployment(restApiId=api.id, stageName="prod")
    stage = apigw.get_stage(restApiId=api.id, stageName="prod")
    # CREATE (console): "the canary release points to the latest version while the production release still
    # points to the initial version of the API".
    assert stage["deploymentId"] == base["id"]
    assert stage["canarySettings"]["deploymentId"] == latest["id"]
    assert stage["canarySettings"]["percentTraffic"] == 5.0


def test_canary_deployment_to_a_missing_stage_is_rejected(apigw, api):
    # CREATE: "you cannot specify any non-existing stage name when creating a canary release deployment".
    with pytest.raises(ClientError) as err:
        apigw.create_deployment(restApiId=api.id, stageName="nope", canarySettings={"percentTraffic": 10})
    assert err.value.response["Error"]["Code"] == "NotFoundException"
    assert "nope" not in [s["stageName"] for s in apigw.get_stages(restApiId=api.id)["item"]]


def test_update_stage_adds_canary_on_the_stage_deployment_and_get_stages_returns_it(apigw, api):
    base = apigw.create_deployment(
        restApiId=api.id, stageName="beta", variables={"sv0": "val0", "sv1": "val1"}
    )
    apigw.update_stage(
        restApiId=api.id,
        stageName="beta",
        patchOperations=[
            {"op": "replace", "path": "/canarySettings/percentTraffic", "value": "10.5"},
            {"op": "replace", "path": "/canarySettings/useStageCache", "value": "false"},
            {"op": "replace", "path": "/canarySettings/stageVariableOverrides/sv1", "value": "val2"},
            {"op": "replace", "path": "/canarySettings/stageVariableOverrides/sv2", "value": "val3"},
        ],
    )
    # CREATE: "both the production release (Stage) and canary release (canarySettings) point to the same
    # deployment".
    stages = {s["stageName"]: s for s in apigw.get_stages(restApiId=api.id)["item"]}
    assert stages["beta"]["deploymentId"] == base["id"]
    assert stages["beta"]["canarySettings"] == {
        "percentTraffic": 10.5,
        "deploymentId": base["id"],
        "useStageCache": False,
        "stageVariableOverrides": {"sv1": "val2", "sv2": "val3"},
    }


def test_update_stage_changes_percent_overrides_and_deployment_of_the_canary(apigw, api):
    first = apigw.create_deployment(restApiId=api.id, stageName="prod")
    second = apigw.create_deployment(restApiId=api.id, description="v2")
    apigw.update_stage(
        restApiId=api.id,
        stageName="prod",
        patchOperations=[
            {"op": "replace", "path": "/canarySettings/deploymentId", "value": second["id"]},
            {"op": "replace", "path": "/canarySettings/percentTraffic", "value": "15.0"},
            {"op": "replace", "path": "/canarySettings/stageVariableOverrides/var1", "value": "a"},
        ],
    )
    # UPDATE: replace percentTraffic, add/replace/remove canary stage variables.
    stage = apigw.update_stage(
        restApiId=api.id,
        stageName="prod",
        patchOperations=[
            {"op": "replace", "path": "/canarySettings/percentTraffic", "value": "25.0"},
            {"op": "remove", "path": "/canarySettings/stageVariableOverrides/var1"},
            {"op": "replace", "path": "/canarySettings/stageVariableOverrides/newVar", "value": "newVal"},
            {"op": "replace", "path": "/canarySettings/useStageCache", "value": "true"},
        ],
    )
    assert stage["deploymentId"] == first["id"]
    assert stage["canarySettings"] == {
        "percentTraffic": 25.0,
        "deploymentId": second["id"],
        "useStageCache": True,
        "stageVariableOverrides": {"newVar": "newVal"},
    }


def test_promote_copies_canary_deployment_and_variables_then_remove_disables_canary(apigw, api):
    base = apigw.create_deployment(restApiId=api.id, stageName="prod", variables={"sv1": "val1"})
    canary = apigw.create_deployment(
        restApiId=api.id,
        stageName="prod",
        canarySettings={"percentTraffic": 10.5, "stageVariableOverrides": {"sv1": "val2", "sv2": "val3"}},
    )
    # PROMOTE: copy /canarySettings/deploymentId to /deploymentId, percent to 0.0, copy overrides to
    # /variables.
    promoted = apigw.update_stage(
        restApiId=api.id,
        stageName="prod",
        patchOperations=[
            {"op": "copy", "path": "/deploymentId", "from": "/canarySettings/deploymentId"},
            {"op": "replace", "path": "/canarySettings/percentTraffic", "value": "0.0"},
            {"op": "copy", "path": "/variables", "from": "/canarySettings/stageVariableOverrides"},
        ],
    )
    assert promoted["deploymentId"] == canary["id"] != base["id"]
    assert promoted["variables"] == {"sv1": "val2", "sv2": "val3"}
    # "promoting a canary release to the stage does not disable the canary"
    assert promoted["canarySettings"]["percentTraffic"] == 0.0
    # DISABLE: remove /canarySettings; the property is no longer present.
    disabled = apigw.update_stage(
        restApiId=api.id, stageName="prod", patchOperations=[{"op": "remove", "path": "/canarySettings"}]
    )
    assert "canarySettings" not in disabled
    assert "canarySettings" not in apigw.get_stage(restApiId=api.id, stageName="prod")


@pytest.mark.parametrize("value", ["100.1", "-1", "abc"])
def test_percent_traffic_outside_0_to_100_is_rejected_and_stage_unchanged(apigw, api, value):
    apigw.create_deployment(restApiId=api.id, stageName="prod")
    apigw.update_stage(
        restApiId=api.id,
        stageName="prod",
        patchOperations=[{"op": "replace", "path": "/canarySettings/percentTraffic", "value": "10"}],
    )
    # CANARY: "A percentage of API traffic, between 0.0 and 100.0 inclusive".
    with pytest.raises(ClientError) as err:
        apigw.update_stage(
            restApiId=api.id,
            stageName="prod",
            patchOperations=[
                {"op": "replace", "path": "/canarySettings/useStageCache", "value": "true"},
                {"op": "replace", "path": "/canarySettings/percentTraffic", "value": value},
            ],
        )
    assert err.value.response["Error"]["Code"] == "BadRequestException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    canary = apigw.get_stage(restApiId=api.id, stageName="prod")["canarySettings"]
    assert canary["percentTraffic"] == 10.0 and canary["useStageCache"] is False  # all-or-nothing


def test_percent_traffic_bounds_are_inclusive(apigw, api):
    apigw.create_deployment(restApiId=api.id, stageName="prod")
    for value in ("0.0", "100.0"):
        stage = apigw.update_stage(
            restApiId=api.id,
            stageName="prod",
            patchOperations=[{"op": "replace", "path": "/canarySettings/percentTraffic", "value": value}],
        )
        assert stage["canarySettings"]["percentTraffic"] == float(value)


def test_unknown_deployment_ids_are_rejected(apigw, api):
    apigw.create_deployment(restApiId=api.id, stageName="prod")
    for path in ("/canarySettings/deploymentId", "/deploymentId"):
        with pytest.raises(ClientError) as err:
            apigw.update_stage(
                restApiId=api.id,
                stageName="prod",
                patchOperations=[{"op": "replace", "path": path, "value": "missing1"}],
            )
        assert err.value.response["Error"]["Code"] == "BadRequestException"
    with pytest.raises(ClientError):
        apigw.create_stage(restApiId=api.id, stageName="other", deploymentId="missing1")


def test_create_stage_with_canary_settings_defaults_canary_to_the_stage_deployment(apigw, api):
    dep = apigw.create_deployment(restApiId=api.id)
    stage = apigw.create_stage(
        restApiId=api.id,
        stageName="prod",
        deploymentId=dep["id"],
        variables={"slot": "blue"},
        tags={"team": "platform"},
        canarySettings={"percentTraffic": 20.0, "stageVariableOverrides": {"slot": "green"}},
    )
    assert stage["canarySettings"] == {
        "percentTraffic": 20.0,
        "deploymentId": dep["id"],
        "useStageCache": False,
        "stageVariableOverrides": {"slot": "green"},
    }
    assert apigw.get_stage(restApiId=api.id, stageName="prod")["tags"] == {"team": "platform"}
    with pytest.raises(ClientError) as err:
        apigw.create_stage(
            restApiId=api.id, stageName="bad", deploymentId=dep["id"], canarySettings={"percentTraffic": 101}
        )
    assert err.value.response["Error"]["Code"] == "BadRequestException"


def test_create_deployment_keeps_existing_stage_settings(apigw, api):
    apigw.create_deployment(restApiId=api.id, stageName="prod", variables={"slot": "blue"})
    apigw.update_stage(
        restApiId=api.id,
        stageName="prod",
        patchOperations=[{"op": "replace", "path": "/*/*/throttling/rateLimit", "value": "100"}],
    )
    new = apigw.create_deployment(restApiId=api.id, stageName="prod")
    stage = apigw.get_stage(restApiId=api.id, stageName="prod")
    assert stage["deploymentId"] == new["id"]
    assert stage["variables"] == {"slot": "blue"}
    assert stage["methodSettings"]["*/*"]["throttlingRateLimit"] == 100.0


def test_deployment_used_by_a_canary_cannot_be_deleted(apigw, api):
    apigw.create_deployment(restApiId=api.id, stageName="prod")
    canary = apigw.create_deployment(restApiId=api.id, stageName="prod", canarySettings={"percentTraffic": 1})
    # API reference DeleteDeployment: deleting a deployment a stage still uses is a BadRequestException.
    with pytest.raises(ClientError) as err:
        apigw.delete_deployment(restApiId=api.id, deploymentId=canary["id"])
    assert err.value.response["Error"]["Code"] == "BadRequestException"
    apigw.update_stage(
        restApiId=api.id, stageName="prod", patchOperations=[{"op": "remove", "path": "/canarySettings"}]
    )
    apigw.delete_deployment(restApiId=api.id, deploymentId=canary["id"])


def test_tag_resource_works_on_rest_apis_and_stages(apigw, api):
    apigw.create_deployment(restApiId=api.id, stageName="prod")
    for arn in (
        f"arn:aws:apigateway:us-east-1::/restapis/{api.id}",
        f"arn:aws:apigateway:us-east-1::/restapis/{api.id}/stages/prod",
    ):
        # https://docs.aws.amazon.com/apigateway/latest/api/API_TagResource.html
        apigw.tag_resource(resourceArn=arn, tags={"owner": "platform", "env": "local"})
        apigw.untag_resource(resourceArn=arn, tagKeys=["env"])
        assert apigw.get_tags(resourceArn=arn)["tags"] == {"owner": "platform"}
    assert apigw.get_rest_api(restApiId=api.id)["tags"] == {"owner": "platform"}
    assert apigw.get_stage(restApiId=api.id, stageName="prod")["tags"] == {"owner": "platform"}
    with pytest.raises(ClientError) as err:
        apigw.get_tags(resourceArn="arn:aws:apigateway:us-east-1::/restapis/doesnotexist")
    assert err.value.response["Error"]["Code"] == "NotFoundException"
