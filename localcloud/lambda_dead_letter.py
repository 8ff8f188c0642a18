"""Lambda keeps a function's dead-letter target and returns it, as Lambda does.

moto 5.2.5 dropped `DeadLetterConfig` from CreateFunction and UpdateFunctionConfiguration and never returned
it, so the Terraform provider read `dead_letter_config` back empty after every apply and planned to set it
again: no `terraform plan` after applying the module's `create_dlq` came out empty. Lambda stores the
target's ARN and returns it in the function's configuration (GetFunction, GetFunctionConfiguration,
ListFunctions); an empty `TargetArn` in UpdateFunctionConfiguration removes it:
https://docs.aws.amazon.com/lambda/latest/api/API_DeadLetterConfig.html
https://docs.aws.amazon.com/lambda/latest/api/API_FunctionConfiguration.html

Not emulated: sending failed asynchronous invocations to the target (the local cloud invokes synchronously).
"""

from __future__ import annotations

from typing import Any

from moto.awslambda.models import LambdaFunction

_ATTRIBUTE = "localcloud_dead_letter_target"
_installed = False


def _target(config: Any) -> str | None:
    """The target ARN of a DeadLetterConfig request member, or None when it is absent or empty."""
    if isinstance(config, dict) and isinstance(config.get("TargetArn"), str) and config["TargetArn"]:
        return config["TargetArn"]
    return None


def install() -> None:
    global _installed
    if _installed:
        return
    _installed = True
    create = LambdaFunction.__init__
    describe = LambdaFunction.get_configuration
    update = LambdaFunction.update_configuration

    def __init__(self: Any, account_id: str, spec: dict[str, Any], *args: Any, **kwargs: Any) -> None:
        create(self, account_id, spec, *args, **kwargs)
        setattr(self, _ATTRIBUTE, _target(spec.get("DeadLetterConfig")))

    def get_configuration(self: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        config = describe(self, *args, **kwargs)
        target = getattr(self, _ATTRIBUTE, None)
        if target:
            config["DeadLetterConfig"] = {"TargetArn": target}
        return config

    def update_configuration(self: Any, config_updates: dict[str, Any]) -> dict[str, Any]:
        if "DeadLetterConfig" in config_updates:
            setattr(self, _ATTRIBUTE, _target(config_updates["DeadLetterConfig"]))
        return update(self, config_updates)

    LambdaFunction.__init__ = __init__  # type: ignore[method-assign]
    LambdaFunction.get_configuration = get_configuration  # type: ignore[method-assign]
    LambdaFunction.update_configuration = update_configuration  # type: ignore[method-assign]
