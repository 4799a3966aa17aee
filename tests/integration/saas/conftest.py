"""Fixtures of the notification modules' integration tests: see tests/sandbox/fixtures.py."""
from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

# Fixtures (pytest finds them by name here) and helpers the tests import from this conftest.
from tests.sandbox.fixtures import (  # noqa: E402,F401 pylint: disable=unused-import
    REPO, assert_clean, free_port, run_saas, saas_sandbox, sandbox, smtp_server, smtp_starttls_server,
)
