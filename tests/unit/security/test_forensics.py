"""Forensics: the secret-metadata scrubber, redaction, and a bundle built against a fake API."""
from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import tarfile

from ansible_collections.mataresit.emergency.plugins.module_utils.redact import MASK
from ansible_collections.mataresit.emergency.plugins.module_utils.services import forensics
from tests.unit.security.builders import b64, secret

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
PARAMS = dict(namespace="ns", dest=None, incident_dir=None, since_seconds=3600, max_log_bytes=4096,
              include_logs=True, include_previous_logs=True)


def test_scrubber_keeps_metadata_and_drops_every_value():
    obj = secret("ai-secrets", {"openai-api-key": "sk-live-123456"}, labels={"app": "pm"},
                 annotations={LAST_APPLIED: '{"data":{"openai-api-key":"c2stbGl2ZS0xMjM0NTY="}}', "team": "ai"})
    obj["stringData"] = {"extra": "plain-secret-value"}
    obj["metadata"]["managedFields"] = [{"manager": "kubectl"}]
    scrubbed = forensics.scrub_secret(obj)
    assert scrubbed["keys"] == ["extra", "openai-api-key"]
    assert scrubbed["type"] == "Opaque" and scrubbed["metadata"]["labels"] == {"app": "pm"}
    assert scrubbed["metadata"]["annotations"] == {"team": "ai"}
    assert "data" not in scrubbed and "stringData" not in scrubbed
    text = json.dumps(scrubbed)
    for value in ("sk-live-123456", b64("sk-live-123456"), "plain-secret-value", "managedFields"):
        assert value not in text


def test_redactor_replaces_values_in_any_text():
    redactor = forensics.redactor_for([secret("s", {"k": "hunter2-long", "pem": "-----BEGIN KEY-----\nAAAAbbbbCCCC\n"})])
    text = redactor.text("seen hunter2-long and AAAAbbbbCCCC and short")
    assert text == f"seen {MASK} and {MASK} and short" and redactor.count == 2


def test_events_sorted_by_time():
    events = [{"metadata": {"name": "b"}, "lastTimestamp": "2026-01-01T00:00:02Z"},
              {"metadata": {"name": "a", "creationTimestamp": "2026-01-01T00:00:01Z"}},
              {"metadata": {"name": "c"}, "eventTime": "2026-01-01T00:00:00.5Z"}]
    assert [e["metadata"]["name"] for e in forensics.sort_events(events)] == ["c", "a", "b"]


def _pod(name, restarts):
    return {"metadata": {"name": name}, "spec": {"containers": [{"name": "app"}], "initContainers": [{"name": "init"}]},
            "status": {"containerStatuses": [{"name": "app", "restartCount": restarts}]}}


def test_log_targets_include_previous_only_after_restarts():
    targets = forensics.log_targets([_pod("p1", 0), _pod("p2", 3)])
    assert targets == [("p1", "init", False), ("p1", "app", False), ("p2", "init", False), ("p2", "app", False),
                       ("p2", "app", True)]


def _seed(api):
    api.add("secrets", secret("ai-secrets", {"openai-api-key": "sk-live-abcdef123"},
                              annotations={LAST_APPLIED: '{"data":{"openai-api-key":"c2stbGl2ZS1hYmNkZWYxMjM="}}'}))
    api.add("pods", _pod("p2", 2))
    api.add("events", {"metadata": {"name": "e1"}, "lastTimestamp": "2026-01-01T00:00:02Z", "reason": "BackOff"})
    api.add("deployments", {"metadata": {"name": "app", "uid": "u1"}, "spec": {}})
    api.add("replicasets", {"metadata": {"name": "app-1", "uid": "r1", "ownerReferences": [{"uid": "u1", "kind": "Deployment"}],
                                         "annotations": {"deployment.kubernetes.io/revision": "1"}},
                            "spec": {"template": {"spec": {"containers": [{"name": "app", "image": "app:v1"}]}}}})
    api.set_log("ns", "p2", "INFO start\nDEBUG key=sk-live-abcdef123\n", container="app")
    api.set_log("ns", "p2", "ERROR crashed\n", container="app", previous=True)
    api.set_log("ns", "p2", "init done\n", container="init")


def test_bundle_is_private_verified_and_free_of_secret_values(api, context, tmp_path):
    _seed(api)
    result = forensics.operation(context("forensics", **dict(PARAMS, dest=str(tmp_path))))
    path = result["path"]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    data = open(path, "rb").read()
    assert hashlib.sha256(data).hexdigest() == result["sha256"]
    assert open(path + ".sha256").read() == f"{result['sha256']}  {os.path.basename(path)}\n"
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = {m.name.split("/", 1)[1]: tar.extractfile(m).read() for m in tar.getmembers()}
    manifest = json.loads(members.pop("manifest.json"))
    assert {f["path"]: f["sha256"] for f in manifest["files"]} == {
        name: hashlib.sha256(blob).hexdigest() for name, blob in members.items()}
    assert {"events.yaml", "secrets-metadata.yaml", "rollout-history.yaml", "objects/pods.yaml",
            "logs/p2/app.log", "logs/p2/app.previous.log", "logs/p2/init.log"} <= set(members)
    everything = b"".join(members.values())
    assert b"sk-live-abcdef123" not in everything and b64("sk-live-abcdef123").encode() not in everything
    assert members["logs/p2/app.log"] == f"INFO start\nDEBUG key={MASK}\n".encode() and result["redactions"] == 1
    assert b"openai-api-key" in members["secrets-metadata.yaml"]
    assert b"app:v1" in members["rollout-history.yaml"]
    assert result["file_count"] == len(members) + 1
    assert all(limit == "500" for limit in api.page_size_seen)


def test_check_mode_writes_nothing_and_reads_no_logs(api, context, tmp_path):
    _seed(api)
    result = forensics.operation(context("forensics", check_mode=True, **dict(PARAMS, incident_dir=str(tmp_path))))
    assert result["path"].startswith(str(tmp_path / "evidence"))
    assert "logs/p2/app.previous.log" in result["files"] and result["sha256"] is None
    assert not os.listdir(tmp_path)
    assert not any(path.endswith("/log") for method, path, params, _body in api.requests)


def test_unreadable_logs_are_noted_not_fatal(api, context, tmp_path):
    _seed(api)
    api.remove_log("ns", "p2", container="init")
    result = forensics.operation(context("forensics", **dict(PARAMS, dest=str(tmp_path))))
    assert [(e["pod"], e["container"]) for e in result["log_errors"]] == [("p2", "init")]
    assert "logs/p2/init.log.error" in result["files"]
