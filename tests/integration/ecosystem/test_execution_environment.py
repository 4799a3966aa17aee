"""The execution environment: execution-environment.yml (ansible-builder v3) gives a build context that
installs the collection with every requirement it declares in meta/execution-environment.yml."""
from __future__ import annotations

import re

import yaml

from tests.integration.ecosystem.helpers import BIN, REPO, run

# Distribution names of the third-party modules the plugins import (optional_import / import).
IMPORT_NAMES = {"httpx": "httpx", "yaml": "PyYAML", "prometheus_client": "prometheus-client",
                "cryptography": "cryptography"}


def name_of(requirement):
    return re.split(r"[<>=!~ \[;#]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def pins(path):
    return {name_of(line): line.split("==", 1)[1].strip() for line in path.read_text().splitlines()
            if "==" in line and not line.startswith("#")}


def test_collection_declares_what_its_plugins_import():
    meta = yaml.safe_load((REPO / "meta" / "execution-environment.yml").read_text())
    python = REPO / meta["dependencies"]["python"]
    system = REPO / meta["dependencies"]["system"]
    assert python.is_file() and system.is_file()
    declared = {name_of(line) for line in python.read_text().splitlines() if line.strip() and not line.startswith("#")}
    imported = set()
    for path in (REPO / "plugins").rglob("*.py"):
        text = path.read_text()
        imported |= set(re.findall(r"optional_import\(\"([a-z_]+)", text))
        imported |= set(re.findall(r"^(?:import|from) ([a-z_]+)", text, re.M))
    third_party = {IMPORT_NAMES[name] for name in imported if name in IMPORT_NAMES}
    assert {"httpx", "PyYAML", "prometheus-client", "cryptography"} <= third_party
    assert {name_of(n) for n in third_party} == declared
    assert "ca-certificates" in system.read_text()


def test_ansible_builder_context_lists_every_requirement(installed_collection, tmp_path):
    definition = yaml.safe_load((REPO / "execution-environment.yml").read_text())
    assert definition["version"] == 3
    context = tmp_path / "context"
    proc = run([BIN / "ansible-builder", "create", "-f", REPO / "execution-environment.yml", "--context", context])
    assert proc.returncode == 0 and "Complete!" in proc.stdout, proc.stdout + proc.stderr
    containerfile = next(context / name for name in ("Containerfile", "Dockerfile") if (context / name).exists())
    text = containerfile.read_text()

    # ansible-core and ansible-runner at the versions this repository tests with.
    ours = pins(REPO / "constraints.txt")
    refs = re.search(r'ARG ANSIBLE_INSTALL_REFS="([^"]*)"', text).group(1).split()
    assert {name_of(r): r.split("==")[1] for r in refs} == {k: ours[k] for k in ("ansible-core", "ansible-runner")}
    # The collection, from Galaxy, at the version of galaxy.yml.
    galaxy = yaml.safe_load((context / "_build" / "requirements.yml").read_text())
    version = yaml.safe_load((REPO / "galaxy.yml").read_text())["version"]
    assert galaxy["collections"] == [{"name": "mataresit.emergency", "version": f"=={version}"}]
    # The user-level Python pins are ours.
    user_pins = pins(context / "_build" / "requirements.txt")
    assert user_pins and all(ours[name] == version for name, version in user_pins.items())

    # The build's introspection of the installed collection (the script the image build runs) finds every
    # requirement of meta/execution-environment.yml.
    pip, bindep = tmp_path / "pip.txt", tmp_path / "bindep.txt"
    proc = run([BIN / "python", context / "_build" / "scripts" / "introspect.py", "introspect", installed_collection,
                "--user-pip", context / "_build" / "requirements.txt", "--write-pip", pip, "--write-bindep", bindep])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    from_collection = {name_of(line) for line in pip.read_text().splitlines() if "from collection mataresit.emergency" in line}
    declared = {name_of(line) for line in (REPO / "meta" / "ee-requirements.txt").read_text().splitlines()
                if line.strip() and not line.startswith("#")}
    assert from_collection == declared - {"pyyaml"}  # ansible-core brings PyYAML: ansible-builder leaves it out
    assert user_pins.keys() <= {name_of(line) for line in pip.read_text().splitlines()}
    assert "ca-certificates" in bindep.read_text() and "mataresit.emergency" in bindep.read_text()
