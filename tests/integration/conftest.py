"""Fixtures for anything that talks to the SaaS sandbox (tools/sandbox) or an SMTP server.

- `saas_sandbox` (session): the sandbox server, one per session (per xdist worker).
- `sandbox`: the same server, reset for each test. After the test it fails the test if any
  request was rejected by the OpenAPI documents (unless the test called `sandbox.allow_rejections()`)
  or any response the sandbox returned failed them (unless `sandbox.allow_response_errors()`).
  When the documents are absent every test using it gets a loud warning (validation SKIPPED).
  (tests/integration/playbooks/conftest.py gives each playbook test a sandbox of its own instead.)
- `smtp_server`, `smtp_starttls_server`: aiosmtpd servers keeping what they receive (`.messages`).
- `own_node`: an extra kwok node for one test (tainted: only pods that tolerate it land there), deleted after.
- `run_saas(name, args, check_mode=False, diff=False)`: runs a module like Ansible does and returns
  its result dict, with the raw `.stdout` / `.stderr` of the run (tests search them for secrets).
Helpers (`assert_clean`, `free_port`, `REPO`) are in tests/integration/helpers.py.
"""
from __future__ import annotations

import threading
import warnings

import pytest
from kubernetes import client as kube

from tests.integration.helpers import ModuleRun, free_port, wait_for
from tools.run_module import run_module_process
from tools.sandbox import Sandbox
from tools.tls import self_signed


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
    assert server.wait_idle(), "the sandbox still has requests in flight"
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
        return ModuleRun(result, stdout, stderr)
    return _run


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


@pytest.fixture
def smtp_starttls_server(tmp_path):
    """An SMTP server that requires STARTTLS (self-signed certificate at `.ca_cert`)."""
    import ssl

    from aiosmtpd.controller import Controller

    cert_path, key_path = self_signed(tmp_path, "smtp")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
    inbox = _Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), tls_context=context, require_starttls=True,
                            authenticator=_authenticator)
    controller.start()
    inbox.host, inbox.port, inbox.user, inbox.password = "127.0.0.1", controller.port, SMTP_USER, SMTP_PASSWORD
    inbox.ca_cert = str(cert_path)
    yield inbox
    controller.stop()


NODE_RESOURCES = {"cpu": "8", "memory": "32Gi", "pods": "110", "ephemeral-storage": "100Gi"}


@pytest.fixture
def own_node(k8s, namespace):
    """An extra kwok node for this test only (tainted so no one else's pods land on it); deleted afterwards."""
    name = f"{namespace}-node"
    taint_key = "mataresit.test/owner"
    k8s.core.create_node(kube.V1Node(
        metadata=kube.V1ObjectMeta(name=name, annotations={"kwok.x-k8s.io/node": "fake"},
                                   labels={"type": "kwok", "kubernetes.io/hostname": name, "mataresit.test": "true"}),
        spec=kube.V1NodeSpec(taints=[kube.V1Taint(key=taint_key, value=namespace, effect="NoSchedule")]),
        status=kube.V1NodeStatus(allocatable=NODE_RESOURCES, capacity=NODE_RESOURCES)))
    try:
        wait_for(f"node {name} Ready", lambda: any(
            c.type == "Ready" and c.status == "True" for c in k8s.core.read_node(name).status.conditions or []))
        yield {"name": name, "toleration": {"key": taint_key, "operator": "Equal", "value": namespace,
                                            "effect": "NoSchedule"}}
    finally:
        try:
            k8s.core.delete_node(name)
        except Exception:  # noqa: BLE001 - cleanup best effort
            pass
