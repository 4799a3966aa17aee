"""The incident workspace's layout, records and reader, and the incident_records module's operation."""
from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys

import pytest

from ansible_collections.mataresit.emergency.plugins.module_utils import workspace
from ansible_collections.mataresit.emergency.plugins.module_utils.errors import ConfigError
from ansible_collections.mataresit.emergency.plugins.module_utils.incident import open_incident
from ansible_collections.mataresit.emergency.plugins.module_utils.services import incident_records


def test_root_is_the_option_then_the_environment_then_the_default(monkeypatch, tmp_path):
    monkeypatch.setenv("MRE_INCIDENTS_DIR", str(tmp_path / "env"))
    assert workspace.root(str(tmp_path / "opt")) == str(tmp_path / "opt")
    assert workspace.root(None) == str(tmp_path / "env")
    monkeypatch.delenv("MRE_INCIDENTS_DIR")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert workspace.root("") == str(tmp_path / ".mataresit-emergency" / "incidents")


def test_each_cluster_has_its_own_part(tmp_path):
    incident = str(tmp_path / "p0-x")
    assert workspace.cluster_dir(incident, "prod-eu") == str(tmp_path / "p0-x" / "clusters" / "prod-eu")
    assert workspace.evidence_dir(incident, "prod eu/1") == str(tmp_path / "p0-x" / "evidence" / "prod_eu_1")


def test_records_give_the_newest_record_of_each_object(tmp_path, monkeypatch):
    stamps = iter(["20261127T100000Z", "20261127T100001Z", "20261127T100002Z"])
    monkeypatch.setattr(workspace, "stamp", lambda when=None, precise=False: next(stamps))
    incident = str(tmp_path)
    workspace.record(incident, workspace.SCALE, ["ns", "deployment", "app"], {"name": "app", "replicas": 6})
    workspace.record(incident, workspace.SCALE, ["ns", "deployment", "worker"], {"name": "worker", "replicas": 2})
    workspace.record(incident, workspace.SCALE, ["ns", "deployment", "app"], {"name": "app", "replicas": 8})
    assert workspace.records(incident, workspace.SCALE) == [{"name": "app", "replicas": 8},
                                                            {"name": "worker", "replicas": 2}]
    assert workspace.records(incident, workspace.CONTAINER_PATCH) == []
    (path,) = [p for p in (tmp_path / "scale").iterdir() if p.name.startswith("20261127T100002Z")]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_timeline_lines_are_appended_privately(tmp_path):
    workspace.append_timeline(str(tmp_path), {"task": "a"})
    workspace.append_timeline(str(tmp_path), {"task": "b"})
    assert [e["task"] for e in workspace.read_timeline(str(tmp_path))] == ["a", "b"]
    assert stat.S_IMODE((tmp_path / workspace.TIMELINE_FILE).stat().st_mode) == 0o600


