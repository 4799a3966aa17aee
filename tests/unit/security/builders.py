"""Objects for the security unit tests (served by tests/unit/fakes.py FakeKubeApi)."""
from __future__ import annotations

import base64

# A backup_key strong enough for secret_backup.check_backup_key (24+ characters).
BACKUP_KEY = "unit-Backup-key-0f3c9a7e2b1d"


def b64(text):
    return base64.b64encode(text.encode()).decode()


def secret(name, data, stype="Opaque", labels=None, annotations=None):
    return {"apiVersion": "v1", "kind": "Secret", "type": stype,
            "metadata": {"name": name, "namespace": "ns", "labels": labels or {}, "annotations": annotations or {}},
            "data": {k: b64(v) for k, v in data.items()}}


def deployment(name, pod_spec):
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": "ns", "uid": f"uid-{name}", "generation": 1},
            "spec": {"replicas": 1, "template": {"metadata": {}, "spec": pod_spec}},
            "status": {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1, "readyReplicas": 1,
                       "availableReplicas": 1}}
