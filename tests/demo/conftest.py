"""Fixtures for the demo's pieces: a loopback stand-in for the production stage."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


@dataclass
class Production:
    """What the stand-in answers: the release's body (as the slot handlers write it) and its status."""

    url: str
    answer: dict[str, str] = field(default_factory=lambda: {"environment": "blue", "version": "v1.0.0"})
    status: int = 200

    def serve(self, version: str, status: int = 200) -> None:
        """`version` as the demo counts it: "green v2.0.0"."""
        environment, _, label = version.partition(" ")
        self.answer, self.status = {"environment": environment, "version": label}, status


@pytest.fixture
def production() -> Iterator[Production]:
    """A loopback server that answers like a slot handler, switched by the test as a stage would be."""
    holder: dict[str, Production] = {}

    class Hello(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            stage = holder["p"]
            body = json.dumps(stage.answer).encode()
            self.send_response(stage.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    server.daemon_threads = True
    holder["p"] = Production(f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield holder["p"]
    server.shutdown()
    server.server_close()
