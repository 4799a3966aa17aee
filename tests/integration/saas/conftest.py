"""Fixtures for the notification modules' integration tests.

- `saas_sandbox` (session): the local SaaS sandbox server (tests/sandbox), one per session.
- `sandbox`: the same server, reset for each test; after the test it fails the test if any
  request was rejected by the OpenAPI documents (unless the test called `sandbox.allow_rejections()`)
  or any response the sandbox returned failed them (unless `sandbox.allow_response_errors()`).
  When the documents are absent, every test using it gets a loud warning (validation SKIPPED).
- `smtp_server`: an aiosmtpd server that keeps the messages it receives (`.messages`).
- `run_saas(name, args, check_mode=False)`: runs a module like Ansible does and returns
  (result, stdout, stderr), for tests that search the raw output for secrets.
"""
from __future__ import annotations

import socket
import sys
import threading
import warnings
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.conftest import run_module_process  # noqa: E402
from tests.sandbox import Sandbox  # noqa: E402


@pytest.fixture(scope="session")
def saas_sandbox():
    server = Sandbox().start()
    yield server
    server.stop()


@pytest.fixture
def sandbox(saas_sandbox):
    server = saas_sandbox
    server.reset()
    server.rejections_allowed = False
    server.response_errors_allowed = False
    server.allow_rejections = lambda: setattr(server, "rejections_allowed", True)
    server.allow_response_errors = lambda: setattr(server, "response_errors_allowed", True)
    if not server.specs.enabled:
        warnings.warn(f"SaaS sandbox OpenAPI validation SKIPPED: {server.specs.skipped_reason}", RuntimeWarning)
    yield server
    problems = []
    if not server.rejections_allowed:
        problems += [f"request rejected by the spec: {r['method']} {r['path']}: {r['request_validation']['errors']}"
                     for r in server.rejected()]
    if not server.response_errors_allowed:
        problems += [f"sandbox response fails the spec: {r['method']} {r['path']} -> {r['status']}: "
                     f"{r['response_validation']['errors']}" for r in server.response_errors()]
    assert not problems, "\n".join(problems)


@pytest.fixture
def run_saas():
    def _run(name, args, check_mode=False, diff=False):
        result, stdout, stderr = run_module_process(name, args, check_mode=check_mode, diff=diff, timeout=120)
        assert "Traceback" not in stderr and "Traceback" not in str(result.get("msg", "")), stderr
        return result, stdout, stderr
    return _run


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Inbox:
    def __init__(self):
        self.messages = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        with self.lock:
            self.messages.append({"from": envelope.mail_from, "to": list(envelope.rcpt_tos),
                                  "data": envelope.content.decode("utf8", errors="replace"),
                                  "login": session.auth_data.login if session.auth_data else None,
                                  "tls": session.ssl is not None})
        return "250 Message accepted for delivery"


SMTP_USER, SMTP_PASSWORD = "notifier", "smtp-Pa55word-Sandbox"


def _authenticator(server, session, envelope, mechanism, auth_data):
    from aiosmtpd.smtp import AuthResult

    ok = auth_data.login.decode() == SMTP_USER and auth_data.password.decode() == SMTP_PASSWORD
    return AuthResult(success=ok, handled=False, auth_data=auth_data)


@pytest.fixture
def smtp_server():
    from aiosmtpd.controller import Controller

    inbox = _Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), authenticator=_authenticator,
                            auth_require_tls=False)
    controller.start()
    inbox.host, inbox.port, inbox.user, inbox.password = "127.0.0.1", controller.port, SMTP_USER, SMTP_PASSWORD
    yield inbox
    controller.stop()


def assert_clean(outputs, *secrets):
    """No secret value in any of the outputs (stdout / stderr / results of module runs)."""
    text = "\n".join(o if isinstance(o, str) else repr(o) for o in outputs)
    for secret in secrets:
        assert secret and secret not in text, "a secret value appears in the module output"
