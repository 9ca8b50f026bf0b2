"""Fixtures of the operator tests: the live tests' server with a known history."""

from tests.live.conftest import history, live_server, live_settings

__all__ = ["history", "live_server", "live_settings"]
