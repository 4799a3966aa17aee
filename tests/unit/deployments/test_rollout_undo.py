"""rollout.undo: target selection by owner uid, kubectl's template copy, idempotence, dry run."""
from __future__ import annotations

import httpx
import pytest

from ansible_collections.mataresit.emergency.plugins.module_utils import workspace
from ansible_collections.mataresit.emergency.plugins.module_utils.errors import ConfigError, ConflictError
from ansible_collections.mataresit.emergency.plugins.module_utils.services import rollout
from ansible_collections.mataresit.emergency.plugins.module_utils.module_runner import execute
from tests.unit.deployments.builders import deployment, replicaset
from tests.unit.fakes import fake_context

DEP = "/apis/apps/v1/namespaces/ns/deployments/app"
RS = "/apis/apps/v1/namespaces/ns/replicasets/"


@pytest.fixture
def history(api):
    """Revision 3 (current, bad) of app, its revisions 1 and 2, and an impostor with matching labels."""
    dep = deployment(image="app:v3-bad")
    dep["metadata"]["annotations"] = {"deployment.kubernetes.io/revision": "3", "team": "sre"}
    dep = api.add(DEP, dep)
    api.add(RS + "app-11111", replicaset("app-11111", 1, "app:v1"))
    api.add(RS + "app-22222", replicaset("app-22222", 2, "app:v2"))
    api.add(RS + "app-33333", replicaset("app-33333", 3, "app:v3-bad", replicas=3))
    # same labels, a higher revision than 2, another owner: must never be chosen
    api.add(RS + "app-77777", replicaset("app-77777", 2, "impostor:v9", owner_uid="someone-else"))
    api.add(RS + "app-88888", replicaset("app-88888", 2, "orphan:v8", owner_uid=None))
    return dep


def template_patch(api):
    patches = [r[3] for r in api.writes() if r[0] == "PATCH"]
    assert len(patches) == 1
    return patches[0]


def test_undo_previous_picks_owned_revision_by_uid(api, client, history):
    result = rollout.undo(client, "ns", "app", reason="P0 outage recovery")
    assert result["changed"] and result["revision"] == 2 and result["from_revision"] == 3
    assert result["images"] == {"app": "app:v2"}
    ops = template_patch(api)
    assert ops[0] == {"op": "test", "path": "/metadata/resourceVersion", "value": history["metadata"]["resourceVersion"]}
    template = next(op["value"] for op in ops if op["path"] == "/spec/template")
    assert template["spec"]["containers"][0]["image"] == "app:v2"
    assert "pod-template-hash" not in template["metadata"]["labels"]  # like kubectl
    dep = api.objects[DEP]
    assert dep["metadata"]["annotations"]["team"] == "sre"  # Deployment annotations kept
    assert dep["metadata"]["annotations"]["kubernetes.io/change-cause"] == "P0 outage recovery"
    assert dep["metadata"]["annotations"][rollout.ROLLED_BACK_FROM] == "3"


def test_undo_to_named_revision(api, client, history):
    result = rollout.undo(client, "ns", "app", to_revision=1)
    assert result["revision"] == 1 and api.objects[DEP]["spec"]["template"]["spec"]["containers"][0]["image"] == "app:v1"
    assert rollout.ROLLED_BACK_FROM not in api.objects[DEP]["metadata"]["annotations"]


def test_undo_to_unknown_revision_lists_available(api, client, history):
    with pytest.raises(ConfigError, match=r"revision 7 .*available: 1, 2, 3"):
        rollout.undo(client, "ns", "app", to_revision=7)
    assert not api.writes()


