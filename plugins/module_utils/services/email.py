"""Email to the incident lists over SMTP (standard library smtplib):
plain, STARTTLS or implicit TLS, optional login. Check mode sends nothing and
returns the message that would be sent; with incident_dir an identical re-run
reports changed=false."""
from __future__ import annotations

import re
import smtplib
import socket
import ssl
from email.message import EmailMessage
from email.utils import formatdate, getaddresses, make_msgid

from ansible_collections.mataresit.emergency.plugins.module_utils.errors import ApiError, ConfigError, UnreachableError
from ansible_collections.mataresit.emergency.plugins.module_utils import notifications

DEFAULT_PORTS = {"never": 25, "starttls": 587, "tls": 465}
ADDRESS = re.compile(r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+$")


def _address(value):
    """Whether value is one address ('a@b.c' or 'Name <a@b.c>'), on one line."""
    text = str(value)
    found = getaddresses([text])
    return not any(c in text for c in "\r\n\x00") and len(found) == 1 and bool(ADDRESS.match(found[0][1] or ""))


def check_headers(params):
    """ConfigError naming the option when a header value could inject headers (CR / LF) or an address is not one."""
    for option in ("subject", "sender", "incident_id"):
        value = params.get(option)
        if value is not None and any(c in str(value) for c in "\r\n\x00"):
            raise ConfigError(f"Failed to build the email: {option} contains a line break; give it on one line.")
    for option in ("to", "cc", "bcc"):
        for address in params.get(option) or []:
            if not _address(address):
                raise ConfigError(f"Failed to build the email: {option} entry {str(address)[:100]!r} is not an email "
                                  f"address (one address per entry, no line breaks); check '{option}'.")
    if not _address(params.get("sender") or ""):
        raise ConfigError("Failed to build the email: sender is not an email address; check 'sender'.")
    if not str(params.get("host") or "").strip():
        raise ConfigError("Failed to send the email: host is empty; give the SMTP server's name or address.")
    port = params.get("port")
    if port is not None and not 0 < port < 65536:
        raise ConfigError(f"Failed to send the email: port {port} is not a TCP port (1-65535); check 'port'.")


def build_message(params):
    """The EmailMessage for params (no Date / Message-ID: those are added at send time)."""
    check_headers(params)
    recipients = list(params.get("to") or [])
    if not recipients:
        raise ConfigError("Failed to build the email: set at least one address in to")
    msg = EmailMessage()
    msg["From"] = params["sender"]
    msg["To"] = ", ".join(recipients)
    if params.get("cc"):
        msg["Cc"] = ", ".join(params["cc"])
    msg["Subject"] = params["subject"]
    if params.get("incident_id"):
        msg["X-Mataresit-Incident"] = str(params["incident_id"])
    msg.set_content(params.get("body") or "")
    if params.get("calendar"):
        # An invitation: calendar clients read the text/calendar alternative (METHOD:REQUEST).
        msg.add_alternative(params["calendar"], subtype="calendar", params={"method": "REQUEST"})
    return msg


def _tls_context(params):
    ctx = ssl.create_default_context(cafile=params.get("ca_cert") or None)
    if not params.get("validate_certs", True):
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def operation(ctx):
    """The email module: send once per identical message with incident_dir; in check mode only build it."""
    params = ctx.params
    msg = build_message(params)
    recipients = list(params["to"]) + list(params.get("cc") or []) + list(params.get("bcc") or [])
    port = params.get("port") or DEFAULT_PORTS[params["secure"]]
    preview = {"host": params["host"], "port": port, "secure": params["secure"], "from": params["sender"],
               "recipients": recipients, "headers": dict(msg.items()), "body": params.get("body") or ""}
    if params.get("calendar"):
        preview["calendar"] = params["calendar"]
    # One record per incident and subject: the declaration, the resolution and the review invitation each once.
    key = f"{params.get('incident_id') or 'email'} {params['subject']}"
    digest = notifications.fingerprint(params["host"], port, recipients, preview["headers"], preview["body"],
                                       params.get("calendar") or "")
    result = {"changed": False, "message": preview}
    if notifications.already_sent(params.get("incident_dir"), "email", key, digest):
        result["msg"] = "this email was already sent (recorded in incident_dir)"
        return result
    result["changed"] = True
    if ctx.check_mode:
        return result
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = make_msgid(domain=params["sender"].rpartition("@")[2] or None)
    refused = send(params, port, msg, recipients)
    result["refused"] = refused
    record = notifications.remember_sent(params.get("incident_dir"), "email", key, digest, preview, {"refused": refused})
    if record:
        result["record"] = record
    return result


def send(params, port, msg, recipients):
    """Deliver msg; return the recipients the server refused (the rest were accepted)."""
    host, secure, timeout = params["host"], params["secure"], params["request_timeout"]
    where = f"{host}:{port}"
    try:
        if secure == "tls":
            server = smtplib.SMTP_SSL(host, port, timeout=timeout, context=_tls_context(params))
        else:
            server = smtplib.SMTP(host, port, timeout=timeout)
    except (OSError, smtplib.SMTPException) as exc:
        raise UnreachableError(f"Failed to send the email: the SMTP server {where} is unreachable "
                               f"({type(exc).__name__}: {exc}); check host, port and secure") from exc
    try:
        with server:
            if secure == "starttls":
                server.starttls(context=_tls_context(params))
            if params.get("username"):
                server.login(params["username"], params.get("password") or "")
            return server.send_message(msg, to_addrs=recipients) or {}
    except smtplib.SMTPAuthenticationError as exc:
        raise ApiError(f"Failed to send the email: the SMTP server {where} rejected the login ({exc.smtp_code}): "
                       "check username and password", status=exc.smtp_code) from exc
    except smtplib.SMTPNotSupportedError as exc:
        raise ApiError(f"Failed to send the email: the SMTP server {where} does not support "
                       f"{'STARTTLS' if secure == 'starttls' else 'login'}: {exc}; check secure") from exc
    except smtplib.SMTPRecipientsRefused as exc:
        refused = ", ".join(sorted(exc.recipients))
        raise ApiError(f"Failed to send the email: the SMTP server {where} refused every recipient ({refused})") from exc
    except smtplib.SMTPResponseException as exc:
        text = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        raise ApiError(f"Failed to send the email: the SMTP server {where} said {exc.smtp_code} {text}",
                       status=exc.smtp_code) from exc
    except (ssl.SSLError, ssl.CertificateError) as exc:
        raise UnreachableError(f"Failed to send the email: TLS with {where} failed ({exc}); "
                               "check secure, ca_cert and validate_certs") from exc
    except (OSError, socket.timeout, smtplib.SMTPException) as exc:
        raise UnreachableError(f"Failed to send the email: the connection to {where} failed "
                               f"({type(exc).__name__}: {exc})") from exc
