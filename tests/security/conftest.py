"""Reuse the stand-in fixtures of the External Accounts tests."""

from tests.connect.conftest import configured, ms  # noqa: F401
