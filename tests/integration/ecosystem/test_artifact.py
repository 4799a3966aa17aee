"""The release artifact: only the collection goes into it, whatever the checkout holds, and the installed
copy runs the P0 playbook by its FQCN against the local cluster with nothing from this checkout."""
from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import uuid

import httpx
import pytest
import yaml

from tests.integration.ecosystem.helpers import BIN, REPO, TARBALL, run, user_env
from tests.integration.playbooks.helpers import break_app, deployment

# What a user's collection holds; anything else in the tarball is a leak from the checkout.
COLLECTION_TOP = {"MANIFEST.json", "FILES.json", "README.md", "CONTRIBUTING.md", "CHANGELOG.md", "COPYING",
                  "changelogs", "docs", "extensions", "inventories", "meta", "playbooks", "plugins", "roles"}
# What a checkout may hold besides the collection: virtual environments, caches, run and build output.
JUNK = [".venv/bin/python", ".venv-sanity/lib/site.py", ".venv-importer/pyvenv.cfg", ".pytest_cache/v/x",
        ".mypy_cache/x.json", ".ruff_cache/x", ".cache/pip/x", ".tox/py/x", ".idea/workspace.xml",
        "run/cluster/kubeconfig", "run/incidents/x/timeline.jsonl", "build/docs/index.html", "dist/x.whl",
        "context/Containerfile", "tests/output/bot/x.json", "node_modules/x/index.js", "x.egg-info/PKG-INFO",
        "plugins/modules/__pycache__/triage.cpython-311.pyc", "plugins/module_utils/.DS_Store",
        "roles/p0_outage/tasks/.main.yml.swp", f"mataresit-emergency-{'0.0.1'}.tar.gz", "debug.log"]


def members(tarball):
    with tarfile.open(tarball) as tar:
        entries = {m.name: m for m in tar.getmembers()}
        return entries, {name: tar.extractfile(m).read() for name, m in entries.items() if m.isfile()}


def shipped_files():
    """Tracked files of the checkout that belong in the collection (build_ignore of galaxy.yml applied)."""
    ignore = yaml.safe_load((REPO / "galaxy.yml").read_text())["build_ignore"] + ["galaxy.yml"]
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    out = set()
    for path in tracked:
        parts = path.split("/")
        prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
        if not any(fnmatch.fnmatch(p, pattern) for p in prefixes for pattern in ignore) and (REPO / path).exists():
            out.add(path)
    return out


def assert_only_the_collection(tarball):
    entries, files = members(tarball)
    leaked = sorted(name for name in entries if name.split("/")[0] not in COLLECTION_TOP
                    or any(part.startswith(".") or part == "__pycache__" for part in name.split("/")))
    assert not leaked, f"not part of the collection: {leaked[:20]}"
    missing = sorted(shipped_files() - set(files))
    assert not missing, f"collection files left out of the artifact: {missing}"
    # FILES.json lists every file with its checksum, as galaxy and `ansible-galaxy collection verify` read it.
    listed = {f["name"]: f["chksum_sha256"] for f in json.loads(files["FILES.json"])["files"] if f["ftype"] == "file"}
    assert listed == {name: hashlib.sha256(data).hexdigest() for name, data in files.items()
                      if name not in ("MANIFEST.json", "FILES.json")}
    return entries


def test_the_artifact_holds_only_the_collection(collection_tarball, tmp_path):
    # As built from this checkout (with its .venv, run/ and whatever the test command left) ...
    assert_only_the_collection(collection_tarball)
    assert collection_tarball.stat().st_size < 1_000_000

    # ... and from a checkout cluttered with everything a developer's machine accumulates.
    clone = tmp_path / "checkout"
    tracked = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True,
                             text=True, check=True).stdout.split()
    for path in tracked:
        if (REPO / path).is_file():
            (clone / path).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / path, clone / path)
    for junk in JUNK:
        (clone / junk).parent.mkdir(parents=True, exist_ok=True)
        (clone / junk).write_text("not part of the collection\n")
    (clone / ".collections/ansible_collections/mataresit").mkdir(parents=True)
    os.symlink("../../..", clone / ".collections/ansible_collections/mataresit/emergency")
    out = tmp_path / "out"
    proc = run([BIN / "ansible-galaxy", "collection", "build", "--output-path", out], cwd=clone)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    entries = assert_only_the_collection(out / TARBALL)
    assert {"playbooks/p0_outage.yml", "plugins/callback/oncall.py", "meta/execution-environment.yml",
            "meta/ee-requirements.txt", "changelogs/changelog.yaml", "CHANGELOG.md"} <= set(entries)


def test_installed_collection_needs_nothing_from_the_checkout(installed_collection):
    root = installed_collection / "ansible_collections" / "mataresit" / "emergency"
    # Content that runs (not prose): no path into the developer tooling, the tests or the local cluster.
    hits = [f"{path.relative_to(root)}:{n}" for path in root.rglob("*") if path.suffix in (".yml", ".yaml", ".py", ".j2")
            and "changelogs" not in path.parts
            for n, line in enumerate(path.read_text().splitlines(), 1)
            if any(ref in line for ref in ("tools/", "tests/", "run/cluster", ".collections"))]
    assert not hits, hits


