"""Riding out an API server restart (the one retry policy, the client's guarded writes), watches as the
source of a wait, and the fail-fast rule for new pods that cannot start."""
from __future__ import annotations

import os

import httpx
import pytest

from ansible_collections.mataresit.emergency.plugins.module_utils import http, workloads, workspace
from ansible_collections.mataresit.emergency.plugins.module_utils.errors import (
    ConflictError, UnreachableError, WaitFailed,
)
from ansible_collections.mataresit.emergency.plugins.module_utils.k8s import objects, waiter
from ansible_collections.mataresit.emergency.plugins.module_utils.k8s.client import (
    RETRY, K8sClient, applied, replan_on_conflict,
)
from ansible_collections.mataresit.emergency.plugins.module_utils.k8s.connection import Connection
from tests.unit.deployments.builders import deployment, replicaset

OUTAGE = http.RetryPolicy(retries=2, backoff_base=0.5, backoff_cap=4.0, outage_wait=60.0,
                          safe_methods=frozenset({"GET"}))
REQUEST = httpx.Request("GET", "https://k8s.test/")


def no_jitter(low, high):  # pylint: disable=unused-argument
    return 1.0


def refused():
    return httpx.ConnectError("[Errno 111] Connection refused", request=REQUEST)


def test_an_outage_is_waited_out_past_the_retries_until_outage_wait():
    # past the 2 quick retries, a refused connection is retried while less than 60 s went by, never past the end
    assert http.retry_delay(3, OUTAGE, "PATCH", error=refused(), elapsed=10, rand=no_jitter) == 2.0
    assert http.retry_delay(9, OUTAGE, "PATCH", error=refused(), elapsed=59.5, rand=no_jitter) == 0.5
    assert http.retry_delay(9, OUTAGE, "GET", error=refused(), elapsed=60.0) is None
    # without outage_wait the retries are all there is
    assert http.retry_delay(3, RETRY, "GET", error=refused(), elapsed=1) is None


def test_only_requests_safe_to_repeat_wait_out_a_5xx_or_a_dropped_connection():
    unavailable = httpx.Response(503, request=REQUEST)
    dropped = httpx.RemoteProtocolError("Server disconnected without sending a response", request=REQUEST)
    assert http.retry_delay(5, OUTAGE, "GET", response=unavailable, elapsed=20) is not None
    assert http.retry_delay(5, OUTAGE, "PATCH", response=unavailable, elapsed=20) is None
    assert http.retry_delay(5, OUTAGE, "PATCH", retry_safe=True, response=unavailable, elapsed=20) is not None
    assert http.retry_delay(5, OUTAGE, "POST", error=dropped, elapsed=20) is None
    assert http.retry_delay(5, OUTAGE, "PATCH", retry_safe=True, error=dropped, elapsed=20) is not None
    # a 500 is an answer, not an outage; a name that does not resolve is a mistake
    assert http.retry_delay(5, OUTAGE, "GET", response=httpx.Response(500, request=REQUEST), elapsed=20) is None
    import socket
    unknown = httpx.ConnectError("no such host", request=REQUEST)
    unknown.__cause__ = socket.gaierror(-2, "Name or service not known")
    assert http.retry_delay(5, OUTAGE, "GET", error=unknown, elapsed=1) is None


def tls_error(text):
    """A failed TLS handshake as httpx raises it: the ssl error is the cause."""
    import ssl
    error = httpx.ConnectError(text, request=REQUEST)
    error.__cause__ = ssl.SSLError(1, text)
    return error


def test_a_tls_handshake_the_server_cut_short_is_retried_and_a_certificate_failure_is_not():
    # Seen in CI: the API server answered one handshake with a decode_error alert; the request was never sent.
    cut_short = ("[SSL: TLSV1_ALERT_DECODE_ERROR] tlsv1 alert decode error (_ssl.c:1006)",
                 "[SSL: UNEXPECTED_EOF_WHILE_READING] EOF occurred in violation of protocol (_ssl.c:1006)")
    for text in cut_short:
        assert http.classify(tls_error(text))[:2] == ("tls", True)
        # never sent, so even a write may go again; a TLS failure is no outage to wait out past the retries
        assert http.retry_delay(1, OUTAGE, "PATCH", error=tls_error(text)) is not None
        assert http.retry_delay(3, OUTAGE, "GET", error=tls_error(text), elapsed=1) is None
    for text in ("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: unable to get local issuer certificate",
                 "[SSL: SSLV3_ALERT_HANDSHAKE_FAILURE] sslv3 alert handshake failure",
                 "[SSL: WRONG_VERSION_NUMBER] wrong version number",
                 "[SSL: TLSV1_ALERT_UNKNOWN_CA] tlsv1 alert unknown ca"):
        assert http.classify(tls_error(text))[:2] == ("tls", False)
        assert http.retry_delay(1, OUTAGE, "GET", error=tls_error(text)) is None


