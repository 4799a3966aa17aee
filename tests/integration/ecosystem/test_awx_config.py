"""The AWX / Automation Controller definitions (awx/controller.yml) against the awx.awx collection itself:
the playbook passes ansible-playbook's syntax check, every module option it sets exists (with an allowed
value where it is not templated), and what it names exists in this repository."""
from __future__ import annotations

import json
import zipfile

import pytest
import yaml

from tests.integration.ecosystem.helpers import BIN, REPO, run, user_env

CONTROLLER = REPO / "awx" / "controller.yml"
# awx.awx is not installable from Galaxy here; the community `ansible` package on PyPI ships it (its last
# release with awx.awx for Python 3.11). Only that collection is taken from the wheel.
AWX_SOURCE = "ansible==12.3.0"


class _Unsafe(yaml.SafeLoader):
    pass


_Unsafe.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))


@pytest.fixture(scope="session")
def awx_collection(tmp_path_factory):
    wheels = tmp_path_factory.mktemp("wheels")
    proc = run([BIN / "pip", "download", "-q", "--disable-pip-version-check", "--no-deps", AWX_SOURCE, "-d", wheels],
               timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    root = tmp_path_factory.mktemp("awx")
    with zipfile.ZipFile(next(wheels.glob("*.whl"))) as wheel:
        for name in wheel.namelist():
            if name.startswith("ansible_collections/awx/awx/"):
                wheel.extract(name, root)
    return root


def module_options(awx_collection, tmp_path, modules):
    env = user_env(awx_collection, tmp_path / "home")
    proc = run([BIN / "ansible-doc", "--json", *modules], cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    return {name: doc["doc"]["options"] for name, doc in json.loads(proc.stdout).items()}


def check_args(args, options, where):
    """Every key an option (or alias) of the module, recursively into suboptions; literal values in choices."""
    problems = []
    by_name = dict(options)
    by_name.update({alias: spec for spec in options.values() for alias in spec.get("aliases", [])})
    for key, value in args.items():
        spec = by_name.get(key)
        if spec is None:
            problems.append(f"{where}.{key}: not an option")
            continue
        if isinstance(value, str) and "{{" in value:
            continue
        if spec.get("choices") and not isinstance(value, (list, dict)) and value not in spec["choices"]:
            problems.append(f"{where}.{key}: {value!r} not in {spec['choices']}")
        if spec.get("suboptions"):
            items = value if isinstance(value, list) else [value]
            for n, item in enumerate(items):
                if isinstance(item, dict):
                    problems += check_args(item, spec["suboptions"], f"{where}.{key}[{n}]")
    return problems


def test_awx_definitions_match_the_awx_collection_and_this_repository(awx_collection, tmp_path):
    env = user_env(awx_collection, tmp_path / "home")
    proc = run([BIN / "ansible-playbook", "--syntax-check", CONTROLLER], cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr

    play = yaml.load(CONTROLLER.read_text(), Loader=_Unsafe)[0]
    tasks = play["tasks"]
    modules = sorted({key for task in tasks for key in task if key.startswith("awx.awx.")})
    options = module_options(awx_collection, tmp_path, modules)
    problems = []
    for task in tasks:
        module = next(key for key in task if key.startswith("awx.awx."))
        problems += check_args(task[module], options[module], f"{task['name']}: {module}")
    assert not problems, "\n".join(problems)

    # What the definitions name exists here: the playbooks, the inventories, the survey's variables, the EE.
    for procedure in play["vars"]["awx_procedures"]:
        assert (REPO / procedure["playbook"]).is_file(), procedure
    for environment in play["vars"]["awx_environments"]:
        assert (REPO / "inventories" / environment / "hosts.yml").is_file()
    survey = {q["variable"]: q for q in play["vars"]["awx_survey"]["spec"]}
    assert survey["reason"]["required"] and survey["incident_confirmed"]["choices"] == ["true"]
    incident_defaults = (REPO / "roles" / "incident" / "defaults" / "main.yml").read_text()
    assert "reason" in incident_defaults and "incident_confirmed" in incident_defaults
    ee_tag = yaml.safe_load((REPO / "execution-environment.yml").read_text())["options"]["tags"][0]
    assert play["vars"]["awx_ee_image"].endswith("/" + ee_tag)

    # The workflow: assessment in check mode, an approval, then the run; the job templates prompt for the type.
    workflow = next(t["awx.awx.workflow_job_template"] for t in tasks if "awx.awx.workflow_job_template" in t)
    nodes = {n["identifier"]: n for n in workflow["workflow_nodes"]}
    assert [nodes["assess"]["job_type"], nodes["recover"]["job_type"]] == ["check", "run"]
    assert nodes["approve"]["unified_job_template"]["type"] == "workflow_approval"
    assert nodes["assess"]["related"]["success_nodes"] == [{"identifier": "approve"}]
    assert nodes["approve"]["related"]["success_nodes"] == [{"identifier": "recover"}]
    template = next(t["awx.awx.job_template"] for t in tasks if "awx.awx.job_template" in t)
    assert template["ask_job_type_on_launch"] and template["survey_enabled"]
    assert "job_slice_count" in template
