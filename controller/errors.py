"""The errors a user can cause, each with the exit code `cli` turns it into.

Every message says what to do next; `cli` prints it as one line, never a traceback.
"""

from __future__ import annotations

EXIT_OK = 0  # promoted, or nothing to do
EXIT_ERROR = 1  # bad input, AWS failure, refused (lock held, conflicting canary)
EXIT_USAGE = 2  # command line that cannot be run
EXIT_ROLLED_BACK = 3  # a gate failed and production went back to the live slot


class ControllerError(Exception):
    """Base class: a problem the user can fix; `exit_code` is what the process returns."""

    exit_code = EXIT_ERROR


class UsageError(ControllerError):
    """The command line itself is wrong (found before any AWS call)."""

    exit_code = EXIT_USAGE


class ConfigError(ControllerError):
    """`controller_config` is missing, unreadable or not what the module outputs."""


class AwsError(ControllerError):
    """An AWS call failed after botocore's retries."""


class LockHeldError(ControllerError):
    """Another controller holds the stage's lease."""


class StateConflict(ControllerError):
    """The stage is in a state this command must not touch (e.g. a canary for another slot)."""