def test_the_client_connects_again_after_a_handshake_cut_short(api):
    api.add("deployments", deployment())
    failures = iter([tls_error("[SSL: TLSV1_ALERT_DECODE_ERROR] tlsv1 alert decode error (_ssl.c:1006)")])

    def handler(request):
        error = next(failures, None)
        if error is not None:
            raise error
        return api.handler(request)

    client = K8sClient(Connection(server="https://k8s.test", verify=False), transport=httpx.MockTransport(handler),
                       sleep=lambda seconds: None)
    assert client.get("/apis/apps/v1/namespaces/ns/deployments/app")["metadata"]["name"] == "app"
    assert client.requests == 2


class Outage:
    """A transport whose server refuses connections for the first `down` seconds of a fake clock."""

    def __init__(self, api, down):
        self.api, self.down, self.now, self.attempts = api, down, 0.0, 0

    def handler(self, request):
        self.attempts += 1
        if self.now < self.down:
            raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
        return self.api.handler(request)

    def sleep(self, seconds):
        self.now += seconds


def outage_client(api, down, outage_wait=60.0):
    outage = Outage(api, down)
    policy = http.RetryPolicy(**dict(vars(RETRY), outage_wait=outage_wait))
    client = K8sClient(Connection(server="https://k8s.test", verify=False), transport=httpx.MockTransport(outage.handler),
                       policy=policy, sleep=outage.sleep, clock=lambda: outage.now)
    return client, outage


def test_the_client_rides_out_a_restart_and_a_guarded_write_goes_through_once(api):
    api.add("deployments", deployment())
    client, outage = outage_client(api, down=40)
    ops = [{"op": "test", "path": "/metadata/resourceVersion", "value": api.get("deployments", "app")["metadata"]["resourceVersion"]},
           {"op": "replace", "path": "/spec/replicas", "value": 5}]
    after = client.patch_guarded("Deployment", "ns", "app", ops)
    assert after["spec"]["replicas"] == 5 and outage.now >= 40 and outage.attempts > 3
    assert len([r for r in api.writes() if r.method == "PATCH"]) == 1


def test_an_outage_longer_than_outage_wait_is_one_clear_line(api):
    client, outage = outage_client(api, down=1000, outage_wait=30)
    with pytest.raises(UnreachableError) as err:
        client.get("/apis/apps/v1/namespaces/ns/deployments/app")
    assert "stayed so for 30s (api_outage_wait)" in str(err.value) and "\n" not in str(err.value)
    assert 30 <= outage.now < 35


