"""rollout against the local control plane: restart, a stalled bad image undone, undo to a revision,
status, history, check mode and StatefulSets."""
from __future__ import annotations

import json
import os
import stat

from tests.integration.deployments.helpers import (
    APP, assert_secrets_absent, is_ready, live_pods, module_args, owned_replicasets, poll, rollout_complete,
)

GOOD = "paperless-maverick:latest"
BAD = "paperless-maverick:v2-bad"


def set_image(k8s, ns, image, cause, deadline=None):
    body = {"metadata": {"annotations": {"kubernetes.io/change-cause": cause}},
            "spec": {"template": {"spec": {"containers": [{"name": APP, "image": image}]}}}}
    if deadline:
        body["spec"]["progressDeadlineSeconds"] = deadline
    k8s.apps.patch_namespaced_deployment(APP, ns, body)


def app_images(k8s, ns):
    return sorted({p.spec.containers[0].image for p in live_pods(k8s, ns, f"app={APP}")})


def test_restart_creates_a_new_replicaset_and_completes(app, k8s, run_module, tmp_path):
    ns = app["namespace"]
    before = k8s.apps.read_namespaced_deployment(APP, ns)
    old_pods = {p.metadata.uid for p in live_pods(k8s, ns, f"app={APP}")}

    checked = run_module("rollout", module_args(app, action="restart", reason="check"), check_mode=True, diff=True)
    assert checked["changed"] is True
    assert "kubectl.kubernetes.io/restartedAt" in checked["diff"]["after"]["metadata"]["annotations"]
    assert k8s.apps.read_namespaced_deployment(APP, ns).metadata.resource_version == before.metadata.resource_version
    assert len(owned_replicasets(k8s, ns, APP)) == 1

    incident = str(tmp_path / "INC-1")
    result = run_module("rollout", module_args(app, action="restart", reason="P0 outage: restart",
                                               incident_dir=incident))
    assert result["changed"] is True and result["state"]["complete"] is True
    dep = k8s.apps.read_namespaced_deployment(APP, ns)
    assert dep.metadata.annotations["kubernetes.io/change-cause"] == "P0 outage: restart"
    assert "kubectl.kubernetes.io/restartedAt" in dep.spec.template.metadata.annotations
    replicasets = owned_replicasets(k8s, ns, APP)
    assert len(replicasets) == 2
    newest = max(replicasets, key=lambda rs: int(rs.metadata.annotations["deployment.kubernetes.io/revision"]))
    assert newest.status.ready_replicas == 3
    assert newest.metadata.annotations["kubernetes.io/change-cause"] == "P0 outage: restart"
    assert rollout_complete(k8s, ns, APP)
    pods = live_pods(k8s, ns, f"app={APP}")
    assert len(pods) == 3 and all(is_ready(p) for p in pods) and not old_pods & {p.metadata.uid for p in pods}
    # the backup holds the Deployment as it was, 0600
    assert os.stat(result["backup_path"]).st_mode & 0o777 == stat.S_IRUSR | stat.S_IWUSR
    with open(result["backup_path"], encoding="utf-8") as handle:
        saved = json.load(handle)
    assert saved["object"]["metadata"]["resourceVersion"] == before.metadata.resource_version
    assert result["before"]["metadata"]["resourceVersion"] == before.metadata.resource_version
    assert_secrets_absent(app, json.dumps(result))


def test_bad_image_stalls_and_undo_returns_to_the_good_image(app, k8s, run_module, tmp_path):
    ns = app["namespace"]
    set_image(k8s, ns, BAD, "deploy v2", deadline=8)
    stalled = run_module("rollout", module_args(app, action="status", wait_timeout=120), expect_failure=True)
    assert stalled["failed"] and "ProgressDeadlineExceeded" in stalled["msg"]
    assert "CrashLoopBackOff" in stalled["msg"] and BAD in stalled["msg"] and "\n" not in stalled["msg"]
    assert BAD in app_images(k8s, ns)

    before = k8s.apps.read_namespaced_deployment(APP, ns)
    checked = run_module("rollout", module_args(app, action="undo", reason="P0"), check_mode=True, diff=True)
    assert checked["changed"] and checked["revision"] == 1 and checked["images"] == {APP: GOOD}
    assert checked["diff"]["before"]["spec"]["containers"][0]["image"] == BAD
    assert checked["diff"]["after"]["spec"]["containers"][0]["image"] == GOOD
    after_check = k8s.apps.read_namespaced_deployment(APP, ns)
    assert after_check.metadata.resource_version == before.metadata.resource_version
    assert after_check.spec.template.spec.containers[0].image == BAD

    result = run_module("rollout", module_args(app, action="undo", reason="P0 outage recovery",
                                               incident_dir=str(tmp_path)))
    assert result["changed"] and result["from_revision"] == 2 and result["revision"] == 1
    assert result["state"]["complete"] and result["before"]["spec"]["template"]["spec"]["containers"][0]["image"] == BAD
    dep = rollout_complete(k8s, ns, APP)
    assert dep, "the undo returned before the rollout was complete"
    assert dep.spec.template.spec.containers[0].image == GOOD
    assert "pod-template-hash" not in dep.spec.template.metadata.labels
    assert dep.metadata.annotations["kubernetes.io/change-cause"] == "P0 outage recovery"
    assert app_images(k8s, ns) == [GOOD]
    assert all(is_ready(p) for p in live_pods(k8s, ns, f"app={APP}"))

    again = run_module("rollout", module_args(app, action="undo", reason="P0 outage recovery"))
    assert again["changed"] is False and "already undone" in again["msg"]
    assert k8s.apps.read_namespaced_deployment(APP, ns).metadata.resource_version == dep.metadata.resource_version
    assert app_images(k8s, ns) == [GOOD]


