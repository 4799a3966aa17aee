"""The triage module: gather (triage/gather.py, summarised by triage/summarise.py),
then judge (triage/verdict.py). Reads only."""
from __future__ import annotations

import time

from ansible_collections.mataresit.emergency.plugins.module_utils.triage import verdict
from ansible_collections.mataresit.emergency.plugins.module_utils.triage.gather import Gathering


def assess(client, params, now=None):
    """The facts of a namespace, the verdict on them, and what it took."""
    start = time.monotonic()
    facts = Gathering(client, params, now=now).run()
    facts.update(verdict.decide(facts))
    facts["findings"] = verdict.findings(facts)
    facts["api_requests"] = client.requests
    facts["duration_seconds"] = round(time.monotonic() - start, 3)
    return facts


def operation(ctx):
    return dict(assess(ctx.client, ctx.params), changed=False)
