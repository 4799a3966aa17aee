"""pytest fixtures for anything that talks to the SaaS sandbox or an SMTP server.

Use them from a conftest.py with `from tests.sandbox.fixtures import *  # noqa: F401,F403`
(tests/integration/saas/conftest.py does):
- `saas_sandbox` (session): the sandbox server, one per session (per xdist worker).
- `sandbox`: the same server, reset for each test. After the test it fails the test if any
  request was rejected by the OpenAPI documents (unless the test called `sandbox.allow_rejections()`)
  or any response the sandbox returned failed them (unless `sandbox.allow_response_errors()`).
  When the documents are absent every test using it gets a loud warning (validation SKIPPED).
- `smtp_server`, `smtp_starttls_server`: aiosmtpd servers keeping what they receive (`.messages`).
- `run_saas(name, args, check_mode=False, diff=False)`: runs a module like Ansible does and returns
  its result dict, with the raw `.stdout` / `.stderr` of the run (tests search them for secrets).
- `assert_clean(outputs, *secrets)`: no secret value in any output.
"""
from __future__ import annotations

import socket
import sys
import threading
import warnings
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.conftest import run_module_process  # noqa: E402
from tests.sandbox.server import Sandbox  # noqa: E402


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


class ModuleRun(dict):
    """A module's result, with the raw stdout / stderr of its run (to search them for secrets)."""

    def __init__(self, result, stdout, stderr):
        super().__init__(result)
        self.stdout, self.stderr = stdout, stderr


@pytest.fixture
def run_saas():
    def _run(name, args, check_mode=False, diff=False):
        result, stdout, stderr = run_module_process(name, args, check_mode=check_mode, diff=diff, timeout=120)
        assert "Traceback" not in stderr and "Traceback" not in str(result.get("msg", "")), stderr
        return ModuleRun(result, stdout, stderr)
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


def self_signed(tmp_path, stem="tls"):
    """A throwaway self-signed certificate for 127.0.0.1 (cert path, key path) in tmp_path."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = Path(tmp_path) / f"{stem}.crt", Path(tmp_path) / f"{stem}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


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