def test_undo_to_a_named_revision(app, k8s, run_module):
    ns = app["namespace"]
    for image, cause in (("paperless-maverick:v2", "deploy v2"), ("paperless-maverick:v3", "deploy v3")):
        set_image(k8s, ns, image, cause)
        poll(lambda: rollout_complete(k8s, ns, APP) and app_images(k8s, ns) == [image], what=f"rollout of {image}")
    history = run_module("rollout", module_args(app, action="history"))
    assert [h["revision"] for h in history["history"]] == [3, 2, 1]
    assert [h["change_cause"] for h in history["history"][:2]] == ["deploy v3", "deploy v2"]
    assert history["history"][0]["images"] == {APP: "paperless-maverick:v3"} and history["history"][0]["ready_replicas"] == 3

    result = run_module("rollout", module_args(app, action="undo", to_revision=1))
    assert result["changed"] and result["revision"] == 1 and result["from_revision"] == 3
    assert app_images(k8s, ns) == [GOOD] and rollout_complete(k8s, ns, APP)
    again = run_module("rollout", module_args(app, action="undo", to_revision=4))  # revision 1 is now 4
    assert again["changed"] is False
    rerun = run_module("rollout", module_args(app, action="undo", to_revision=1))  # the same task run again
    assert rerun["changed"] is False and app_images(k8s, ns) == [GOOD]
    missing = run_module("rollout", module_args(app, action="undo", to_revision=42), expect_failure=True)
    assert "revision 42" in missing["msg"] and "available: 2, 3, 4" in missing["msg"]


def test_undo_right_after_a_deploy_goes_back_to_the_deployed_revision(app, k8s, run_module):
    """No wait between the deploy and the undo: "previous" is still the revision before the bad one."""
    ns = app["namespace"]
    set_image(k8s, ns, BAD, "deploy v2")
    result = run_module("rollout", module_args(app, action="undo"))
    assert result["changed"] and result["revision"] == 1 and result["images"] == {APP: GOOD}
    assert app_images(k8s, ns) == [GOOD] and rollout_complete(k8s, ns, APP)


def test_status_of_a_complete_rollout(app, run_module):
    result = run_module("rollout", module_args(app, action="status"))
    assert result["changed"] is False and result["state"]["complete"] and result["revision"] == 1
    assert result["images"] == {APP: GOOD}


def test_statefulset_restart_and_unsupported_undo(namespace, kubeconfig, k8s, run_module):
    from kubernetes import client

    labels = {"app": "cache"}
    k8s.apps.create_namespaced_stateful_set(namespace, client.V1StatefulSet(
        metadata=client.V1ObjectMeta(name="cache", labels=labels),
        spec=client.V1StatefulSetSpec(
            replicas=2, service_name="cache", selector=client.V1LabelSelector(match_labels=labels),
            template=client.V1PodTemplateSpec(metadata=client.V1ObjectMeta(labels=labels), spec=client.V1PodSpec(
                containers=[client.V1Container(name="cache", image="redis:7")])))))
    args = {"kubeconfig": kubeconfig, "namespace": namespace, "name": "cache", "kind": "StatefulSet"}
    run_module("rollout", dict(args, action="status", wait_timeout=120))
    first = k8s.apps.read_namespaced_stateful_set("cache", namespace).status.update_revision
    result = run_module("rollout", dict(args, action="restart", wait_timeout=120))
    assert result["changed"] and result["state"]["complete"]
    sts = k8s.apps.read_namespaced_stateful_set("cache", namespace)
    assert sts.status.update_revision != first and sts.status.current_revision == sts.status.update_revision
    assert sts.status.ready_replicas == 2
    refused = run_module("rollout", dict(args, action="undo"), expect_failure=True)
    assert "supports kind Deployment only" in refused["msg"]
    assert k8s.apps.read_namespaced_stateful_set("cache", namespace).metadata.resource_version == \
        sts.metadata.resource_version
