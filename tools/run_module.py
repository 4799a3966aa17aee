"""Run a collection module the way Ansible does: a fresh Python process given
ANSIBLE_MODULE_ARGS (real AnsibleModule, no_log, check and diff mode)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COLLECTIONS = REPO / ".collections"


def module_env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(COLLECTIONS), env.get("PYTHONPATH", "")])
    return env


def run_module_process(name, args, check_mode=False, diff=False, timeout=600):
    """Run plugins/modules/<name>.py as Ansible would and return (result, stdout, stderr)."""
    payload = {"ANSIBLE_MODULE_ARGS": dict(args, _ansible_check_mode=check_mode, _ansible_diff=diff,
                                           _ansible_remote_tmp="/tmp", _ansible_keep_remote_files=False)}
    proc = subprocess.run(
        [sys.executable, "-m", f"ansible_collections.mataresit.emergency.plugins.modules.{name}"],
        input=json.dumps(payload), capture_output=True, text=True, env=module_env(), timeout=timeout, check=False,
    )
    try:
        result = json.loads(proc.stdout)
    except ValueError:
        raise AssertionError(f"module {name} printed no JSON (rc={proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return result, proc.stdout, proc.stderr
