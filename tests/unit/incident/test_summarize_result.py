"""What the incident timeline keeps of a task result."""
from __future__ import annotations

from ansible_collections.mataresit.emergency.plugins.module_utils.incident import summarize_result


def test_changed_object_lists_are_capped():
    objects = [{"kind": "Pod", "name": f"p{i}"} for i in range(60)]
    assert summarize_result({"objects": objects}, censored=False)["objects"] == objects[:50]


def test_per_kind_counts_are_kept_as_they_are():
    # forensics returns the number of objects captured per kind
    assert summarize_result({"objects": {"Pod": 4, "Deployment": 2}}, censored=False)["objects"] == {
        "Pod": 4, "Deployment": 2}


def test_censored_results_keep_nothing():
    assert summarize_result({"objects": {"Secret": 1}, "msg": "x"}, censored=True) == {
        "msg": "(output hidden by no_log)", "censored": True}


def test_the_credentials_a_run_used_are_masked_in_every_encoding_in_the_timeline():
    """The callback learns them from the tasks' (templated) arguments."""
    import base64
    from urllib.parse import quote

    from ansible_collections.mataresit.emergency.plugins.callback.incident_timeline import task_secrets

    known = task_secrets({"routing_key": "R0uting-Key-123", "webhook_url": "https://hooks.example/T/B/abc?x=1",
                          "kubeconfig": {"users": [{"name": "u", "user": {"token": "kube-token-456"}}]},
                          "name": "paperless-maverick", "namespace": "ns", "replicas": 3})
    assert known == {"R0uting-Key-123", "https://hooks.example/T/B/abc?x=1", "kube-token-456"}
    raw = {"msg": f"sent with R0uting-Key-123 / {base64.b64encode(b'kube-token-456').decode()} / "
                  f"{quote('https://hooks.example/T/B/abc?x=1', safe='')}",
           "objects": ["Authorization: Basic dXNlcjpwYXNzd29yZA=="], "dedup_key": "mataresit-INC-1"}
    out = str(summarize_result(raw, False, known))
    for secret in ("R0uting-Key-123", "a3ViZS10b2tlbi00NTY", "hooks.example%2FT", "dXNlcjpwYXNzd29yZA"):
        assert secret not in out
    assert "mataresit-INC-1" in out


def test_the_report_is_written_from_whatever_entries_survived(tmp_path):
    """Entries without times (an older or damaged timeline) or with Markdown in their text keep the report whole."""
    from ansible_collections.mataresit.emergency.plugins.module_utils import workspace
    from ansible_collections.mataresit.emergency.plugins.module_utils.incident import open_incident, write_report

    _changed, incident = open_incident(str(tmp_path), "P0", "a | b\n## injected {{ x }}", ["local"], incident_id="p0-r")
    workspace.append_timeline(incident["incident_dir"], {"task": "no times", "status": "changed"})
    workspace.append_timeline(incident["incident_dir"], {
        "started": "2026-11-27T10:00:00+00:00", "time": "2026-11-27T10:00:01+00:00", "cluster": "local",
        "phase": "recover", "task": "Roll back | {{ lookup('pipe','id') }}\n# x", "action": "x.rollout",
        "status": "changed"})
    _changed, _path, text, _figures = write_report(incident["incident_dir"])
    assert "- Reason: a / b ## injected {{ x }}" in text
    assert "| Roll back / {{ lookup('pipe','id') }} # x | changed |" in text
