"""Unit-test fixtures shared across files."""

from __future__ import annotations

from rollout_world import world  # noqa: F401 - a fixture for every unit test module
