"""Local SaaS sandbox (PagerDuty, Statuspage, Slack) validating every request
and response against the providers' OpenAPI documents. See server.py."""
from __future__ import annotations

from .server import Sandbox
from .specs import QUIRKS, SpecSet, specs_dir

__all__ = ["Sandbox", "SpecSet", "QUIRKS", "specs_dir"]
