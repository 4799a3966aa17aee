"""Triage, step three: the verdict, pure rules over the facts of gather.py.

Each rule looks at the facts and returns evidence sentences (naming the
objects) and the object the verdict is about, or nothing. Rules are tried in
PRECEDENCE order; the first that matches is the verdict, and every matching
rule is listed in `verdict_candidates`. The rules are documented in the
triage module's DOCUMENTATION; keep both in step.
"""
from __future__ import annotations

from ansible_collections.mataresit.emergency.plugins.module_utils.durations import format_duration

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
    return f"{format_duration(seconds, compact=True)} ago"


# -- rules -------------------------------------------------------------------
def _node_down(node):
    """The evidence line of a NotReady node running pods of the namespace, or None."""
    pods = node.get("pods", 0)
    if not pods:
        return None
    why = node.get("reason") or "Ready condition not True"
    return (f"Node {node['name']} is NotReady ({why}) and runs {pods} pod(s) of the assessed workloads"
            + (f": {_names(node.get('pod_samples'))}{_more(pods, node.get('pod_samples'))}" if node.get("pod_samples") else "")
            + ".")


def rule_node_failure(facts):
    """Nodes that are not Ready and run pods of the namespace (or of a required extra target)."""
    evidence = []
    target = None
    for node in (facts.get("nodes") or {}).get("not_ready") or []:
        line = _node_down(node)
        if line:
            evidence.append(line)
            target = target or {"kind": "Node", "name": node["name"]}
    if not evidence:
        return None
    return evidence, target


def _extra_down(extra):
    """The evidence line of a required extra target without a ready pod, or None."""
    if not extra.get("required", True) or extra.get("error") or extra.get("ready", 0) > 0:
        return None
    label = extra.get("name") or f"{extra['namespace']}/{extra.get('label_selector')}"
    where = f"namespace {extra['namespace']}, selector {extra.get('label_selector')}"
    if not extra.get("pods"):
        return f"Dependency {label} is down: no pods match ({where})."
    problems = "; ".join(
        f"{s['name']} {s.get('reason') or s.get('phase') or 'not ready'}" for s in (extra.get("samples") or [])[:5])
    return (f"Dependency {label} is down: 0 of {extra['pods']} pod(s) ready ({where})"
            + (f": {problems}" if problems else "") + ".")


def _services_down(facts):
    """[(service, evidence line)] for Services without a ready endpoint whose Deployments are fully available."""
    available = {d["name"]: d.get("available", 0) >= d.get("desired", 0) for d in facts.get("deployments") or []}
    out = []
    for svc in (facts.get("services") or {}).get("without_ready_endpoints") or []:
        behind = svc.get("workloads") or []
        if behind and all(available.get(name, False) for name in behind):
            out.append((svc, f"Service {facts.get('namespace')}/{svc['name']} has no ready endpoints "
                             f"({svc.get('not_ready_endpoints', 0)} not ready) while the Deployment(s) it selects "
                             f"({', '.join(behind)}) are fully available."))
    return out


def rule_dependency_down(facts):
    """A required extra target has no ready pods, or a Service that fronts Deployments has no ready
    endpoint while those Deployments are fully available (Services that select no Deployment are ignored)."""
    evidence = []
    target = None
    for extra in facts.get("extra_targets") or []:
        line = _extra_down(extra)
        if line:
            evidence.append(line)
            target = target or {"kind": "ExtraTarget", "name": extra.get("name") or
                                f"{extra['namespace']}/{extra.get('label_selector')}",
                                "namespace": extra["namespace"], "label_selector": extra.get("label_selector")}
    for svc, line in _services_down(facts):
        evidence.append(line)
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


# -- findings: one entry per affected workload or dependency -------------------------------------
# The runbook's options for each cause, in the order they are tried (the first is the finding's action).
# A finding whose options are empty is reported for a human (a node, a Service): nothing here can fix it.
OPTIONS = {
    RECENT_BAD_DEPLOY: ("rollback", "restart", "scale_up"),
    NODE_FAILURE: ("restart", "scale_up"),
    RESOURCE_EXHAUSTION: ("scale_up", "restart"),
    UNKNOWN: ("restart", "scale_up"),
    DEPENDENCY_DOWN: ("recycle_pods", "restart"),
}
FAILING_CLASSES = ("crash_loop", "image_pull", "config_error", "oom_killed", "not_ready", "failed")
# Per workload, the first cause that holds is its cause (the others are listed in `also`).
WORKLOAD_PRECEDENCE = (RECENT_BAD_DEPLOY, NODE_FAILURE, RESOURCE_EXHAUSTION, UNKNOWN)


def _pods_of(workload):
    """A workload's pod counters: over all its ReplicaSets (`pods`), else its newest ReplicaSet's."""
    return workload.get("pods") or workload.get("new_pods") or {}


def _lost_to_nodes(workload):
    """Evidence that a workload lost ready replicas to NotReady nodes and lacks them elsewhere, or None."""
    pods = _pods_of(workload)
    lost = pods.get("on_not_ready_nodes", 0)
    elsewhere = pods.get("ready", 0) - pods.get("ready_on_not_ready_nodes", 0)
    if not lost or elsewhere >= workload.get("desired", 0):
        return None
    return (f"{lost} of its pod(s) run on NotReady nodes and only {elsewhere} of {workload.get('desired', 0)} "
            "replicas are ready elsewhere")


def _exhausted(workload):
    pods = _pods_of(workload)
    signals = []
    if pods.get("pending_insufficient"):
        signals.append(f"{pods['pending_insufficient']} pod(s) Pending for insufficient resources")
    if pods.get("oom_killed"):
        signals.append(f"{pods['oom_killed']} pod(s) OOMKilled")
    if pods.get("near_limit"):
        signals.append(f"{pods['near_limit']} container(s) at or above the usage threshold of a limit")
    return signals