def test_every_playbook_runs_by_fqcn_and_by_path(installed_collection, tmp_path):
    # The documented paths (p0-outage.yml, ...) and the playbooks whose file name is their FQCN (incident.yml, ...).
    def documented(p):
        twin = p.stem.replace("_", "-")
        return "-" in p.stem or twin == p.stem or not (p.parent / f"{twin}.yml").exists()

    playbooks = sorted(p for p in (REPO / "playbooks").glob("*.yml") if documented(p))
    fqcns = [f"mataresit.emergency.{p.stem.replace('-', '_')}" for p in playbooks]
    assert {"mataresit.emergency.p0_outage", "mataresit.emergency.incident", "mataresit.emergency.drill",
            "mataresit.emergency.escalate"} <= set(fqcns)
    paths = [installed_collection / "ansible_collections/mataresit/emergency/playbooks" / p.name for p in playbooks]
    env = user_env(installed_collection, tmp_path / "home")
    proc = run([BIN / "ansible-playbook", "--syntax-check", "-i", "localhost,", *fqcns, *paths], cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("playbook: ") == 2 * len(playbooks)
    # The documented path in a checkout still works too.
    proc = run([BIN / "ansible-playbook", "--syntax-check", "-i", "localhost,", "playbooks/p0-outage.yml"],
               env=dict(env, ANSIBLE_CONFIG=str(REPO / "ansible.cfg")))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_installed_collection_recovers_a_p0_outage_by_fqcn(installed_collection, user_project, cluster, k8s, sandbox,
                                                           namespace, workload, tmp_path):
    if not cluster.get("local"):
        pytest.skip("the inventory's health targets are the local cluster's health server")
    workload(namespace, wait=True)
    break_app(k8s, namespace)
    incident_id = f"inst-{uuid.uuid4().hex[:8]}"
    settings = tmp_path / "sandbox.json"
    settings.write_text(json.dumps(sandbox.settings()))
    env = user_env(installed_collection, tmp_path / "home", MRE_KUBECONFIG=cluster["kubeconfig"],
                   MRE_INCIDENTS_DIR=tmp_path / "incidents",
                   # As README tells users: the on-call output and the incident timeline, enabled by name.
                   ANSIBLE_STDOUT_CALLBACK="mataresit.emergency.oncall",
                   ANSIBLE_CALLBACKS_ENABLED="mataresit.emergency.incident_timeline")

    where = run([BIN / "ansible-galaxy", "collection", "list", "mataresit.emergency"], cwd=user_project, env=env)
    assert f"# {installed_collection / 'ansible_collections'}" in where.stdout and str(REPO) not in where.stdout

    proc = run([BIN / "ansible-playbook", "mataresit.emergency.p0_outage", "-i", "inventory",
                "-e", 'reason="api 5xx after deploy"', "-e", f"incident_id={incident_id}",
                "-e", f"emergency_namespace={namespace}", "-e", f"@{settings}"], cwd=user_project, env=env)
    (tmp_path / "console.txt").write_text(proc.stdout)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]

    # Recovered: the good image is back, fully available, and the app answers healthy.
    dep = deployment(k8s, namespace)
    assert dep.spec.template.spec.containers[0].image == "paperless-maverick:latest"
    assert dep.status.available_replicas == dep.spec.replicas == 3
    assert httpx.get(f"{cluster['health_url']}/health", params={"namespace": namespace}).status_code == 200
    events = [w["json"]["event_action"] for w in sandbox.accepted_writes() if w["service"] == "pagerduty-events"]
    assert events == ["trigger", "resolve"]

    # The installed callbacks did their work: the timeline and the report are in the workspace.
    workspace = tmp_path / "incidents" / incident_id
    timeline = [json.loads(line) for line in (workspace / "timeline.jsonl").read_text().splitlines()]
    assert any(e["action"].endswith("rollout") and e["status"] == "changed" for e in timeline)
    assert (workspace / "postmortem.md").exists()

    # The console: the assessment, the action with its result, the outcome; one screen, no skipped tasks.
    out = proc.stdout
    lines = out.splitlines()
    assert len(lines) <= 40, out
    assert "TASK [" not in out and "skipping" not in out and "included:" not in out
    assert "verdict: recent_bad_deploy (recommended: rollback)" in out
    assert any(line.strip().startswith("local") and "+ changed: Roll back the deployment" in line
               and "revision 1" in line for line in lines), out
    assert "recovery validated" in out
    outcome = lines[lines.index(next(line for line in lines if line.startswith("OUTCOME"))) + 1]
    assert outcome.split() == ["local", "RECOVERED:", "by", "rollback"], out
    assert any(line.startswith("local ") and "failed=0" in line and "changed=" in line for line in lines)
