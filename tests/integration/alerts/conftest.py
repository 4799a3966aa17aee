"""The real alert chain for these tests: Prometheus and Alertmanager (reference configuration), ansible-rulebook
with the collection's rulebook and event source, the local cluster and the SaaS sandbox (tools/alert_chain.py).

The chain watches the namespace paperless-maverick, one per cluster: the tests of this directory run on one
xdist worker (`pytestmark` group `alert-chain`) and hold a lock on the cluster's run directory while it is up.
"""
from __future__ import annotations

import fcntl

import pytest

from tools import localcluster
from tools.alert_chain import AlertChain
from tools.sandbox import Sandbox


@pytest.fixture(scope="module")
def chain(cluster, tmp_path_factory):
    if not cluster.get("local"):
        pytest.skip("the alert chain runs on the local cluster (its health server stands in for the app)")
    with open(localcluster.RUN_DIR / ".alert-chain.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        box = Sandbox().start()
        work = tmp_path_factory.mktemp("alert-chain")
        settings = box.settings()
        # The escalation clock with deadlines in seconds: the team lead after 60 s, later than any recovery here.
        escalation = {
            "emergency_escalation_chain": [
                {"role": "On-Call Engineer", "after": 0},
                {"role": "Team Lead", "after": "60s", "pagerduty_escalation_level": 2},
                {"role": "Engineering Manager", "after": "120s", "pagerduty_escalation_level": 3}],
            "escalation_poll_interval": 1,
            "emergency_pagerduty_api_token": settings["pagerduty_api_token"],
            "emergency_pagerduty_api_url": settings["pagerduty_api_url"],
            "emergency_pagerduty_from": settings["pagerduty_from"],
        }
        # -v: the source logs what it forwards
        chain = AlertChain(box, work / "incidents", work).start(verbose=True, extra_vars=escalation)
        try:
            yield chain
        finally:
            chain.stop()
            box.stop()
