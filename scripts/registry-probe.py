"""Does the Terraform registry answer? One line on stdout says why or why not; exit 0 if it does, 1 if not.

Reads the registry's service discovery document, `/.well-known/terraform.json`, within a time limit that
covers the whole exchange (name lookup, connection, TLS, response), so an offline machine waits at most
that long. A registry answers with a JSON object naming its provider API (`providers.v1`):
https://developer.hashicorp.com/terraform/internals/remote-service-discovery

  APIGW_CANARY_REGISTRY          base URL to probe (default https://registry.terraform.io)
  APIGW_CANARY_REGISTRY_TIMEOUT  seconds allowed (default 5)

Standard library only: it runs before the project's venv has anything in it.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import urllib.error
import urllib.request

DEFAULT_REGISTRY = "https://registry.terraform.io"
DEFAULT_TIMEOUT_S = 5.0
DISCOVERY_PATH = "/.well-known/terraform.json"
MAX_DOCUMENT_BYTES = 64 * 1024


def fetch(url: str, timeout_s: float) -> tuple[bool, str | None]:
    """(answered like a registry, what happened; None when it timed out) for one GET of the document."""
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            body = response.read(MAX_DOCUMENT_BYTES)
    except urllib.error.HTTPError as exc:
        return False, f"answered HTTP {exc.code}"
    except TimeoutError:
        return False, None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            return False, None
        return False, f"is unreachable ({getattr(exc.reason, 'strerror', None) or exc.reason})"
    except (OSError, ValueError) as exc:
        return False, f"is unreachable ({exc})"
    try:
        document = json.loads(body)
    except ValueError:
        return False, "answered, but not with a JSON discovery document"
    if not isinstance(document, dict) or "providers.v1" not in document:
        return False, "answered, but its discovery document names no providers.v1 service"
    return True, "answered"


def probe(base_url: str, timeout_s: float) -> tuple[bool, str]:
    """Like `fetch`, but never longer than `timeout_s` in all, even against a server that answers slowly."""
    url = base_url.rstrip("/") + DISCOVERY_PATH
    result: list[tuple[bool, str | None]] = []
    started = time.monotonic()
    worker = threading.Thread(target=lambda: result.append(fetch(url, timeout_s)), daemon=True)
    worker.start()
    worker.join(timeout_s)
    elapsed = time.monotonic() - started
    ok, what = result[0] if result else (False, None)
    if what is None:
        return False, f"{base_url} did not answer within {timeout_s:g} s"
    return ok, f"{base_url} {what} in {elapsed:.1f} s" if ok else f"{base_url} {what}"


def main() -> int:
    base_url = os.environ.get("APIGW_CANARY_REGISTRY") or DEFAULT_REGISTRY
    raw_timeout = os.environ.get("APIGW_CANARY_REGISTRY_TIMEOUT") or str(DEFAULT_TIMEOUT_S)
    try:
        timeout_s = float(raw_timeout)
    except ValueError:
        timeout_s = -1.0
    if not 0 < timeout_s <= 60:
        print(f"APIGW_CANARY_REGISTRY_TIMEOUT={raw_timeout!r}: give seconds, 0 to 60", file=sys.stderr)
        return 2
    ok, why = probe(base_url, timeout_s)
    print(why)
    sys.stdout.flush()
    # A thread still waiting on a slow server must not keep the process alive.
    os._exit(0 if ok else 1)


if __name__ == "__main__":
    sys.exit(main())
