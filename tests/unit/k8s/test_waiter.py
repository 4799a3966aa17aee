"""The one waiter: predicates, fail-fast rules, a shared monotonic deadline, and a timeout error
that names the pods' problems; resources.path refuses names that are not one."""
from __future__ import annotations

import pytest

from ansible_collections.mataresit.emergency.plugins.module_utils.errors import ConfigError, WaitTimeout
from ansible_collections.mataresit.emergency.plugins.module_utils.k8s import resources, waiter


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def observations(values, clock, step=1.0):
    for value in values:
        yield value
        clock.now += step


def test_returns_the_first_observation_that_is_done():
    clock = Clock()
    deadline = waiter.Deadline(10, clock=clock)
    obj, state = waiter.wait(observations([1, 2, 3, 4], clock), lambda n: {"done": n >= 3, "n": n}, deadline)
    assert (obj, state) == (3, {"done": True, "n": 3})


def test_a_fail_fast_rule_ends_the_wait_at_once():
    clock = Clock()
    deadline = waiter.Deadline(60, clock=clock)
    seen = []

    def crash_looping(obj, state):
        seen.append(obj)
        return RuntimeError("new pods crash-loop") if obj == "crashloop" else None

    with pytest.raises(RuntimeError, match="crash-loop"):
        waiter.wait(observations(["pending", "crashloop", "never read"], clock), lambda o: {"done": False},
                    deadline, fail_fast=[crash_looping])
    assert seen == ["pending", "crashloop"]


def test_timeout_names_what_was_awaited_and_the_pods_problems():
    clock = Clock()
    deadline = waiter.Deadline(2, clock=clock)
    with pytest.raises(WaitTimeout) as info:
        waiter.wait(observations(["a", "b"], clock, step=1.5), lambda o: {"done": False, "last": o}, deadline,
                    describe=lambda obj, state: ("deployment ns/app has 1 ready of 3 replicas", f"saw {obj}"),
                    pods=lambda obj: "2 pod(s) CrashLoopBackOff")
    assert str(info.value) == ("deployment ns/app has 1 ready of 3 replicas after 3s: saw b; "
                               "pods: 2 pod(s) CrashLoopBackOff; raise wait_timeout or inspect the pods")
    assert info.value.details["state"] == {"done": False, "last": "b"} and info.value.details["elapsed"] == 3.0


def test_without_describe_the_wait_gives_up_quietly():
    clock = Clock()
    deadline = waiter.Deadline(0, clock=clock)
    assert waiter.wait(observations(["x"], clock), lambda o: {"done": False}, deadline) == ("x", {"done": False})


def test_poll_backs_off_and_stops_at_the_deadline(monkeypatch):
    clock = Clock()
    naps = []

    def nap(seconds):
        naps.append(seconds)
        clock.now += seconds

    monkeypatch.setattr(waiter.time, "sleep", nap)
    deadline = waiter.Deadline(1.0, clock=clock)
    reads = list(waiter.poll(lambda: clock.now, deadline, sleep=0.3))
    assert naps[:3] == [0.1, 0.2, 0.3] and all(n <= 0.3 for n in naps)
    assert reads[-1] >= deadline.at and len(reads) == len(naps) + 1


@pytest.mark.parametrize("namespace, name", [("", "app"), ("ns", ""), ("ns", ".."), (".", "app")])
def test_paths_are_built_only_from_names(namespace, name):
    with pytest.raises(ConfigError, match="is not a valid Kubernetes name"):
        resources.path("Deployment", namespace, name)


def test_names_are_one_path_segment():
    assert resources.path("Role", "ns", "system:x") == "/apis/rbac.authorization.k8s.io/v1/namespaces/ns/roles/system%3Ax"
    assert resources.path("Pod", None) == "/api/v1/pods" and resources.path("Pod", "ns") == "/api/v1/namespaces/ns/pods"


def test_a_wait_of_hours_never_overflows_its_backoff(monkeypatch):
    """Issue 7: 0.1 * 2 ** checks overflowed a float after about 17 minutes of checks."""
    naps = []
    monkeypatch.setattr(waiter.time, "sleep", naps.append)
    deadline = waiter.Deadline(10 ** 6, clock=lambda: 0.0)
    waiter.pause(5000, 2.0, deadline)
    assert naps == [2.0]
