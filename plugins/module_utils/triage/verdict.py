"""Triage, step three: the verdict, pure rules over the facts of gather.py.

Each rule looks at the facts and returns evidence sentences (naming the
objects) and the object the verdict is about, or nothing. Rules are tried in
PRECEDENCE order; the first that matches is the verdict, and every matching
rule is listed in `verdict_candidates`. The rules are documented in the
triage module's DOCUMENTATION; keep both in step.
"""
from __future__ import annotations

NODE_FAILURE = "node_failure"
DEPENDENCY_DOWN = "dependency_down"
RECENT_BAD_DEPLOY = "recent_bad_deploy"
RESOURCE_EXHAUSTION = "resource_exhaustion"
UNKNOWN = "unknown"

ACTIONS = {
    NODE_FAILURE: "restart",
    DEPENDENCY_DOWN: "restart",
    RECENT_BAD_DEPLOY: "rollback",
    RESOURCE_EXHAUSTION: "scale_up",
    UNKNOWN: "none",
}

# Classes of pod trouble that a new ReplicaSet's pods show when its template is bad.
BAD_DEPLOY_CLASSES = (
    ("crash_loop", "crash-looping (CrashLoopBackOff)"),
    ("image_pull", "failing to pull their image"),
    ("config_error", "failing with CreateContainerConfigError"),
    ("oom_killed", "OOMKilled"),
    ("not_ready", "running but not Ready"),
)


def _names(samples, limit=5):
    names = [s["name"] if isinstance(s, dict) else str(s) for s in samples or []][:limit]
    return ", ".join(names)


def _more(count, samples, limit=5):
    shown = min(len(samples or []), limit)
    return f" and {count - shown} more" if count > shown else ""


def _age(seconds):
    if seconds is None:
        return "at an unknown time"
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds}s ago"
    if seconds < 7200:
        return f"{seconds // 60}m ago"
    return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m ago"


# -- rules -------------------------------------------------------------------
def rule_node_failure(facts):
    """Nodes that are not Ready and run pods of the namespace (or of a required extra target)."""
    evidence = []
    target = None
    for node in (facts.get("nodes") or {}).get("not_ready") or []:
        pods = node.get("pods", 0)
        if not pods:
            continue
        why = node.get("reason") or "Ready condition not True"
        evidence.append(
            f"Node {node['name']} is NotReady ({why}) and runs {pods} pod(s) of the assessed workloads"
            + (f": {_names(node.get('pod_samples'))}{_more(pods, node.get('pod_samples'))}" if node.get("pod_samples") else "")
            + "."
        )
        target = target or {"kind": "Node", "name": node["name"]}
    if not evidence:
        return None
    return evidence, target


def rule_dependency_down(facts):
    """A required extra target has no ready pods, or a Service that fronts Deployments has no ready
    endpoint while those Deployments are fully available (Services that select no Deployment are ignored)."""
    evidence = []
    target = None
    for extra in facts.get("extra_targets") or []:
        if not extra.get("required", True) or extra.get("error"):
            continue
        if extra.get("ready", 0) > 0:
            continue
        label = extra.get("name") or f"{extra['namespace']}/{extra.get('label_selector')}"
        where = f"namespace {extra['namespace']}, selector {extra.get('label_selector')}"
        if not extra.get("pods"):
            evidence.append(f"Dependency {label} is down: no pods match ({where}).")
        else:
            problems = "; ".join(
                f"{s['name']} {s.get('reason') or s.get('phase') or 'not ready'}" for s in (extra.get("samples") or [])[:5])
            evidence.append(
                f"Dependency {label} is down: 0 of {extra['pods']} pod(s) ready ({where})"
                + (f": {problems}" if problems else "") + ".")
        target = target or {"kind": "ExtraTarget", "name": label, "namespace": extra["namespace"],
                            "label_selector": extra.get("label_selector")}
    available = {d["name"]: d.get("available", 0) >= d.get("desired", 0) for d in facts.get("deployments") or []}
    for svc in (facts.get("services") or {}).get("without_ready_endpoints") or []:
        behind = svc.get("workloads") or []
        if behind and all(available.get(name, False) for name in behind):
            evidence.append(
                f"Service {facts.get('namespace')}/{svc['name']} has no ready endpoints "
                f"({svc.get('not_ready_endpoints', 0)} not ready) while the Deployment(s) it selects "
                f"({', '.join(behind)}) are fully available.")
            target = target or {"kind": "Service", "namespace": facts.get("namespace"), "name": svc["name"]}
    if not evidence:
        return None
    return evidence, target


