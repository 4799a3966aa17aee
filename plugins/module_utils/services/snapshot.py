"""The snapshot module: capture what a drill must put back, compare with it object by object, restore it."""
from __future__ import annotations

from ansible_collections.mataresit.emergency.plugins.module_utils import snapshot, workspace
from ansible_collections.mataresit.emergency.plugins.module_utils.errors import ConfigError, failing_to

CATEGORY = workspace.SNAPSHOT


def operation(ctx):
    p, client = ctx.params, ctx.client
    parts = [p["name"]]
    captured = workspace.latest(p["incident_dir"], CATEGORY, parts)
    if p["action"] == "capture":
        if captured:  # the state before the drill is kept: a re-run never captures a state mid-drill
            return {"changed": False, "captured_at": captured["captured_at"], "snapshot": _summary(captured),
                    "msg": f"captured at {captured['captured_at']}"}
        with failing_to(f"capture the state of {', '.join(p['namespaces'])}"):
            state = snapshot.capture(client, p["namespaces"], p["nodes"])
        if not ctx.check_mode:
            workspace.record(p["incident_dir"], CATEGORY, parts, state)
        return {"changed": True, "captured_at": state["captured_at"], "snapshot": _summary(state)}
    if not captured:
        raise ConfigError(f"Failed to {p['action']} the snapshot '{p['name']}': nothing was captured in "
                          f"{p['incident_dir']}; run action=capture first")
    namespaces = list(captured["namespaces"])
    result = {"changed": False, "captured_at": captured["captured_at"]}
    if p["action"] == "restore":
        with failing_to(f"put back the state of {', '.join(namespaces)} captured at {captured['captured_at']}"):
            restored = snapshot.restore(client, captured, p["wait_timeout"], p["wait_sleep"], dry_run=ctx.check_mode)
        result.update(changed=bool(restored), restored=restored)
    with failing_to(f"compare the state of {', '.join(namespaces)} with the snapshot"):
        now = snapshot.capture(client, namespaces, list(captured.get("nodes") or []) if "nodes" in captured else False)
    differences = snapshot.differences(captured, now)
    result.update(differences=differences, same=not differences,
                  msg=("as captured" if not differences else f"{len(differences)} difference(s) from the snapshot"))
    return result


def _summary(state):
    return {"namespaces": {ns: {section: len(items) for section, items in part.items()}
                           for ns, part in state["namespaces"].items()},
            "nodes": len(state.get("nodes") or {})}
