"""The tests' webhook receiver is the demo's (demo/receiver.py): one HTTP server on 127.0.0.1 that records
each POST and answers with the status a test chose per path."""

from demo.receiver import Received, Receiver, start_receiver

__all__ = ["Received", "Receiver", "start_receiver"]
