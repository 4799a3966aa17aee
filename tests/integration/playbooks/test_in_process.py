"""The collection's modules run in the controller's process where they would run with its Python anyway
(plugin_utils/in_process.py), and as a process of their own elsewhere: the results are the same either way."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.integration.helpers import REPO


def run(cluster, namespace, tmp_path, *extra):
    results = tmp_path / f"results-{len(list(tmp_path.glob('results-*')))}.json"
    env = dict(os.environ, MRE_KUBECONFIG=cluster["kubeconfig"], ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
               ANSIBLE_STDOUT_CALLBACK="default", ANSIBLE_FORCE_COLOR="0",
               MRE_TIMELINE_DIR=str(tmp_path), PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    proc = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-vvv", "-i", "inventories/local",
                           "tests/integration/playbooks/plays/in_process.yml", "-e", f"target_namespace={namespace}",
                           "-e", f"results_file={results}", *extra],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    return proc.stdout, json.loads(results.read_text())


def stable(result):
    """What a run gives that does not depend on when it ran (ages and durations do)."""
    return {"keys": sorted(set(result) - {"ansible_job_id", "results_file", "started", "finished", "attempts"}),
            **{k: result.get(k) for k in ("changed", "failed", "msg", "verdict", "healthy", "findings")}}


def test_in_the_controllers_process_the_results_are_the_modules(cluster, namespace, workload, tmp_path):
    workload(namespace, wait=True)
    here_output, here = run(cluster, namespace, tmp_path)
    # Another path to the same Python: the module runs as a process of its own (AnsiballZ, async_wrapper).
    other = Path(sys.executable).parent / f"python{sys.version_info.major}.{sys.version_info.minor}"
    assert other.exists() and str(other) != sys.executable
    module_output, as_module = run(cluster, namespace, tmp_path, "-e", f"ansible_python_interpreter={other}")

    assert "AnsiballZ_triage.py" not in here_output and "async_wrapper" not in here_output
    assert "AnsiballZ_triage.py" in module_output and "async_wrapper" in module_output

    for name in ("triaged", "refused", "collected"):
        assert stable(here[name]) == stable(as_module[name]), name
    assert here["triaged"]["healthy"] is True and here["triaged"]["verdict"] == "unknown"
    assert here["refused"]["failed"] and "Unsupported parameters for (mataresit.emergency.triage) module: " \
        "no_such_option" in here["refused"]["msg"]
    assert here["started"]["started"] and not here["started"]["finished"] and here["started"]["changed"]
    assert here["collected"]["finished"] and here["collected"]["healthy"] is True
