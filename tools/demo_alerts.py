#!/usr/bin/env python3
"""`make demo-alerts`: the same outage as `make demo`, with no one at the keyboard.

1. start the local control plane, Prometheus and Alertmanager (the reference prometheus.yml and alert rules,
   2 s scrape and evaluation intervals), the SaaS sandbox and ansible-rulebook with the collection's rulebook
   (extensions/eda/rulebooks/alertmanager.yml, production alert policy);
2. deploy the reference workload into paperless-maverick (the namespace the reference configuration watches);
3. break it with a bad image, then only watch: the pods' scrapes fail, EmbeddingServiceDown fires after its
   `for: 1m`, Alertmanager calls the rulebook's event source with its bearer token, the rulebook starts
   p0-outage.yml, which rolls back; the alert resolves and the rulebook closes the incident;
4. show what PagerDuty / Statuspage / Slack received and the postmortem.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

from tools import alert_chain
from tools.demo import banner
from tools.sandbox import Sandbox

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    banner("Starting the local cluster, Prometheus, Alertmanager, the SaaS sandbox and ansible-rulebook")
    sandbox = Sandbox().start()
    chain = alert_chain.AlertChain(sandbox, REPO / "run" / "incidents", REPO / "run" / "demo-alerts")
    chain.start(verbose=True)
    state = chain.monitoring
    print(f"  Prometheus   {state['prometheus_url']}  (reference rules, 2 s intervals)")
    print(f"  Alertmanager {state['alertmanager_url']}  -> {state['webhook_url']} (bearer token)")
    print(f"  rulebook log {REPO / 'run' / 'cluster' / 'logs' / 'ansible-rulebook.log'}")
    try:
        banner(f"Breaking it: rolling out {alert_chain.BAD_IMAGE} into {alert_chain.NAMESPACE}; from here on nobody acts")
        fault = chain.break_app()
        figures = alert_chain.follow_outage(chain, fault, say=lambda line: print(" ", line, flush=True))

        banner("What the notification services received")
        for record in sandbox.records():
            path = "/slack/services/********" if record["service"] == "slack" else record["path"]
            valid = "spec-valid" if not record["request_validation"]["errors"] else "REJECTED by the spec"
            print(f"    {record['service']:16} {record['method']:5} {path:50} -> {record['status']} ({valid})")
        report = chain.incidents / figures["incident_id"] / "postmortem.md"
        banner(f"Incident report: {report}")
        print(report.read_text() if report.exists() else "  (no report written)")
        print(f"fault -> alert firing {figures['alert_firing']}s, -> playbook {figures['playbook_started']}s, "
              f"-> recovered {figures['recovered']}s, -> incident resolved {figures['incident_resolved']}s "
              "(the runbook's P0 target: act within 300 s of the alert)")
    finally:
        chain.stop()
        sandbox.stop()
        time.sleep(0.2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