def test_undo_is_idempotent(api, client, history):
    assert rollout.undo(client, "ns", "app")["changed"]
    # the controller would now give the reused ReplicaSet revision 4
    api.objects[RS + "app-22222"]["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = "4"
    api.objects[DEP]["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = "4"
    writes = len(api.writes())
    again = rollout.undo(client, "ns", "app")
    assert again["changed"] is False and again["revision"] == 4 and again["images"] == {"app": "app:v2"}
    assert "revision 3 was already undone" in again["msg"]
    api.objects[RS + "app-22222"]["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"] = "2"
    again = rollout.undo(client, "ns", "app", to_revision=4)
    assert again["changed"] is False
    again = rollout.undo(client, "ns", "app", to_revision=2)  # its former number, as the controller recorded it
    assert again["changed"] is False and "already matches revision 2" in again["msg"]
    assert len(api.writes()) == writes


def test_undo_dry_run_persists_nothing(api, client, history, tmp_path):
    result = rollout.undo(client, "ns", "app", dry_run=True, incident_dir=str(tmp_path))
    assert result["changed"] and result["after"]["spec"]["template"]["spec"]["containers"][0]["image"] == "app:v2"
    assert api.objects[DEP]["spec"]["template"]["spec"]["containers"][0]["image"] == "app:v3-bad"
    assert template_patch(api) and api.writes()[0][2]["dryRun"] == "All"
    assert not list(tmp_path.iterdir()) and result["backup_path"] is None


def test_undo_records_backup_before_the_change(api, client, history, tmp_path):
    result = rollout.undo(client, "ns", "app", incident_dir=str(tmp_path))
    saved = workspace.latest(str(tmp_path), "rollout", ["ns", "deployment", "app", "undo"])
    assert saved["object"]["spec"]["template"]["spec"]["containers"][0]["image"] == "app:v3-bad"
    assert result["backup_path"].startswith(str(tmp_path))


def test_undo_that_lost_the_race_takes_its_record_back(api, client, history, tmp_path):
    """Another write between the read and the guarded undo: nothing was changed, so no record says it was."""
    def someone_else_writes(method, path):
        api.objects[path]["metadata"]["resourceVersion"] = "999"
    api.before_write = someone_else_writes
    with pytest.raises(ConflictError):
        rollout.undo(client, "ns", "app", incident_dir=str(tmp_path))
    assert api.objects[DEP]["spec"]["template"]["spec"]["containers"][0]["image"] == "app:v3-bad"
    assert workspace.records(str(tmp_path), workspace.ROLLOUT) == []
    api.before_write = None
    result = rollout.undo(client, "ns", "app", incident_dir=str(tmp_path))
    assert [str(path) for path in (tmp_path / workspace.ROLLOUT).iterdir()] == [result["backup_path"]]
    assert workspace.latest(str(tmp_path), workspace.ROLLOUT, ["ns", "deployment", "app", "undo"])[
        "object"]["spec"]["template"]["spec"]["containers"][0]["image"] == "app:v3-bad"


def test_the_rollout_module_undoes_again_after_a_status_update(api, history, tmp_path):
    """The deployment controller's status update lands between the module's read and its guarded undo: nothing was
    written, so the undo is chosen again from a fresh read and made once, with one record."""
    updates = []

    def controller_updates_status(method, path):
        if method == "PATCH" and not updates:
            updates.append(path)
            api.objects[path]["metadata"]["resourceVersion"] = "999"
    api.before_write = controller_updates_status
    ctx = fake_context("rollout", transport=httpx.MockTransport(api.handler), action="undo", name="app", namespace="ns",
                       incident_dir=str(tmp_path), wait=False)
    result = execute(ctx, rollout.operation)
    assert result["changed"] and result["revision"] == 2
    assert api.objects[DEP]["spec"]["template"]["spec"]["containers"][0]["image"] == "app:v2"
    assert len([w for w in api.writes() if w[0] == "PATCH"]) == 2
    assert [str(path) for path in (tmp_path / workspace.ROLLOUT).iterdir()] == [result["backup_path"]]


def test_undo_without_history(api, client):
    api.add(DEP, deployment())
    api.add(RS + "app-22222", replicaset("app-22222", 2, "app:v1"))
    with pytest.raises(ConfigError, match="no revision before 2"):
        rollout.undo(client, "ns", "app")


def test_undo_paused_deployment_refused(api, client, history):
    api.objects[DEP]["spec"]["paused"] = True
    with pytest.raises(ConfigError, match="paused"):
        rollout.undo(client, "ns", "app")
