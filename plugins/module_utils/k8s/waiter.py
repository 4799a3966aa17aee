"""The one wait of the collection: until a predicate holds for what the API
server reports, within a monotonic deadline, checking quickly at first and then
every `sleep` seconds (capped backoff).

    deadline = Deadline(timeout)
    obj, state = wait(poll(read, deadline, sleep), check, deadline, describe, pods, fail_fast=[...])

- `check(obj)` returns a state dict whose "done" says the wait is over;
- `fail_fast` rules see (obj, state) each round and return an error to raise at
  once when waiting can already see it will fail (a rollout past its progress
  deadline; new pods crash-looping after a grace period);
- at the deadline the WaitTimeout says what was awaited (`describe`), how far
  it got, and the pods' problems (`pods`, usually `workload_pod_problems`);
- `poll()` is where observations come from; a watch-based source can replace
  it without changing any caller's predicate.
"""
from __future__ import annotations

import time

from ansible_collections.mataresit.emergency.plugins.module_utils.errors import EmergencyError, WaitTimeout
from ansible_collections.mataresit.emergency.plugins.module_utils.k8s import objects, resources

FIRST_PAUSE = 0.1


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