def _bad_deploy_signals(dep, window):
    rev = dep.get("revision") or {}
    age = rev.get("age_seconds")
    if age is None or age > window:
        return []
    new = dep.get("new_pods") or {}
    signals = []
    for key, words in BAD_DEPLOY_CLASSES:
        count = new.get(key, 0)
        if count:
            samples = [s for s in new.get("samples") or [] if key in (s.get("classes") or [])]
            signals.append(f"{count} pod(s) of the new ReplicaSet {rev.get('replicaset')} are {words}"
                           + (f": {_names(samples)}{_more(count, samples)}" if samples else ""))
    if dep.get("failed") and not new.get("pending_insufficient"):
        signals.append(f"the rollout stalled ({dep.get('reason')}: {dep.get('message')})")
    return signals


def rule_recent_bad_deploy(facts):
    """The newest revision of a Deployment is younger than the window and its pods fail, or its rollout stalled.

    Pods on NotReady nodes are not counted (the summariser leaves them out of new_pods),
    and Pending for insufficient resources is resource exhaustion, not a bad template.
    """
    window = facts.get("recent_deploy_window", 3600)
    evidence = []
    target = None
    for dep in facts.get("deployments") or []:
        signals = _bad_deploy_signals(dep, window)
        if not signals:
            continue
        rev = dep.get("revision") or {}
        images = ", ".join(f"{c}={i}" for c, i in sorted((rev.get("images") or {}).items()))
        cause = f", change-cause '{rev['change_cause']}'" if rev.get("change_cause") else ""
        evidence.append(
            f"Deployment {facts.get('namespace')}/{dep['name']} revision {rev.get('revision')} "
            f"(ReplicaSet {rev.get('replicaset')}, images {images or 'unknown'}{cause}) was rolled out "
            f"{_age(rev.get('age_seconds'))}, within the {int(window) // 60}m window; "
            + "; ".join(signals) + "."
        )
        previous = dep.get("previous_revision")
        if not previous:
            evidence.append(f"Deployment {dep['name']} has no earlier revision to roll back to.")
        if target is None:
            target = {"kind": "Deployment", "namespace": facts.get("namespace"), "name": dep["name"],
                      "revision": rev.get("revision"), "rollback_to": previous}
    if not evidence:
        return None
    return evidence, target


