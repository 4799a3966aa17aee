"""The recover module: a triage plan executed per workload, escalating, within guardrails (module_utils/recovery.py)."""
from __future__ import annotations

from ansible_collections.mataresit.emergency.plugins.module_utils.recovery import Recovery


def operation(ctx):
    return Recovery(ctx.client, ctx.params, dry_run=ctx.check_mode, warn=ctx.warn).run()
