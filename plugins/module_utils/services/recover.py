"""The recover module: a triage plan executed per workload, escalating, within guardrails (module_utils/recovery.py).

With `job`, the recovery was started by an earlier task in the background (`async`, `poll: 0`) with the same
options: this waits for it and returns its result, so the step that reports the recovery is the same either way.
"""
from __future__ import annotations

from ansible_collections.mataresit.emergency.plugins.module_utils.recovery import Recovery
from ansible_collections.mataresit.emergency.plugins.module_utils.services import job_result


JOB_READ_INTERVAL = 0.5  # the longest pause between reads of the job's record (seconds)


def operation(ctx):
    p = ctx.params
    if p.get("job"):
        return job_result.wait(p["job"], p["async_dir"], p["job_timeout"], JOB_READ_INTERVAL, option="job")
    return Recovery(ctx.client, p, dry_run=ctx.check_mode, warn=ctx.warn).run()
