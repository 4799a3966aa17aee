"""Helpers shared by the integration tests (fixtures are in conftest.py beside this file)."""
from __future__ import annotations

import socket
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


class ModuleRun(dict):
    """A module's result, with the raw stdout / stderr of its run (to search them for secrets)."""

    def __init__(self, result, stdout, stderr):
        super().__init__(result)
        self.stdout, self.stderr = stdout, stderr


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def assert_clean(outputs, *secrets):
    """No secret value in any output: module runs (their stdout and stderr) or plain text."""
    parts = []
    for output in outputs:
        if isinstance(output, ModuleRun):
            parts += [output.stdout, output.stderr, repr(dict(output))]
        else:
            parts.append(output if isinstance(output, str) else repr(output))
    text = "\n".join(parts)
    for secret in secrets:
        assert secret and secret not in text, "a secret value appears in the module output"


def wait_for(what, predicate, timeout=120, interval=1.0):
    """Poll predicate() until it returns something truthy; fail naming what never happened."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what} did not happen within {timeout}s")
        time.sleep(interval)
