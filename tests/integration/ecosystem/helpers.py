"""Helpers of the ecosystem tests: run a command, and the environment of a user of the installed collection."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
VERSION = next(line.split(":", 1)[1].strip() for line in (REPO / "galaxy.yml").read_text().splitlines()
               if line.startswith("version:"))
TARBALL = f"mataresit-emergency-{VERSION}.tar.gz"


def run(cmd, cwd=REPO, env=None, timeout=600):
    """Run a command, returning the completed process (stdout and stderr as text)."""
    return subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)


def user_env(collections, home, **extra):
    """A user's environment: the installed collection only, their own (empty) ansible.cfg."""
    home.mkdir(parents=True, exist_ok=True)
    config = home / "ansible.cfg"
    config.write_text("[defaults]\n")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ANSIBLE_", "MOLECULE_")) and k not in ("PYTHONPATH", "KUBECONFIG")}
    # COLLECTIONS_SCAN_SYS_PATH off: the dev venv puts the checkout's .collections on sys.path (a .pth file).
    env.update(ANSIBLE_CONFIG=str(config), ANSIBLE_COLLECTIONS_PATH=str(collections), ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false",
               ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="0", PATH=f"{BIN}:{os.environ['PATH']}")
    env.update({k: str(v) for k, v in extra.items()})
    return env
