"""The incident workspace's layout, records and reader, and the incident_records module's operation."""
from __future__ import annotations

import os
import stat

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
