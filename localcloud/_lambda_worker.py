"""One warm Lambda execution environment: imports the handler once, then serves invocations.

Run as a script (not as part of the localcloud package) with the function's unpacked code as the working
directory. Protocol: one JSON object per line on stdin (invoke requests) and on the protocol fd (results).
The handler's own prints go to stderr, like a Lambda function's logs, so they cannot corrupt the protocol.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
import traceback


class LambdaContext:
    """The attributes and method the Python runtime's context object offers."""

    def __init__(self, info: dict, deadline: float) -> None:
        self.function_name = info["function_name"]
        self.function_version = info["function_version"]
        self.invoked_function_arn = info["invoked_function_arn"]
        self.memory_limit_in_mb = int(info["memory_limit_in_mb"])
        self.aws_request_id = info["aws_request_id"]
        self.log_group_name = info["log_group_name"]
        self.log_stream_name = info["log_stream_name"]
        self.identity = None
        self.client_context = None
        self._deadline = deadline

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.time()) * 1000))


def _error(exc: BaseException, error_type: str | None = None) -> dict:
    return {
        "ok": False,
        "errorType": error_type or type(exc).__name__,
        "errorMessage": str(exc),
        "stackTrace": traceback.format_exception(exc)[-5:],
    }


def _load_handler(spec: str):  # noqa: ANN202 - returns the user's callable
    module_name, _, func_name = spec.rpartition(".")
    if not module_name:
        raise ValueError(f"Bad handler {spec!r}: expected MODULE.FUNCTION")
    module = importlib.import_module(module_name.replace("/", "."))
    try:
        return getattr(module, func_name)
    except AttributeError:
        raise AttributeError(f"Handler {func_name!r} missing on module {module_name!r}") from None


def main() -> None:
    out = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # print() in user code goes to stderr
    sys.stdout = sys.stderr
    sys.path.insert(0, os.getcwd())
    handler = None
    init_error: dict | None = None
    try:
        handler = _load_handler(os.environ["_HANDLER"])
    except Exception as exc:  # reported on every invoke, like Runtime.ImportModuleError
        init_error = _error(exc, "Runtime.ImportModuleError")
    for line in sys.stdin:
        request = json.loads(line)
        deadline = time.time() + request["timeout_ms"] / 1000.0
        inject = request.get("inject") or {}
        started = time.perf_counter()
        if init_error is not None:
            reply = init_error
        else:
            try:
                if inject.get("latency_ms"):
                    time.sleep(inject["latency_ms"] / 1000.0)
                if inject.get("error"):
                    raise RuntimeError("Injected fault (localcloud fault: lambda error_rate)")
                context = LambdaContext(request["context"], deadline)
                result = handler(request["event"], context)  # type: ignore[misc]
                try:
                    json.dumps(result)
                except (TypeError, ValueError) as exc:
                    reply = _error(exc, "Runtime.MarshalError")
                else:
                    reply = {"ok": True, "result": result}
            except Exception as exc:
                reply = _error(exc)
        reply["duration_ms"] = (time.perf_counter() - started) * 1000.0
        out.write(json.dumps(reply) + "\n")


if __name__ == "__main__":
    main()
