"""email module against a real SMTP server (aiosmtpd)."""
from __future__ import annotations

from email import message_from_string

from tests.integration.helpers import assert_clean, free_port


def mail_args(smtp, **extra):
    return dict(dict(host=smtp.host, port=smtp.port, secure="never", username=smtp.user, password=smtp.password,
                     sender="oncall@mataresit.example", to=["incident-response@mataresit.example"],
                     cc=["sre-leads@mataresit.example"], bcc=["audit@mataresit.example"],
                     subject="[P0] Paperless Maverick outage - INC-400",
                     body="API down since 17:02 UTC.\nRollback in progress.", incident_id="INC-400"), **extra)


def test_sends_once_per_incident(smtp_server, run_saas, tmp_path):
    args = mail_args(smtp_server, incident_dir=str(tmp_path))
    result = run_saas("email", args)
    assert result["changed"] is True and result["refused"] == {}
    (received,) = smtp_server.messages
    assert received["login"] == smtp_server.user.encode()
    assert received["to"] == ["incident-response@mataresit.example", "sre-leads@mataresit.example", "audit@mataresit.example"]
    message = message_from_string(received["data"])
    assert message["Subject"] == "[P0] Paperless Maverick outage - INC-400" and message["Bcc"] is None
    assert message["X-Mataresit-Incident"] == "INC-400" and "Rollback in progress." in message.get_payload()
    again = run_saas("email", args)
    assert again["changed"] is False and len(smtp_server.messages) == 1
    assert_clean([result, again], smtp_server.password)


def test_check_mode_sends_nothing(smtp_server, run_saas):
    result = run_saas("email", mail_args(smtp_server), check_mode=True)
    assert result["changed"] is True and smtp_server.messages == []
    assert result["message"]["headers"]["Subject"] == "[P0] Paperless Maverick outage - INC-400"
    assert result["message"]["recipients"][-1] == "audit@mataresit.example"
    assert_clean([result], smtp_server.password)


def test_wrong_password_is_one_clear_line(smtp_server, run_saas):
    result = run_saas("email", mail_args(smtp_server, password="not-the-password-at-all"))
    assert result["failed"] is True and smtp_server.messages == []
    assert result["msg"] == (f"Failed to send the email: the SMTP server {smtp_server.host}:{smtp_server.port} rejected "
                             "the login (535): check username and password")
    assert_clean([result], "not-the-password-at-all")


def test_starttls_required_but_not_offered(smtp_server, run_saas):
    result = run_saas("email", mail_args(smtp_server, secure="starttls"))
    assert result["failed"] is True and "does not support STARTTLS" in result["msg"] and "check secure" in result["msg"]


def test_unreachable_server(run_saas):
    port = free_port()
    result = run_saas("email", dict(host="127.0.0.1", port=port, secure="never", to=["a@example.com"], subject="s"))
    assert result["failed"] is True
    assert result["msg"].startswith(f"Failed to send the email: the SMTP server 127.0.0.1:{port} is unreachable")


def test_starttls_with_verified_certificate_and_login(smtp_starttls_server, run_saas):
    smtp = smtp_starttls_server
    result = run_saas("email", mail_args(smtp, secure="starttls", ca_cert=smtp.ca_cert))
    assert result["changed"] is True
    (received,) = smtp.messages
    assert received["tls"] is True and received["login"] == smtp.user.encode()
    assert_clean([result], smtp.password)


def test_starttls_with_an_untrusted_certificate_fails_clearly(smtp_starttls_server, run_saas):
    result = run_saas("email", mail_args(smtp_starttls_server, secure="starttls"))
    assert result["failed"] is True and smtp_starttls_server.messages == []
    assert result["msg"].startswith(f"Failed to send the email: TLS with 127.0.0.1:{smtp_starttls_server.port} failed")
    assert result["msg"].endswith("check secure, ca_cert and validate_certs")
