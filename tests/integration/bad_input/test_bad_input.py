"""Bad input gets one line, never a traceback, and nothing is written (issue 7).

One table: every module and the playbooks' extra vars, run as Ansible runs them against the local
control plane, the SaaS sandbox and a real SMTP server. Each case asserts the one-line message (naming
what to fix), no traceback anywhere in the output, and that nothing was written: the namespace's objects
are as they were, no incident workspace or file appeared, the sandbox and the SMTP server received nothing.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from kubernetes import client as kclient

from tests.integration.helpers import REPO
from tools.run_module import run_module_process

APP = "paperless-maverick"
KEY = "bad-input-Backup-key-3e8f1c"


class Case:
    def __init__(self, case_id, target, args, match, uses=()):
        self.id, self.target, self.args, self.match, self.uses = case_id, target, args, match, set(uses)


def k(e_, **args):
    """Module args with the cluster's connection and the shared namespace."""
    return dict({"kubeconfig": e_.kubeconfig, "namespace": e_.ns}, **args)


def kubeconfig_file(env, content):
    path = env.tmp / "kubeconfig-bad"
    path.write_text(content)
    return str(path)


def exec_kubeconfig(env, user):
    config = {"apiVersion": "v1", "kind": "Config", "current-context": "c",
              "clusters": [{"name": "k", "cluster": {"server": "https://127.0.0.1:1"}}],
              "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}], "users": [{"name": "u", "user": user}]}
    return kubeconfig_file(env, json.dumps(config))


def truncated_timeline(env):
    incident = env.tmp / "incidents" / "p0-trunc"
    incident.mkdir(parents=True)
    (incident / "incident.json").write_text(json.dumps({"incident_id": "p0-trunc", "severity": "P0",
                                                        "opened_at": "2026-11-27T10:00:00+00:00",
                                                        "response_target_minutes": 5}))
    (incident / "timeline.jsonl").write_text('{"task": "a", "status": "ok"}\n{"task": "b", "sta')
    env.expect_files = {incident / "incident.json", incident / "timeline.jsonl"}
    return str(incident)


def pd(env, **args):
    s = env.settings
    return dict({"routing_key": s["pagerduty_routing_key"], "events_url": s["pagerduty_events_url"],
                 "incident_id": "INC-bad", "summary": "down", "max_retries": 0}, **args)


def sp(env, **args):
    s = env.settings
    return dict({"api_key": s["statuspage_api_key"], "api_url": s["statuspage_api_url"], "page_id": s["statuspage_page_id"],
                 "name": "Bad input", "request_interval": 0, "max_retries": 0}, **args)


def mail(env, **args):
    return dict({"host": env.smtp.host, "port": env.smtp.port, "secure": "never", "to": ["oncall@example.com"],
                 "subject": "P0", "body": "b", "incident_dir": str(env.workspace)}, **args)


MODULES = [
    # -- names: never an empty or malformed namespace / name in a path ---------------------------------
    Case("scale-empty-name", "scale",
         lambda e: k(e, name="", replicas=1),
         r"name '' is not a valid Kubernetes name.*check 'name'"),
    Case("scale-empty-namespace", "scale",
         lambda e: k(e, namespace="", name=APP, replicas=1),
         r"namespace '' is not a valid Kubernetes name"),
    Case("scale-uppercase-namespace", "scale",
         lambda e: k(e, namespace="Prod", name=APP, replicas=1),
         r"namespace 'Prod' is not a valid"),
    Case("pod_recycle-empty-namespace", "pod_recycle",
         lambda e: k(e, namespace="", label_selector="app=x"),
         r"namespace '' is not a valid"),
    Case("triage-empty-namespace", "triage",
         lambda e: k(e, namespace=""),
         r"namespace '' is not a valid Kubernetes name.*check 'namespace'"),
    Case("triage-extra-target-empty-namespace", "triage",
         lambda e: k(e, extra_targets=[{"namespace": "", "label_selector": "app=x"}]),
         r"extra_targets\[0\]\.namespace '' is not a valid"),
    Case("forensics-empty-namespace", "forensics",
         lambda e: k(e, namespace="", incident_dir=str(e.workspace)),
         r"namespace '' is not a valid"),
    Case("secret_rotation-empty-namespace", "secret_rotation",
         lambda e: k(e, namespace="", incident_dir=str(e.workspace), backup_key=KEY, secrets=["all"]),
         r"namespace '' is not a valid"),
    Case("isolation-empty-namespace", "isolation", lambda e: k(e, namespace=""), r"namespace '' is not a valid"),
    Case("rollout-bad-name", "rollout",
         lambda e: k(e, name="Bad_Name", action="restart"),
         r"name 'Bad_Name' is not a valid Kubernetes name"),
    Case("container_patch-empty-name", "container_patch",
         lambda e: k(e, name="", container=APP, env={"A": "1"}),
         r"name '' is not a valid"),
    Case("health_probe-service-bad-namespace", "health_probe",
         lambda e: dict(kubeconfig=e.kubeconfig, targets=[{"service": {"namespace": "a/b", "name": "svc", "port": 80}}]),
         r"namespace 'a/b' is not a valid"),
    # -- counts and durations ---------------------------------------------------------------------
    Case("scale-negative-integer-replicas", "scale",
         lambda e: k(e, name=APP, replicas=-1),
         r"replicas -1 is a negative count; .*give a string with its sign"),
    Case("scale-drain-negative-seconds", "scale",
         lambda e: k(e, name=APP, state="drain_cycle", drain_seconds=-5),
         r"drain_seconds must not be negative"),
    Case("scale-drain-negative-replicas", "scale",
         lambda e: k(e, name=APP, state="drain_cycle", drain_replicas=-1),
         r"drain_replicas must not be negative"),
    Case("scale-wait-sleep-zero", "scale",
         lambda e: k(e, name=APP, replicas=5, wait_sleep=0),
         r"wait_sleep must be greater than 0"),
    Case("rollout-wait-sleep-negative", "rollout",
         lambda e: k(e, name=APP, action="restart", wait_sleep=-1),
         r"wait_sleep must be greater than 0 \(it is -1\)"),
    Case("container_patch-wait-timeout-negative", "container_patch",
         lambda e: k(e, name=APP, container=APP, env={"A": "1"}, wait_timeout=-5),
         r"wait_timeout must be at least 0"),
    Case("metrics_probe-timeout-negative", "metrics_probe",
         lambda e: dict(url="http://127.0.0.1:9/metrics", timeout=-3),
         r"timeout must be greater than 0 \(it is -3\)"),
    Case("forensics-since-negative", "forensics",
         lambda e: k(e, incident_dir=str(e.workspace), since_seconds=-1),
         r"since_seconds and max_log_bytes must be positive"),
    # -- container env and resources --------------------------------------------------------------
    Case("container_patch-limits-not-a-mapping", "container_patch",
         lambda e: k(e, name=APP, container=APP, resources={"limits": "2"}),
         r"resources\.limits: give a mapping"),
    Case("container_patch-limit-not-a-quantity", "container_patch",
         lambda e: k(e, name=APP, container=APP, resources={"limits": {"cpu": "two cores"}}),
         r"resources\.limits\.cpu: 'two cores' is not a Kubernetes quantity"),
    Case("container_patch-env-list", "container_patch",
         lambda e: k(e, name=APP, container=APP, env={"A": [1, 2]}),
         r"env\.A: give a string.*not a list"),
    # -- URLs --------------------------------------------------------------------------------------
    Case("health_probe-bad-url", "health_probe",
         lambda e: dict(targets=[{"url": "http://[::1"}]),
         r"targets\[0\]\.url 'http://\[::1' is not an http\(s\) URL"),
    Case("metrics_probe-bad-url", "metrics_probe",
         lambda e: dict(url="http://[::1"),
         r"url 'http://\[::1' is not an http\(s\) URL"),
    Case("pagerduty-bad-events-url", "pagerduty",
         lambda e: pd(e, events_url="http://[bad"),
         r"events_url 'http://\[bad' is not an http\(s\) URL",
         uses={"sandbox"}),
    Case("statuspage-bad-api-url", "statuspage",
         lambda e: sp(e, api_url="ftp://status.example/v1"),
         r"api_url 'ftp://status.example/v1' is not an http\(s\) URL",
         uses={"sandbox"}),
    Case("slack-bad-webhook-url", "slack",
         lambda e: dict(webhook_url="hooks.slack.com/services/T0/B0/SECRETPATH", text="x"),
         r"webhook_url is not an http\(s\) URL",
         uses={"sandbox"}),
    Case("slack-bad-link", "slack",
         lambda e: dict(webhook_url=e.settings["slack_webhook_url"], text="x", links=[{"url": "javascript:alert(1)"}]),
         r"links\[\]\.url 'javascript:alert\(1\)' is not an http\(s\) URL",
         uses={"sandbox"}),
    # -- SaaS answers ------------------------------------------------------------------------------
    Case("statuspage-object-where-a-list-is-expected", "statuspage",
         lambda e: e.tamper_statuspage() or sp(e),
         r"Statuspage answered 200 with dict where a list of objects was expected",
         uses={"sandbox"}),
    # -- email headers and server -------------------------------------------------------------------
    Case("email-subject-newline", "email",
         lambda e: mail(e, subject="P0\nBcc: attacker@evil.example"),
         r"subject contains a line break",
         uses={"smtp"}),
    Case("email-recipient-newline", "email",
         lambda e: mail(e, to=["oncall@example.com\nBcc: attacker@evil.example"]),
         r"to entry .* is not an email address",
         uses={"smtp"}),
    Case("email-empty-host", "email", lambda e: mail(e, host=""), r"host is empty", uses={"smtp"}),
    # -- incidents and reports ------------------------------------------------------------------------
    Case("incident-alert-started-at-garbage", "incident",
         lambda e: dict(severity="P0", reason="r", workspace_root=str(e.workspace), alert_started_at="garbage"),
         r"alert_started_at 'garbage' is not an ISO 8601 time with a timezone"),
    Case("incident-alert-started-at-no-timezone", "incident",
         lambda e: dict(severity="P0", reason="r", workspace_root=str(e.workspace), alert_started_at="2026-11-27T10:00:00"),
         r"is not an ISO 8601 time with a timezone"),
    Case("incident-id-path", "incident",
         lambda e: dict(severity="P0", reason="r", workspace_root=str(e.workspace), incident_id="../../etc"),
         r"id '../../etc' must be 3-100 letters"),
    Case("incident-reason-required", "incident",
         lambda e: dict(severity="P0", require_reason=True, environment="production", workspace_root=str(e.workspace)),
         r"The production policy requires a reason"),
    Case("incident_report-truncated-timeline", "incident_report",
         lambda e: dict(incident_dir=truncated_timeline(e)),
         r"timeline.jsonl: line 2 is not a JSON object"),
    Case("incident_report-resolved-at-garbage", "incident_report",
         lambda e: dict(incident_dir=truncated_timeline(e), resolved_at="yesterday"),
         r"resolved_at 'yesterday' is not an ISO 8601 time"),
    # -- kubeconfigs and credentials -----------------------------------------------------------------
    Case("kubeconfig-yaml-string", "triage",
         lambda e: k(e, kubeconfig=kubeconfig_file(e, "just text\n")),
         r"it is a str, not a kubeconfig mapping"),
    Case("kubeconfig-yaml-list", "triage",
         lambda e: k(e, kubeconfig=kubeconfig_file(e, "- a\n- b\n")),
         r"it is a list, not a kubeconfig mapping"),
    Case("kubeconfig-exec-env-without-value", "triage",
         lambda e: k(e, kubeconfig=exec_kubeconfig(e, {"exec": {"command": "/bin/true", "env": [{"name": "A"}]}})),
         r"each 'env' entry as \{name, value\} strings"),
    Case("kubeconfig-exec-plugin-fails", "triage",
         lambda e: k(e, kubeconfig=exec_kubeconfig(e, {"exec": {"command": "/bin/false", "args": ["--token=arg-secret-1"]}})),
         r"exec plugin 'false': it exited with status 1"),
    Case("incident_records-unknown-category", "incident_records",
         lambda e: dict(incident_dir=str(e.workspace), cluster="local", categories=["everything"]),
         r"value of categories must be one or more of"),
    Case("job_result-path-as-jid", "job_result",
         lambda e: dict(jid="../../etc/passwd", async_dir=str(e.workspace)),
         r"jid must be the ansible_job_id a task started with async registered"),
    # -- recovery, drills and the escalation clock --------------------------------------------------------
    Case("recover-plan-bad-name", "recover",
         lambda e: dict(kubeconfig=e.kubeconfig,
                        plan=[{"kind": "Deployment", "namespace": e.ns, "name": "..", "cause": "recent_bad_deploy"}]),
         r"name '\.\.' is not a valid Kubernetes name"),
    Case("snapshot-bad-namespace", "snapshot",
         lambda e: dict(kubeconfig=e.kubeconfig, action="capture", namespaces=["Bad_NS"], incident_dir=str(e.workspace)),
         r"'Bad_NS' is not a valid Kubernetes name"),
    Case("drill_fault-empty-name", "drill_fault",
         lambda e: k(e, fault="bad_image", name="Bad_Name", incident_dir=str(e.workspace)),
         r"name 'Bad_Name' is not a valid"),
    Case("recovery_check-bad-deployment-name", "recovery_check",
         lambda e: k(e, deployments=["Bad_Name"]),
         r"'Bad_Name' is not a valid Kubernetes name"),
    Case("escalation-deadline-not-a-duration", "escalation",
         lambda e: dict(incident_dir=truncated_timeline(e), state="paged", api_token="bad-input-token",
                        chain=[{"role": "On-Call Engineer", "after": 0}, {"role": "Team Lead", "after": "soon"}]),
         r"soon"),
    Case("secret_rotation-weak-backup-key", "secret_rotation",
         lambda e: k(e, incident_dir=str(e.workspace), backup_key="hunter2", secrets=["all"]),
         r"backup_key: it is too weak"),
]

PLAYBOOK_VARS = [
    Case("extra-var-namespace-not-a-name", "p0-outage.yml",
         lambda e: ["-e", "emergency_namespace=Prod_NS"],
         r"Extra var emergency_namespace: 'Prod_NS' is not a Kubernetes namespace name"),
    Case("extra-var-database-namespace-empty", "p0-database.yml",
         lambda e: ["-e", "emergency_database_namespace="],
         r"Extra var emergency_database_namespace: '' is not a Kubernetes namespace name"),
    Case("extra-var-incident-id-path", "revert-changes.yml",
         lambda e: ["-e", "incident_id=../../etc"],
         r"Extra var incident_id: '../../etc' is not an incident id"),
    Case("extra-var-negative-count", "p0-outage.yml",
         lambda e: ["-e", "p0_outage_scale_replicas=-1"],
         r"Extra var p0_outage_scale_replicas: '-1' is negative"),
    Case("extra-var-not-a-number", "p1-queue-backlog.yml",
         lambda e: ["-e", "queue_backlog_max_workers=ten"],
         r"Extra var queue_backlog_max_workers: 'ten' is not a number"),
    Case("extra-var-alert-time-garbage", "p0-outage.yml",
         lambda e: ["-e", "incident_alert_started_at=garbage"],
         r"Extra var incident_alert_started_at: 'garbage' is not an ISO 8601 time"),
    Case("extra-var-not-a-boolean", "security-restore.yml",
         lambda e: ["-e", "restore_secrets=perhaps"],
         r"Extra var restore_secrets: 'perhaps' is not true or false"),
    Case("extra-var-unknown-choice", "p0-outage.yml",
         lambda e: ["-e", "p0_outage_recovery_action=delete_all"],
         r"Extra var p0_outage_recovery_action: 'delete_all' is not one of rollback, restart, scale_up"),
    Case("extra-var-template", "p1-performance.yml",
         lambda e: ["-e", "notify_title={{ lookup('pipe','id') }}"],
         r"Extra var notify_title: it holds a template"),
    Case("extra-var-unquoted-reason", "p0-outage.yml",
         lambda e: ["-e", "reason=api 5xx"],
         r"'5xx' is not key=value; quote a value with spaces"),
]


class Env:
    """What the cases run against, and the record of everything they may not touch."""

    def __init__(self, kubeconfig, ns, tmp, sandbox=None, smtp=None):
        self.kubeconfig, self.ns, self.tmp, self.sandbox, self.smtp = kubeconfig, ns, tmp, sandbox, smtp
        self.settings = sandbox.settings() if sandbox else {}
        self.workspace = tmp / "workspace"
        self.expect_files = set()

    def tamper_statuspage(self):
        self.sandbox.allow_response_errors()
        self.sandbox.tamper_next_response("statuspage", lambda body: {"incidents": body})


@pytest.fixture(scope="module")
def shared_namespace(k8s, cluster):
    """One namespace with the reference workload for the whole table (nothing may change it)."""
    from tools import workload as workload_tool

    name = f"t-bad-{uuid.uuid4().hex[:6]}"
    k8s.core.create_namespace(kclient.V1Namespace(metadata=kclient.V1ObjectMeta(name=name, labels={"mataresit.test": "true"})))
    workload_tool.deploy(cluster["kubeconfig"], namespace=name, wait=True)
    yield name
    k8s.core.delete_namespace(name, propagation_policy="Background", grace_period_seconds=0)


def objects(k8s, ns):
    """Everything of the namespace a write would change (status, which controllers update, left out)."""
    def digest(obj):
        return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()

    apps, core, net = k8s.apps, k8s.core, k8s.networking
    return {
        "deployments": {d.metadata.name: (d.metadata.generation, d.spec.replicas, digest(d.metadata.annotations),
                                          digest(k8s.api_client.sanitize_for_serialization(d.spec)))
                        for d in apps.list_namespaced_deployment(ns).items},
        "pods": sorted(p.metadata.uid for p in core.list_namespaced_pod(ns).items if not p.metadata.deletion_timestamp),
        "secrets": {s.metadata.name: s.metadata.resource_version for s in core.list_namespaced_secret(ns).items},
        "configmaps": {c.metadata.name: c.metadata.resource_version for c in core.list_namespaced_config_map(ns).items},
        "networkpolicies": {n.metadata.name: n.metadata.resource_version
                            for n in net.list_namespaced_network_policy(ns).items},
        # no namespace appeared or went (the tests' own, created and deleted in parallel, aside)
        "namespaces": sorted(n.metadata.name for n in core.list_namespace().items
                             if (n.metadata.labels or {}).get("mataresit.test") != "true"),
    }


def files(root):
    return {p for p in Path(root).rglob("*") if p.is_file()}


def assert_one_line(msg, match, output):
    assert msg and "\n" not in msg.strip(), f"not one line: {msg!r}"
    assert re.search(match, msg), f"{match!r} not in {msg!r}"
    assert "Traceback" not in output and "Traceback" not in msg


@pytest.mark.parametrize("case", MODULES, ids=[c.id for c in MODULES])
def test_bad_module_input_is_one_line_and_writes_nothing(case, k8s, kubeconfig, shared_namespace, sandbox, smtp_server,
                                                         tmp_path):
    env = Env(kubeconfig, shared_namespace, tmp_path, sandbox, smtp_server)
    args = case.args(env)
    before_files = files(tmp_path) | env.expect_files
    before = objects(k8s, shared_namespace)
    result, stdout, stderr = run_module_process(case.target, args, timeout=120)
    assert result.get("failed"), f"{case.id} did not fail: {result}"
    assert_one_line(result["msg"], case.match, stdout + stderr)
    assert not result.get("changed")
    assert objects(k8s, shared_namespace) == before
    assert files(tmp_path) == before_files and not env.workspace.exists()
    assert sandbox.writes() == [] and smtp_server.messages == []
    assert "arg-secret-1" not in stdout + stderr and "SECRETPATH" not in stdout + stderr


@pytest.mark.parametrize("case", PLAYBOOK_VARS, ids=[c.id for c in PLAYBOOK_VARS])
def test_bad_extra_vars_are_one_line_before_anything_happens(case, k8s, cluster, shared_namespace, sandbox, tmp_path):
    env = Env(cluster["kubeconfig"], shared_namespace, tmp_path, sandbox)
    settings = tmp_path / "sandbox.json"
    settings.write_text(json.dumps(sandbox.settings()))
    before = objects(k8s, shared_namespace)
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), f"playbooks/{case.target}", "-i", "inventories/local",
         "-e", f"emergency_namespace={shared_namespace}", "-e", "incident_id=p0-bad-input", "-e", f"@{settings}",
         *case.args(env)],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
        env=dict(os.environ, MRE_INCIDENTS_DIR=str(env.workspace), MRE_KUBECONFIG=cluster["kubeconfig"],
                 ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_FORCE_COLOR="0",
                 ANSIBLE_STDOUT_CALLBACK="default"))  # its one-line failure record (the checkout's is the on-call one)
    assert proc.returncode != 0
    failures = [json.loads(line.split("=> ", 1)[1]) for line in proc.stdout.splitlines() if "FAILED! =>" in line]
    assert len(failures) == 1, proc.stdout[-3000:]
    assert_one_line(failures[0]["msg"], case.match, proc.stdout + proc.stderr)
    assert objects(k8s, shared_namespace) == before
    assert not env.workspace.exists() and sandbox.records() == []


def test_the_table_covers_every_module_and_at_least_forty_cases():
    modules = {p.stem for p in (REPO / "plugins" / "modules").glob("*.py")} - {"operator_input"}  # playbook cases
    assert modules <= {c.target for c in MODULES}, modules - {c.target for c in MODULES}
    assert len(MODULES) + len(PLAYBOOK_VARS) >= 40