def test_a_timeline_line_is_in_the_file_at_once_and_on_disk_when_asked(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(workspace.os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    workspace.append_timeline(str(tmp_path), {"task": "read"}, durable=False)
    assert [e["task"] for e in workspace.read_timeline(str(tmp_path))] == ["read"] and synced == []
    workspace.append_timeline(str(tmp_path), {"task": "changed"})
    assert len(synced) == 1
    workspace.sync_timeline(str(tmp_path))
    assert len(synced) == 2
    workspace.sync_timeline(str(tmp_path / "nothing-yet"))  # no timeline: nothing to do
    assert len(synced) == 2


def test_the_timeline_callback_puts_changes_and_failures_on_disk_at_once_the_rest_at_the_end(tmp_path, monkeypatch):
    from ansible_collections.mataresit.emergency.plugins.callback.incident_timeline import CallbackModule

    calls = []
    monkeypatch.setattr(workspace, "append_timeline", lambda d, e, durable=True: calls.append((e["status"], durable)))
    monkeypatch.setattr(workspace, "sync_timeline", lambda d: calls.append(("end", True)))
    callback = CallbackModule()
    callback._dir = str(tmp_path)
    for status in ("ok", "skipped", "changed", "failed", "unreachable", "ignored_failure"):
        callback._write({"status": status})
    callback.v2_playbook_on_stats(None)
    assert calls == [("ok", False), ("skipped", False), ("changed", True), ("failed", True), ("unreachable", True),
                     ("ignored_failure", True), ("end", True)]


class Ctx:
    def __init__(self, **params):
        self.params = params


def test_incident_records_reads_one_cluster(tmp_path):
    incident = str(tmp_path)
    eu, us = workspace.cluster_dir(incident, "eu"), workspace.cluster_dir(incident, "us")
    workspace.record(eu, workspace.SCALE, ["ns", "deployment", "app"], {"name": "app", "original_replicas": 3})
    workspace.record(us, workspace.SCALE, ["ns", "deployment", "app"], {"name": "app", "original_replicas": 9})
    bundle = os.path.join(workspace.evidence_dir(incident, "eu"), workspace.evidence_name("shop", 0) + ".tar.gz")
    workspace.write_private(bundle, b"x")
    result = incident_records.operation(Ctx(incident_dir=incident, cluster="eu",
                                            categories=["scale", "container_patch", "evidence"]))
    assert result["changed"] is False and result["cluster_dir"] == eu
    assert result["records"] == {"scale": [{"name": "app", "original_replicas": 3}], "container_patch": [],
                                 "evidence": [{"path": bundle, "namespace": "shop", "captured_at": "19700101T000000Z"}]}


def test_an_earlier_incident_must_exist_when_not_created(tmp_path):
    with pytest.raises(ConfigError, match="No incident workspace .*p1-missing: pass the id"):
        open_incident(str(tmp_path), "P1", "x", ["local"], incident_id="p1-missing", create=False)
    assert not (tmp_path / "p1-missing").exists()
    changed, opened = open_incident(str(tmp_path), "P1", "x", ["local"], incident_id="p1-here")
    assert changed and opened["incident_dir"] == str(tmp_path / "p1-here")
    changed, again = open_incident(str(tmp_path), "P1", "x", ["local"], incident_id="p1-here", create=False)
    assert not changed and again == opened


# -- nothing lost on a crash or a concurrent run (issue 7) ------------------------------------------------
def test_directories_are_0700_all_the_way_down_whatever_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        incident = str(tmp_path / "root" / "p0-x")
        workspace.record(workspace.cluster_dir(incident, "eu"), workspace.SCALE, ["ns", "app"], {"n": 1})
    finally:
        os.umask(old)
    for folder in (tmp_path / "root", tmp_path / "root" / "p0-x", tmp_path / "root" / "p0-x" / "clusters",
                   tmp_path / "root" / "p0-x" / "clusters" / "eu", tmp_path / "root" / "p0-x" / "clusters" / "eu" / "scale"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder


def test_writes_are_fsynced_temp_files_renamed_into_place(tmp_path, monkeypatch):
    synced, opened = [], []
    real_open, real_fsync = os.open, os.fsync
    monkeypatch.setattr(workspace.os, "open", lambda path, flags, *a: opened.append((str(path), flags)) or real_open(path, flags, *a))
    monkeypatch.setattr(workspace.os, "fsync", lambda fd: synced.append(fd) or real_fsync(fd))
    path = workspace.write_private(str(tmp_path / "state.json"), "{}")
    temp = [(p, f) for p, f in opened if p.endswith(".tmp")]
    assert len(temp) == 1 and temp[0][1] & os.O_EXCL and temp[0][1] & os.O_NOFOLLOW
    assert len(synced) == 2  # the file, then its directory
    assert open(path).read() == "{}" and os.listdir(tmp_path) == ["state.json"]


def test_a_planted_link_is_never_written_through(tmp_path):
    target = tmp_path / "victim"
    target.write_text("keep")
    link = tmp_path / "timeline.jsonl"
    link.symlink_to(target)
    with pytest.raises(ConfigError, match="Failed to append to"):
        workspace.append_timeline(str(tmp_path), {"task": "x"})
    workspace.write_private(str(tmp_path / "incident.json"), "{}")
    assert target.read_text() == "keep"


def test_a_failed_write_leaves_the_old_file_and_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "state.json"
    path.write_text("old")

    def no_space(src, dst):
        raise OSError(28, "No space left")

    monkeypatch.setattr(workspace.os, "replace", no_space)
    with pytest.raises(ConfigError, match="Failed to write .*state.json: No space left"):
        workspace.write_private(str(path), "new")
    assert path.read_text() == "old" and os.listdir(tmp_path) == ["state.json"]


def test_two_records_of_one_object_in_one_second_keep_both(tmp_path, monkeypatch):
    monkeypatch.setattr(workspace.time, "time", lambda: 1_800_000_000.25)  # a frozen clock: same microsecond
    first = workspace.record(str(tmp_path), workspace.SCALE, ["ns", "app"], {"replicas": 4})
    second = workspace.record(str(tmp_path), workspace.SCALE, ["ns", "app"], {"replicas": 6})
    assert first != second and sorted(os.listdir(tmp_path / "scale")) == [os.path.basename(first), os.path.basename(second)]
    assert workspace.latest(str(tmp_path), workspace.SCALE, ["ns", "app"]) == {"replicas": 6}


def test_a_line_cut_short_by_a_crash_is_a_clear_error_and_later_lines_survive(tmp_path):
    workspace.append_timeline(str(tmp_path), {"task": "a"})
    with open(tmp_path / workspace.TIMELINE_FILE, "a", encoding="utf-8") as handle:
        handle.write('{"task": "b", "sta')  # the write a crash cut short
    with pytest.raises(ConfigError, match=r"timeline .*: line 2 is not a JSON object .*repair or delete that line"):
        workspace.read_timeline(str(tmp_path))
    workspace.append_timeline(str(tmp_path), {"task": "c"})  # starts on a line of its own
    lines = (tmp_path / workspace.TIMELINE_FILE).read_text().splitlines()
    assert lines[0] == '{"task": "a"}' and lines[2] == '{"task": "c"}'


def test_one_run_per_incident(tmp_path):
    """The live ansible-playbook process that opened the incident holds it; another run is told which one."""
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        workspace.claim_run(str(tmp_path), holder.pid)
        assert workspace.claim_run(str(tmp_path), holder.pid)["pid"] == holder.pid  # the same run again: fine
        with pytest.raises(ConfigError, match=rf"another run is working on it \(ansible-playbook pid {holder.pid} .*"
                                              r"wait for it to finish"):
            workspace.claim_run(str(tmp_path), os.getpid())
        now, naps = [0.0], []

        def nap(seconds):
            naps.append(seconds)
            now[0] += seconds

        with pytest.raises(ConfigError, match="another run is working on it"):
            workspace.claim_run(str(tmp_path), os.getpid(), wait=2, sleep=nap, clock=lambda: now[0])
        assert sum(naps) >= 2  # it waited for the other run before giving up
    finally:
        holder.kill()
        holder.wait()
    assert workspace.claim_run(str(tmp_path), os.getpid())["pid"] == os.getpid()  # a lock whose run ended is taken over
    assert stat.S_IMODE((tmp_path / workspace.LOCK_FILE).stat().st_mode) == 0o600


def test_a_lock_of_a_reused_pid_is_taken_over(tmp_path):
    (tmp_path / workspace.LOCK_FILE).write_text(json.dumps({"pid": os.getpid(), "started": "1", "host": socket.gethostname()}))
    assert workspace.claim_run(str(tmp_path), os.getpid())["started"] != "1"
