"""The triage module: gather (triage/gather.py, summarised by triage/summarise.py),
then judge (triage/verdict.py). Reads only."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.mataresit.emergency.plugins.module_utils.k8s import resources
from ansible_collections.mataresit.emergency.plugins.module_utils.services import health_probe
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


def check_names(params):
    """Every namespace triage will read is a valid name (before any request: an unreadable target is evidence,
    a malformed one is an option to fix)."""
    resources.namespace_segment(params["namespace"])
    for index, target in enumerate(params.get("extra_targets") or []):
        resources.namespace_segment(target.get("namespace"), f"extra_targets[{index}].namespace")


def operation(ctx):
    check_names(ctx.params)
    targets = ctx.params.get("health_targets")
    if not targets:
        return dict(assess(ctx.client, ctx.params), changed=False)
    # The endpoints probed while the namespace is read (health_probe's service, a client of its own).
    with ThreadPoolExecutor(1) as pool:
        probing = pool.submit(ctx.run_part, health_probe.operation,
                              targets=targets, samples=ctx.params["health_samples"], max_latency_ms=None,
                              **health_probe.DEFAULTS)
        result = assess(ctx.client, ctx.params)
        result["health"] = probing.result()
    return dict(result, changed=False)
