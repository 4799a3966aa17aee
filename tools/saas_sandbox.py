"""Start the local SaaS sandbox (PagerDuty, Statuspage, Slack) for the demo: `python tools/saas_sandbox.py`.

Same as `python -m tests.sandbox` from the repository root; prints the base URL
and the settings (URLs, test credentials) and serves until interrupted.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.sandbox.__main__ import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
