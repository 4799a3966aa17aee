"""The alert chain on the local cluster, shared by the alert tests, `make demo-alerts` and the alert benchmark.

Prometheus and Alertmanager with the reference configuration (monitoring.py), the SaaS sandbox, ansible-rulebook
running extensions/eda/rulebooks/alertmanager.yml against the local cluster under the production alert policy
(reason, confirmation and an authenticated alert required), and the reference workload in paperless-maverick,
the namespace the reference prometheus.yml watches.
"""
from __future__ import annotations

import datetime
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from tools import localcluster, monitoring, workload

NAMESPACE = "paperless-maverick"
APP = "paperless-maverick"
WORKERS = "embedding-queue-workers"
BAD_IMAGE = "paperless-maverick:v2-bad"


def _request(url: str, body=None, headers=None, method=None, timeout: float = 10.0):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method or ("POST" if data is not None else "GET"),
                                     headers=dict({"Content-Type": "application/json"}, **(headers or {})))
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


class AlertChain:
    """Start with `start()`, observe with the query helpers, stop the rulebook with `stop()`."""

    def __init__(self, sandbox, incidents: Path, workdir: Path):
        self.sandbox = sandbox
        self.incidents = Path(incidents).resolve()
        self.workdir = Path(workdir).resolve()
        self.cluster = None
        self.monitoring = None
        self.client = None

    # -- lifecycle -------------------------------------------------------------------
    def start(self, verbose: bool = False, extra_vars: dict | None = None) -> "AlertChain":
        """Start the chain; `extra_vars` are more inventory variables of the clusters (an escalation chain in
        seconds for the tests)."""
        with localcluster._lock():
            self.monitoring = monitoring.up(fast=True)
            self.cluster = localcluster.read_state()
        self.client = localcluster._api(self.cluster)
        self.reset_workload()
        settings = self.sandbox.settings()
        inventory = monitoring.rulebook_inventory(self.workdir / "inventory", {
            # The SaaS sandbox stands in for PagerDuty, Statuspage and Slack.
            "pagerduty_routing_key": settings["pagerduty_routing_key"],
            "pagerduty_events_url": settings["pagerduty_events_url"],
            "statuspage_page_id": settings["statuspage_page_id"],
            "statuspage_api_key": settings["statuspage_api_key"],
            "statuspage_api_url": settings["statuspage_api_url"],
            "slack_webhook_url": settings["slack_webhook_url"],
            # The production policy for runs nobody watches.
            "emergency_environment": "production",
            "incident_require_reason": True,
            "incident_require_confirmation": True,
            "incident_require_authenticated_alert": True,
            "incident_alert_token": self.token,
            # Validation waits in seconds, not minutes: the local queue drains in seconds.
            "queue_backlog_drain_delay": 2,
            "queue_backlog_drain_retries": 90,
            **(extra_vars or {}),
        })
        self.incidents.mkdir(parents=True, exist_ok=True)
        monitoring.start_rulebook(inventory, env={"MRE_INCIDENTS_DIR": str(self.incidents),
                                                  "MRE_KUBECONFIG": self.cluster["kubeconfig"]}, verbose=verbose)
        return self

    def stop(self) -> None:
        monitoring.stop_rulebook()
        if self.client is not None:
            self.client.close()

    def reset_workload(self) -> None:
        """The reference workload as deployed, with an idle queue."""
        workload.deploy(self.cluster["kubeconfig"], NAMESPACE)
        self.set_queue(depth=0, arrival_rate=0, worker_rate=1)

    # -- faults ------------------------------------------------------------------------
    def break_app(self, image: str = BAD_IMAGE) -> float:
        """Roll out a bad image, as a bad deploy would; return when (epoch seconds)."""
        self.client.patch(f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/{APP}", {
            "metadata": {"annotations": {"kubernetes.io/change-cause": f"deploy {image}"}},
            "spec": {"template": {"spec": {"containers": [{"name": APP, "image": image}]}}},
        }, patch_type="strategic")
        return time.time()

    def set_queue(self, **model) -> dict:
        status, body = _request(f"{self.cluster['health_url']}/control/queue", dict(model, namespace=NAMESPACE))
        assert status == 200, body
        return json.loads(body)

    # -- observation -----------------------------------------------------------------
    @property
    def token(self) -> str:
        return Path(self.monitoring["webhook_token_file"]).read_text()

    def query(self, promql: str) -> list:
        url = f"{self.monitoring['prometheus_url']}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        status, body = _request(url)
        assert status == 200, body
        return json.loads(body)["data"]["result"]

    def prometheus_alerts(self, name: str, state: str | None = None) -> list:
        status, body = _request(f"{self.monitoring['prometheus_url']}/api/v1/alerts")
        return [a for a in json.loads(body)["data"]["alerts"]
                if a["labels"].get("alertname") == name and state in (None, a["state"])]

    def post_alertmanager(self, alerts: list) -> None:
        """Alerts straight into Alertmanager's API, as any client that reaches it can."""
        status, body = _request(f"{self.monitoring['alertmanager_url']}/api/v2/alerts", alerts)
        assert status == 200, body

    def post_webhook(self, body, headers=None, raw: bytes | None = None):
        """A request to the rulebook's event source, as anyone who reaches its port can send."""
        url = self.monitoring["webhook_url"]
        if raw is not None:
            request = urllib.request.Request(url, data=raw, method="POST", headers=headers or {})
            try:
                with urllib.request.urlopen(request, timeout=10) as resp:
                    return resp.status
            except urllib.error.HTTPError as exc:
                return exc.code
        return _request(url, body, headers)[0]

    def incidents_of(self, alertname: str) -> list:
        """Incident records the chain opened for an alert name, oldest first."""
        found = []
        for path in sorted(self.incidents.glob("alert-*/incident.json")):
            record = json.loads(path.read_text())
            if (record.get("alert") or {}).get("alertname") == alertname:
                found.append(record)
        return sorted(found, key=lambda r: r["opened_at"])

    def timeline(self, incident: dict) -> list:
        path = Path(incident["incident_dir"]) / "timeline.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []

    def pagerduty(self, incident_id: str) -> dict | None:
        return self.sandbox.alerts.get(f"mataresit-{incident_id}")

    def deployment(self, name: str) -> dict:
        return self.client.get(f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/{name}")

    def health(self) -> int:
        return _request(f"{self.cluster['health_url']}/health?namespace={NAMESPACE}")[0]

    def rulebook_log(self) -> str:
        path = localcluster.RUN_DIR / "logs" / "ansible-rulebook.log"
        return path.read_text(errors="replace") if path.exists() else ""


def wait_for(what: str, check, timeout: float, interval: float = 1.0):
    """Poll `check` until it returns something truthy; return it, or fail saying what never happened."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout:.0f}s")
        time.sleep(interval)


MILESTONES = (
    ("scrape_failing", "Prometheus: a pod's scrape fails (up == 0)"),
    ("alert_pending", "Prometheus: EmbeddingServiceDown pending (for: 1m)"),
    ("alert_firing", "Prometheus: EmbeddingServiceDown firing, sent to Alertmanager"),
    ("playbook_started", "ansible-rulebook: p0-outage.yml started"),
    ("rolled_back", "p0-outage.yml: bad deploy rolled back"),
    ("recovered", "recovered: /health 200 and every pod scraped (up == 1)"),
    ("alert_resolved", "Prometheus: EmbeddingServiceDown resolved"),
    ("incident_resolved", "incident resolved: PagerDuty, Statuspage, Slack, postmortem"),
)


def follow_outage(chain: AlertChain, fault: float, say=None, timeout: float = 420.0) -> dict:
    """Watch the bad-deploy outage from `fault` (epoch seconds) to its resolution; return {milestone: seconds}.

    Times come from the chain's own records where it keeps them (the incident timeline), else from when this
    poll (every 0.5 s) first saw the milestone.
    """
    seen: dict = {}
    up = f'up{{job="paperless-maverick", kubernetes_namespace="{NAMESPACE}"}}'
    deadline = time.monotonic() + timeout

    def mark(name, at=None):
        if name not in seen:
            seen[name] = round((at or time.time()) - fault, 1)
            if say:
                say(f"[+{seen[name]:6.1f}s] {dict(MILESTONES)[name]}")

    incident = None
    while "incident_resolved" not in seen:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the outage did not resolve within {timeout:.0f}s; reached: {sorted(seen)}")
        states = {a["state"] for a in chain.prometheus_alerts("EmbeddingServiceDown")}
        if chain.query(f"count({up} == 0)"):
            mark("scrape_failing")
        if states & {"pending", "firing"}:
            mark("alert_pending")
        if "firing" in states:
            mark("alert_firing")
        if incident is None:
            opened = [i for i in chain.incidents_of("EmbeddingServiceDown")
                      if _epoch(i["opened_at"]) >= int(fault)]
            incident = opened[0] if opened else None
        if incident is not None:
            timeline = chain.timeline(incident)
            if timeline:
                mark("playbook_started", _epoch(timeline[0]["started"]))
            for entry in timeline:
                if entry["action"].endswith(".rollout") and entry["status"] == "changed":
                    mark("rolled_back", _epoch(entry["time"]))
        if "rolled_back" in seen and chain.health() == 200 and not chain.query(f"count({up} == 0)") \
                and chain.query(f"min({up})"):
            mark("recovered")
        if "alert_firing" in seen and not states:
            mark("alert_resolved")
        if incident is not None and (chain.pagerduty(incident["incident_id"]) or {}).get("status") == "resolved" \
                and any(e["action"].endswith(".incident_report") and e["play"].startswith("Alert resolved")
                        for e in chain.timeline(incident)):
            mark("incident_resolved")
        time.sleep(0.5)
    seen["incident_id"] = incident["incident_id"]
    return seen


def _epoch(iso: str) -> float:
    return datetime.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