def test_a_guarded_patch_whose_answer_was_lost_is_not_a_conflict(api, client):
    api.add("deployments", deployment())
    version = api.get("deployments", "app")["metadata"]["resourceVersion"]
    api.lose_response = lambda method, path: method == "PATCH"
    ops = [{"op": "test", "path": "/metadata/resourceVersion", "value": version},
           {"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "app:v0"}]
    after = client.patch_guarded("Deployment", "ns", "app", ops)
    # the first attempt was applied, the repeat failed its test: the object holds what the patch sets
    assert after["spec"]["template"]["spec"]["containers"][0]["image"] == "app:v0"
    api.lose_response = None
    other = [{"op": "test", "path": "/metadata/resourceVersion", "value": version},
             {"op": "replace", "path": "/spec/replicas", "value": 9}]
    with pytest.raises(ConflictError, match="changed while this task was changing it"):
        client.patch_guarded("Deployment", "ns", "app", other)


def test_a_conflict_after_a_lost_answer_may_have_been_written(api, client, tmp_path):
    """The first attempt was applied (its answer lost), then someone else changed what it set: the conflict says
    the write may have been applied, so its record is kept and the plan is not made again over the other write."""
    api.add("deployments", deployment())
    version = api.get("deployments", "app")["metadata"]["resourceVersion"]
    writes = []

    def someone_else_writes_after_ours(method, path):
        writes.append(method)
        if len(writes) == 2:  # before the repeat of our patch
            api.objects[path]["spec"]["template"]["spec"]["containers"][0]["image"] = "app:theirs"
            api.objects[path]["metadata"]["resourceVersion"] = "999"
    api.before_write = someone_else_writes_after_ours
    api.lose_response = lambda method, path: method == "PATCH" and len(writes) == 1
    ops = [{"op": "test", "path": "/metadata/resourceVersion", "value": version},
           {"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "app:v0"}]
    record = workspace.record(str(tmp_path), workspace.ROLLOUT, ["ns", "app"], {"image": "app:v1"})
    attempts = []

    def patch():
        attempts.append(1)
        with workspace.kept_if_written(record):
            return client.patch_guarded("Deployment", "ns", "app", ops)
    with pytest.raises(ConflictError) as err:
        replan_on_conflict(patch, sleep=lambda seconds: None)
    assert err.value.nothing_written is False and len(attempts) == 1
    assert os.path.exists(record)

    # refused at the first attempt: certainly not applied, so planned again and the record taken back
    api.before_write = api.lose_response = None
    stale = [dict(ops[0], value=version), ops[1]]
    with pytest.raises(ConflictError) as err:
        with workspace.kept_if_written(record):
            client.patch_guarded("Deployment", "ns", "app", stale)
    assert err.value.nothing_written is True and not os.path.exists(record)


def test_applied_compares_what_ops_set():
    obj = {"metadata": {"annotations": {"a/b": "1"}}, "spec": {"replicas": 2}}
    assert applied(obj, [{"op": "add", "path": "/metadata/annotations/a~1b", "value": "1"}])
    assert not applied(obj, [{"op": "replace", "path": "/spec/replicas", "value": 3}])
    assert applied(obj, [{"op": "remove", "path": "/spec/paused"}])
    assert not applied(obj, [])


# -- watching ---------------------------------------------------------------------------------
class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_a_watch_yields_each_change_and_a_heartbeat_when_nothing_changes(monkeypatch):
    monkeypatch.setattr(waiter.time, "sleep", lambda s: None)
    clock = Clock()
    deadline = waiter.Deadline(100, clock=clock)
    opened = []

    def stream(version, timeout, idle):
        opened.append(version)
        if len(opened) == 1:
            yield "MODIFIED", {"metadata": {"resourceVersion": "2"}, "n": 2}
            yield "BOOKMARK", {"metadata": {"resourceVersion": "3"}}
            yield "MODIFIED", {"metadata": {"resourceVersion": "4"}, "n": 4}
            raise httpx.ReadTimeout("idle", request=REQUEST)
        yield "MODIFIED", {"metadata": {"resourceVersion": "5"}, "n": 5}

    seen = waiter.watch(lambda: {"metadata": {"resourceVersion": "1"}, "n": 1}, stream, deadline, sleep=1)
    assert [next(seen)["n"] for _count in range(5)] == [1, 2, 4, 4, 5]  # the 4 again is the heartbeat
    assert opened == ["1", "4"]  # the watch was opened again from the last version seen


def test_a_broken_watch_reads_again_and_a_refused_one_falls_back_to_polling(monkeypatch):
    from ansible_collections.mataresit.emergency.plugins.module_utils.errors import ApiError

    monkeypatch.setattr(waiter.time, "sleep", lambda s: None)
    deadline = waiter.Deadline(100, clock=Clock())
    reads = iter(range(1, 100))

    def broken(version, timeout, idle):
        if version is not None:  # always: a generator that raises when it starts
            raise httpx.RemoteProtocolError("server restarted", request=REQUEST)
        yield "MODIFIED", {}

    seen = waiter.watch(lambda: {"metadata": {"resourceVersion": "1"}, "n": next(reads)}, broken, deadline, 1)
    assert [next(seen)["n"] for _count in range(3)] == [1, 2, 3]

    def refused_watch(version, timeout, idle):
        if timeout:  # always: a generator that raises when it starts
            raise ApiError("watch is forbidden", status=403)
        yield "MODIFIED", {}

    seen = waiter.watch(lambda: {"metadata": {}, "n": next(reads)}, refused_watch, deadline, 1)
    assert [next(seen)["n"] for _count in range(3)] == [4, 4, 5]  # poll() starts from the object it had


def test_wait_for_rollout_sees_the_change_through_the_watch(api, client):
    api.add("deployments", deployment(status={"updatedReplicas": 1, "availableReplicas": 1, "readyReplicas": 1}))
    calls = []

    def watch_done(path, params=None, timeout=60, idle=None):
        calls.append(params)
        yield "MODIFIED", deployment()  # the controller finished the rollout

    client.watch = watch_done
    obj, _elapsed = workloads.wait_for_rollout(client, "ns", "app", timeout=30, sleep=1)
    assert obj["status"]["availableReplicas"] == 3 and calls[0]["fieldSelector"] == "metadata.name=app"


# -- failing pods -------------------------------------------------------------------------------
def pod(name, reason=None, last=None, uid=None, image="app:v2-bad"):
    state = {"waiting": {"reason": reason}} if reason else {"running": {}}
    status = {"name": "app", "image": image, "state": state}
    if last:
        status["lastState"] = {"terminated": {"reason": last, "exitCode": 137 if last == "OOMKilled" else 1}}
    return {"metadata": {"name": name, "uid": uid or name}, "status": {"containerStatuses": [status]}}


@pytest.mark.parametrize("reason, last, expected", [
    ("CrashLoopBackOff", "Error", "CrashLoopBackOff"),
    ("ImagePullBackOff", None, "ImagePullBackOff"),
    ("ErrImagePull", None, "ErrImagePull"),
    ("CreateContainerConfigError", None, "CreateContainerConfigError"),
    ("CrashLoopBackOff", "OOMKilled", "OOMKilled"),
    ("ContainerCreating", None, None),
    (None, None, None),
])
def test_pod_failure_names_the_cause(reason, last, expected):
    failure = objects.pod_failure(pod("p", reason, last))
    assert (failure or {}).get("reason") == expected


def test_failing_pods_end_the_wait_after_the_grace_period_only():
    clock = Clock()
    pods = [pod("a", "CrashLoopBackOff", "Error"), pod("b")]
    rule = waiter.failing_pods(lambda obj: pods, grace=15, what=lambda obj: "the rollout of deployment ns/app",
                               clock=clock)
    assert rule(None, {}) is None
    clock.now = 10
    assert rule(None, {}) is None
    pods[0] = pod("a", "CrashLoopBackOff", "OOMKilled")
    clock.now = 15
    error = rule(None, {})
    assert isinstance(error, WaitFailed) and error.details["reason"] == "OOMKilled"
    assert str(error) == ("the rollout of deployment ns/app cannot succeed: 1 new pod(s) OOMKilled with image "
                          "app:v2-bad (last exit OOMKilled 137) for 15s or more; undo it or fix the pod template "
                          "(wait_timeout was not waited out)")


def test_a_pod_that_recovers_starts_its_grace_period_again():
    clock = Clock()
    state = {"pods": [pod("a", "ErrImagePull")]}
    rule = waiter.failing_pods(lambda obj: state["pods"], grace=5, what=lambda obj: "x", clock=clock)
    rule(None, {})
    clock.now, state["pods"] = 4, [pod("a")]
    assert rule(None, {}) is None
    clock.now, state["pods"] = 6, [pod("a", "ImagePullBackOff")]
    assert rule(None, {}) is None
    clock.now = 11
    assert rule(None, {}) is not None


def test_a_rollout_whose_new_pods_crash_fails_fast_naming_the_cause(api, client, monkeypatch):
    monkeypatch.setattr(waiter.time, "sleep", lambda s: None)
    rolling = {"updatedReplicas": 1, "availableReplicas": 2, "readyReplicas": 2}
    api.add("deployments", deployment(image="app:v2-bad", status=rolling))
    api.add("replicasets", replicaset("app-old11", 1, "app:v1"))
    api.add("replicasets", replicaset("app-new22", 2, "app:v2-bad"))
    crashing = pod("app-new22-x", "CrashLoopBackOff", "Error")
    crashing["metadata"].update(namespace="ns", labels={"app": "app", "pod-template-hash": "new22"})
    healthy = pod("app-old11-y")
    healthy["metadata"].update(namespace="ns", labels={"app": "app", "pod-template-hash": "old11"})
    api.add("pods", crashing)
    api.add("pods", healthy)
    with pytest.raises(WaitFailed) as err:
        workloads.wait_for_rollout(client, "ns", "app", timeout=300, sleep=0.01, grace=0)
    assert "the rollout of deployment ns/app cannot succeed: 1 new pod(s) CrashLoopBackOff" in str(err.value)
    assert err.value.details["pods"] == ["app-new22-x"]


def test_new_pods_are_none_until_the_controller_has_seen_the_current_template():
    """Right after an undo (or while the control plane catches up after a restart) the revision annotation still
    names the bad ReplicaSet: its crash-looping pods are not the rollout's new pods, so fail-fast waits."""
    from ansible_collections.mataresit.emergency.plugins.module_utils import workloads

    class Client:
        calls = []

        def list(self, path, label_selector=None):
            self.calls.append(path)
            return []

    client = Client()
    metadata = {"namespace": "ns", "name": "app", "generation": 4,
                "annotations": {"deployment.kubernetes.io/revision": "2"}}
    deployment = {"kind": "Deployment", "metadata": metadata,
                  "spec": {"selector": {"matchLabels": {"app": "app"}}}, "status": {"observedGeneration": 3}}
    assert workloads.new_pods(client, deployment) == [] and client.calls == []
    deployment["status"]["observedGeneration"] = 4
    workloads.new_pods(client, deployment)
    assert client.calls  # once observed, the current ReplicaSet's pods are looked up
