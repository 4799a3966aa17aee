"""Start the local SaaS sandbox (PagerDuty, Statuspage, Slack) for the demo: `python tools/saas_sandbox.py`.

Same as `python -m tools.sandbox`; prints the base URL and the settings (URLs, test credentials)
and serves until interrupted.
"""
from __future__ import annotations

import sys

from tools.sandbox.__main__ import main

if __name__ == "__main__":
    sys.exit(main())
