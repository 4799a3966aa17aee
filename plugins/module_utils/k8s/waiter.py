"""The one wait of the collection: until a predicate holds for what the API
server reports, within a monotonic deadline, checking quickly at first and then
every `sleep` seconds (capped backoff).

    deadline = Deadline(timeout)
    obj, state = wait(watch(read, stream, deadline, sleep), check, deadline, describe, pods, fail_fast=[...])

- `check(obj)` returns a state dict whose "done" says the wait is over;
- `fail_fast` rules see (obj, state) each round and return an error to raise at
  once when waiting can already see it will fail (a rollout past its progress
  deadline; `failing_pods`: new pods in CrashLoopBackOff, ImagePullBackOff,
  CreateContainerConfigError or OOMKilled for longer than a grace period);
- at the deadline the WaitTimeout says what was awaited (`describe`), how far
  it got, and the pods' problems (`pods`, usually `workload_pod_problems`);
- observations come from `watch()` (the object as each change arrives, and
  again every `sleep` seconds so that fail-fast rules see time pass) where the
  API serves a watch, else from `poll()` (read, pause, read again).
"""
from __future__ import annotations

import time

from ansible_collections.mataresit.emergency.plugins.module_utils.deps import optional_import
from ansible_collections.mataresit.emergency.plugins.module_utils.errors import (
    ApiError, EmergencyError, UnreachableError, WaitFailed, WaitTimeout,
)
from ansible_collections.mataresit.emergency.plugins.module_utils.k8s import objects, resources

httpx = optional_import("httpx")

FIRST_PAUSE = 0.1
DEFAULT_GRACE = 15.0  # seconds new pods may fail before a wait gives up on them (fail_fast_grace)


class Deadline:
    """A monotonic deadline; several waits (batches) may share one."""

    def __init__(self, timeout, clock=time.monotonic):
        self.clock = clock
        self.start = clock()
        self.at = self.start + max(0, timeout)

    def elapsed(self):
        return round(self.clock() - self.start, 3)

    def remaining(self):
        return self.at - self.clock()

    def expired(self):
        return self.clock() >= self.at


def pause(checks, sleep, deadline):
    """Sleep before the next check: 0.1 s, doubling up to `sleep`, never past the deadline."""
    time.sleep(max(0.0, min(FIRST_PAUSE * 2 ** min(checks, 16), sleep, deadline.remaining())))


def poll(read, deadline, sleep, first=None):
    """Observations: read() now (or `first`), then again after each pause, until the deadline passes."""
    checks = 0
    obj = first if first is not None else read()
    while True:
        yield obj
        if deadline.expired():
            return
        pause(checks, sleep, deadline)
        checks += 1
        obj = read()


def watch(read, stream, deadline, sleep):
    """Observations from a watch: read() now, then the object as each change arrives, and the last one
    again whenever `sleep` seconds pass without a change (fail-fast rules and the deadline see time pass).

    stream(resource_version, timeout, idle) yields watch events (type, object) from that version and raises
    httpx.ReadTimeout after `idle` seconds without one. A watch that breaks (the API server restarting)
    is opened again after a read() (which rides out the outage); an API that refuses to serve a watch
    turns this into poll().
    """
    obj = read()
    yield obj
    while not deadline.expired():
        version = objects.meta(obj).get("resourceVersion")
        opened = time.monotonic()
        try:
            for kind, item in stream(version, max(1, int(deadline.remaining()) + 1), sleep):
                if kind in ("ADDED", "MODIFIED"):
                    obj = item
                elif kind == "DELETED":
                    obj = read()  # says clearly that the object is gone
                else:  # BOOKMARK; ERROR (410 Gone: the version is too old) ends this watch
                    if kind == "ERROR":
                        obj = read()
                        yield obj
                        break
                    continue
                yield obj
                if deadline.expired():
                    return
            else:  # the server ended the watch (its timeout): look again and go on, never faster than `sleep`
                time.sleep(max(0.0, min(sleep - (time.monotonic() - opened), deadline.remaining())))
                obj = read()
                yield obj
        except httpx.ReadTimeout:
            yield obj  # nothing changed for `sleep` seconds
        except (httpx.TransportError, UnreachableError):
            obj = read()
            yield obj
        except ApiError:
            yield from poll(read, deadline, sleep, first=obj)
            return