def _unhealthy(workload):
    """Pods failing (outside NotReady nodes) or a failed rollout, while replicas are missing.

    Pods running but not Ready count only once the rollout has updated every replica (a rollout in
    progress brings pods up that are not Ready yet)."""
    pods = _pods_of(workload)
    rolling = workload.get("updated", 0) < workload.get("desired", 0)
    failing = [f"{pods[key]} pod(s) {key.replace('_', ' ')}" for key in FAILING_CLASSES
               if pods.get(key) and not (key == "not_ready" and rolling)]
    if workload.get("failed"):
        failing.append(f"the rollout failed ({workload.get('reason')})")
    if not failing or workload.get("available", 0) >= workload.get("desired", 0) and not workload.get("failed"):
        return []
    return failing


def _signals(workload):
    pods = _pods_of(workload)
    return [key for key in FAILING_CLASSES + ("pending_insufficient",) if pods.get(key)]


def workload_finding(kind, workload, facts):
    """The finding for one Deployment or StatefulSet, or None when it is healthy.

    Causes in WORKLOAD_PRECEDENCE order: a recent bad deploy of it (Deployments); replicas lost to
    NotReady nodes with too few ready elsewhere; resource exhaustion of its pods; pods failing for
    another reason while replicas are missing (unknown).
    """
    namespace = facts.get("namespace")
    label = f"{kind} {namespace}/{workload['name']}"
    causes = {}
    if kind == "Deployment":
        bad = _bad_deploy_signals(workload, facts.get("recent_deploy_window", 3600))
        if bad:
            rev = workload.get("revision") or {}
            images = ", ".join(f"{c}={i}" for c, i in sorted((rev.get("images") or {}).items()))
            cause = f", change-cause '{rev['change_cause']}'" if rev.get("change_cause") else ""
            causes[RECENT_BAD_DEPLOY] = (
                f"{label} revision {rev.get('revision')} (images {images or 'unknown'}{cause}) was rolled out "
                f"{_age(rev.get('age_seconds'))}; " + "; ".join(bad) + ".")
    lost = _lost_to_nodes(workload)
    if lost:
        causes[NODE_FAILURE] = f"{label}: {lost}."
    exhausted = _exhausted(workload)
    if exhausted:
        causes[RESOURCE_EXHAUSTION] = f"{label}: " + "; ".join(exhausted) + "."
    unhealthy = _unhealthy(workload)
    if unhealthy and not causes:
        causes[UNKNOWN] = (f"{label} has {workload.get('available', 0)} of {workload.get('desired', 0)} replicas "
                           "available: " + "; ".join(unhealthy) + ".")
    if not causes:
        return None
    cause = next(c for c in WORKLOAD_PRECEDENCE if c in causes)
    options = list(OPTIONS[cause])
    finding = {"kind": kind, "namespace": namespace, "name": workload["name"], "cause": cause,
               "also": [c for c in WORKLOAD_PRECEDENCE if c in causes and c != cause],
               "evidence": [causes[c] for c in WORKLOAD_PRECEDENCE if c in causes],
               "signals": _signals(workload), "desired": workload.get("desired", 0),
               "revision": (workload.get("revision") or {}).get("revision"),
               "rollback_to": workload.get("previous_revision") if kind == "Deployment" else None}
    if kind != "Deployment" or not finding["rollback_to"]:
        options = [o for o in options if o != "rollback"]
        if cause == RECENT_BAD_DEPLOY:
            finding["evidence"].append(f"{label} has no earlier revision to roll back to.")
    finding.update(action=options[0] if options else "none", options=options)
    return finding


def _report(kind, name, cause, evidence, namespace=None, **extra):
    """A finding for a human: nothing in the runbook's options repairs it."""
    return dict({"kind": kind, "namespace": namespace, "name": name, "cause": cause, "also": [], "evidence": evidence,
                 "signals": [], "action": "none", "options": []}, **extra)


def findings(facts):
    """Every affected workload and dependency with its cause, evidence and the runbook's options.

    Deployments and StatefulSets get one finding each (workload_finding); a required extra target without
    a ready pod is `dependency_down` with the dependency's procedure (recycle its pods, then restart their
    controller); NotReady nodes running pods of the namespace and Services without endpoints in front of
    available workloads are reported (action none) with the workloads they affect. Healthy workloads
    get no finding, so nothing acts on them.
    """
    out = []
    for kind, key in (("Deployment", "deployments"), ("StatefulSet", "statefulsets")):
        for workload in facts.get(key) or []:
            found = workload_finding(kind, workload, facts)
            if found:
                out.append(found)
    for extra in facts.get("extra_targets") or []:
        line = _extra_down(extra)
        if line:
            out.append({"kind": "ExtraTarget", "namespace": extra["namespace"],
                        "name": extra.get("name") or f"{extra['namespace']}/{extra.get('label_selector')}",
                        "label_selector": extra.get("label_selector"), "cause": DEPENDENCY_DOWN, "also": [],
                        "evidence": [line], "signals": [], "action": OPTIONS[DEPENDENCY_DOWN][0],
                        "options": list(OPTIONS[DEPENDENCY_DOWN])})
    for svc, line in _services_down(facts):
        out.append(_report("Service", svc["name"], DEPENDENCY_DOWN, [line], namespace=facts.get("namespace")))
    affected = [w["name"] for w in facts.get("deployments") or [] if _pods_of(w).get("on_not_ready_nodes")]
    for node in (facts.get("nodes") or {}).get("not_ready") or []:
        line = _node_down(node)
        if line:
            out.append(_report("Node", node["name"], NODE_FAILURE, [line], workloads=affected))
    return out