def rule_resource_exhaustion(facts):
    """Pods Pending for insufficient resources, OOMKilled containers, node pressure, usage near limits."""
    evidence = []
    target = None
    problems = (facts.get("pods") or {}).get("problems") or {}
    pending = problems.get("pending_insufficient") or {}
    if pending.get("count"):
        reasons = (facts.get("pods") or {}).get("pending_reasons") or {}
        insufficient = [r for r in reasons if "insufficient" in r.lower() or "too many pods" in r.lower()]
        evidence.append(
            f"{pending['count']} pod(s) in {facts.get('namespace')} are Pending for insufficient resources"
            + (f" ({insufficient[0]})" if insufficient else "")
            + f": {_names(pending.get('samples'))}{_more(pending['count'], pending.get('samples'))}.")
        first = (pending.get("samples") or [{}])[0]
        target = {"kind": "Deployment", "namespace": facts.get("namespace"), "name": first.get("deployment")} \
            if first.get("deployment") else None
    oom = problems.get("oom_killed") or {}
    if oom.get("count"):
        evidence.append(f"{oom['count']} pod(s) in {facts.get('namespace')} had containers OOMKilled: "
                        f"{_names(oom.get('samples'))}{_more(oom['count'], oom.get('samples'))}.")
        first = (oom.get("samples") or [{}])[0]
        if target is None and first.get("deployment"):
            target = {"kind": "Deployment", "namespace": facts.get("namespace"), "name": first["deployment"]}
    for node in (facts.get("nodes") or {}).get("pressure") or []:
        if node.get("pods"):
            evidence.append(f"Node {node['name']} reports {', '.join(node['conditions'])} and runs "
                            f"{node['pods']} pod(s) of the assessed workloads.")
    metrics = facts.get("metrics") or {}
    for pod in metrics.get("pods_near_limit") or []:
        evidence.append(f"Pod {facts.get('namespace')}/{pod['name']} container {pod['container']} uses "
                        f"{pod['percent']}% of its {pod['resource']} limit.")
    for node in metrics.get("nodes_near_capacity") or []:
        evidence.append(f"Node {node['name']} uses {node['percent']}% of its allocatable {node['resource']}.")
    if not evidence:
        return None
    return evidence, target


PRECEDENCE = (
    (NODE_FAILURE, rule_node_failure),
    (DEPENDENCY_DOWN, rule_dependency_down),
    (RECENT_BAD_DEPLOY, rule_recent_bad_deploy),
    (RESOURCE_EXHAUSTION, rule_resource_exhaustion),
)


def anomalies(facts):
    """Problems seen that no rule explains (reported as evidence of an 'unknown' verdict)."""
    out = []
    problems = (facts.get("pods") or {}).get("problems") or {}
    for key, info in sorted(problems.items()):
        if info.get("count"):
            out.append(f"{info['count']} pod(s) in {facts.get('namespace')} are {key.replace('_', ' ')}: "
                       f"{_names(info.get('samples'))}{_more(info['count'], info.get('samples'))}.")
    for dep in facts.get("deployments") or []:
        if dep.get("available", 0) < dep.get("desired", 0) or dep.get("failed"):
            out.append(f"Deployment {facts.get('namespace')}/{dep['name']} has {dep.get('available', 0)} of "
                       f"{dep.get('desired', 0)} replicas available ({dep.get('reason') or 'rollout incomplete'}).")
    for svc in (facts.get("services") or {}).get("without_ready_endpoints") or []:
        if svc.get("workloads"):
            out.append(f"Service {facts.get('namespace')}/{svc['name']} has no ready endpoints "
                       f"(it selects {', '.join(svc['workloads'])}).")
    for extra in facts.get("extra_targets") or []:
        if extra.get("error"):
            out.append(f"Extra target {extra.get('name')} could not be read: {extra['error']}.")
        elif extra.get("required", True) and extra.get("pods", 0) > extra.get("ready", 0):
            out.append(f"Extra target {extra.get('name')} has {extra.get('ready', 0)} of {extra['pods']} pods ready.")
    return out


def decide(facts):
    """The verdict for gathered facts: verdict, evidence, recommended action, target, candidates, healthy."""
    candidates = []
    for name, rule in PRECEDENCE:
        found = rule(facts)
        if found:
            evidence, target = found
            candidates.append({"verdict": name, "evidence": evidence, "target": target})
    if candidates:
        top = candidates[0]
        action = ACTIONS[top["verdict"]]
        if top["verdict"] == RECENT_BAD_DEPLOY and not (top["target"] or {}).get("rollback_to"):
            action = "none"  # a first revision has nothing to roll back to
        return {
            "verdict": top["verdict"], "verdict_evidence": top["evidence"], "verdict_target": top["target"],
            "recommended_action": action, "verdict_candidates": candidates, "healthy": False,
        }
    other = anomalies(facts)
    return {
        "verdict": UNKNOWN, "verdict_evidence": other, "verdict_target": None,
        "recommended_action": ACTIONS[UNKNOWN], "verdict_candidates": [], "healthy": not other,
    }