def failing_pods(list_pods, grace, what, clock=time.monotonic, every=0.5):
    """A fail-fast rule: the pods list_pods(obj) gives (the new ones of a rollout) that stay failing -
    CrashLoopBackOff, ImagePullBackOff / ErrImagePull, CreateContainerConfigError, OOMKilled - for
    `grace` seconds end the wait at once with WaitFailed naming the cause.

    what(obj) names the wait ("the rollout of deployment ns/app"). Pods are listed at most every
    `every` seconds; a pod that recovers starts its grace period again.
    """
    since = {}
    last = [None]

    def rule(obj, state):  # pylint: disable=unused-argument
        now = clock()
        if last[0] is not None and now - last[0] < every:
            return None
        last[0] = now
        failing = {}
        for pod in list_pods(obj):
            failure = None if objects.is_terminating(pod) else objects.pod_failure(pod)
            if failure:
                uid = objects.meta(pod).get("uid") or objects.meta(pod).get("name")
                failing[uid] = dict(failure, pod=objects.meta(pod).get("name"))
                since.setdefault(uid, now)
        for uid in [u for u in since if u not in failing]:
            del since[uid]
        overdue = [failing[uid] for uid in failing if now - since[uid] >= grace]
        if not overdue:
            return None
        return WaitFailed(f"{what(obj)} cannot succeed: {describe_failures(overdue)} for {grace:g}s or more; "
                          "undo it or fix the pod template (wait_timeout was not waited out)",
                          reason=overdue[0]["reason"], pods=[f["pod"] for f in overdue][:10])

    return rule


def describe_failures(failures, limit=3):
    """'2 pod(s) CrashLoopBackOff with image x:bad (last exit Error 1)' for pod_failure() dicts."""
    counts = {}
    for failure in failures:
        key = (failure["reason"], failure.get("image") or "", failure.get("last_exit") or "")
        counts[key] = counts.get(key, 0) + 1
    parts = []
    for (reason, image, last_exit), count in sorted(counts.items(), key=lambda kv: -kv[1])[:limit]:
        parts.append(f"{count} new pod(s) {reason}" + (f" with image {image}" if image else "")
                     + (f" (last exit {last_exit})" if last_exit and last_exit != reason else ""))
    return "; ".join(parts)


def wait(observations, check, deadline, describe=None, pods=None, hint="raise wait_timeout or inspect the pods",
         fail_fast=()):
    """Evaluate observations until check(obj)["done"]; return (obj, state).

    fail_fast rules (obj, state) -> error or None are asked each round; the first error is raised at once.
    When the observations end first: without `describe`, the last (obj, state) is returned; with it,
    WaitTimeout "<what> after <n>s: <progress>; pods: <pods(obj)>; <hint>" is raised, where
    describe(obj, state) gives (what, progress).
    """
    obj = state = None
    for obj in observations:
        state = check(obj)
        if state["done"]:
            return obj, state
        for rule in fail_fast:
            error = rule(obj, state)
            if error is not None:
                raise error
    if describe is None:
        return obj, state
    elapsed = deadline.elapsed()
    what, progress = describe(obj, state)
    problems = pods(obj) if pods else ""
    raise WaitTimeout(f"{what} after {elapsed:.0f}s" + (f": {progress}" if progress else "")
                      + (f"; pods: {problems}" if problems else "") + f"; {hint}",
                      elapsed=elapsed, state=state, pods=problems or None)


def pod_problems(client, namespace, selector, limit=3):
    """Why the pods a selector picks are not Ready, in a few words (one list call; '' when none or unknown)."""
    if not selector:
        return ""
    try:
        pods = client.list(resources.path("Pod", namespace), label_selector=selector)
    except EmergencyError:
        return ""  # the summary is a courtesy; the caller's error stands on its own
    counts = {}
    for pod in pods:
        if objects.is_terminating(pod) or objects.is_ready(pod):
            continue
        status = pod.get("status") or {}
        for cs in status.get("containerStatuses") or [{"image": "", "state": {"waiting": {"reason": status.get("phase")}}}]:
            if cs.get("ready"):
                continue
            waiting = (cs.get("state") or {}).get("waiting") or {}
            last = (cs.get("lastState") or {}).get("terminated") or {}
            why = waiting.get("reason") or status.get("reason") or status.get("phase") or "NotReady"
            if last.get("reason"):
                why += f" (last exit {last['reason']} {last.get('exitCode', '')})".replace(" )", ")")
            key = (why, cs.get("image") or "")
            counts[key] = counts.get(key, 0) + 1
    parts = [f"{n} pod(s) {why}" + (f" with image {image}" if image else "")
             for (why, image), n in sorted(counts.items(), key=lambda kv: -kv[1])[:limit]]
    return "; ".join(parts)


def workload_pod_problems(client, obj, limit=3):
    """pod_problems of the pods a workload's selector picks."""
    return pod_problems(client, objects.meta(obj).get("namespace"),
                        objects.selector_string((obj.get("spec") or {}).get("selector")), limit)
