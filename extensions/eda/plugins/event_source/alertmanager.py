# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Event source: Alertmanager's webhook, authenticated, with alert text carried as signed data.

Used by extensions/eda/rulebooks/alertmanager.yml as mataresit.emergency.alertmanager.
"""
from __future__ import annotations

import asyncio
import hmac
import logging
import os
import ssl
import sys

DOCUMENTATION = r"""
---
short_description: Receive Alertmanager webhooks, authenticated, and forward alerts as data
description:
  - Listens for Alertmanager webhook notifications (payload version 4) and requires the bearer token that
    Alertmanager's C(http_config.authorization) sends; any other request is refused with 401 and a log line.
  - Validates each alert (fingerprint, status, startsAt, alert name) and drops, with a log line, any alert that
    is not what Alertmanager sends.
  - One alert group (Alertmanager's group key, per alert name) is one incident. The first firing alert of a group
    emits one C(firing) event; repeats, re-groupings and alerts that join later emit nothing; when none of the
    group's alerts fires any more, one C(resolved) event follows.
  - "Events carry only validated fields (C(incident_id), C(status), C(alertname), C(severity), C(namespace),
    C(fingerprint), C(starts_at), C(ends_at)) plus C(data): the alert group as base64url JSON, and C(signature):
    its HMAC-SHA256 keyed by the token. Alert text (labels, annotations, summary, description) therefore never
    reaches a rulebook's extra vars as text, where ansible-core would evaluate it as a template; the
    M(mataresit.emergency.incident) module decodes and verifies it."
  - Request headers (with the token) are never put in events.
options:
  host:
    description: Address to listen on; C(0.0.0.0) listens on every interface.
    type: str
    default: 127.0.0.1
  port:
    description: TCP port to listen on.
    type: int
    default: 5050
  token:
    description:
      - The bearer token Alertmanager sends (C(http_config.authorization.credentials)), at least 16 characters.
      - Also the key of the events' signatures, so the inventory verifies alerts with the same secret.
    type: str
    required: true
  certfile:
    description: PEM certificate chain to serve HTTPS with; plain HTTP when omitted.
    type: str
  keyfile:
    description: PEM private key of O(certfile).
    type: str
  state_file:
    description: File that keeps the open incident episodes across restarts of ansible-rulebook.
    type: str
"""

EXAMPLES = r"""
- mataresit.emergency.alertmanager:
    host: 127.0.0.1
    port: 5050
    token: "{{ ALERTMANAGER_WEBHOOK_TOKEN }}"
"""

LOG = logging.getLogger("mataresit.emergency.alertmanager")


def _alert_utils():
    """The collection's module_utils/alert.py: ansible-rulebook runs this file by path, outside the package."""
    try:
        from ansible_collections.mataresit.emergency.plugins.module_utils import alert
    except ImportError:
        # <root>/ansible_collections/mataresit/emergency/extensions/eda/plugins/event_source/alertmanager.py
        sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), *[".."] * 7)))
        from ansible_collections.mataresit.emergency.plugins.module_utils import alert
    return alert


def _authorized(header, token):
    scheme, dummy, credentials = (header or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(credentials.strip().encode(), token.encode())


def make_app(queue, token, state_file=None):
    from aiohttp import web

    alert = _alert_utils()
    episodes = alert.Episodes(token, state_file)

    async def status(request):
        return web.Response(text="up")

    async def receive(request):
        peer = request.remote or "unknown"
        header = request.headers.get("Authorization")
        if not _authorized(header, token):
            LOG.warning("refused a request from %s to %s: %s", peer, request.path,
                        "no bearer token" if not header else "wrong credentials")
            return web.Response(status=401, text="unauthorized", headers={"WWW-Authenticate": "Bearer"})
        try:
            payload = await request.json()
            events, rejected = episodes.update(payload)
        except (ValueError, alert.ConfigError) as exc:
            LOG.warning("refused a request from %s: %s", peer, str(exc)[:200] if isinstance(exc, alert.ConfigError)
                        else "the body is not JSON")
            return web.Response(status=400, text="not an Alertmanager webhook payload")
        for index, reason in rejected:
            LOG.warning("dropped alert %d of a notification from %s: %s", index, peer, reason)
        for event in events:
            LOG.info("forwarding %s %s (%s)", event["alert"]["status"], event["alert"]["alertname"],
                     event["alert"]["incident_id"])
            await queue.put(event)
        if rejected and len(rejected) == len(payload["alerts"]):
            return web.Response(status=400, text="no valid alert")
        return web.Response(status=202, text="accepted")

    app = web.Application(client_max_size=1024 * 1024)
    app.router.add_get("/", status)
    app.router.add_post("/", receive)
    app.router.add_post("/{endpoint:.*}", receive)
    return app


def _settings(args):
    token = str(args.get("token") or "")
    if len(token) < 16:
        raise ValueError("mataresit.emergency.alertmanager: set token (at least 16 characters), the bearer token "
                         "of Alertmanager's http_config.authorization")
    tls = None
    if args.get("certfile") or args.get("keyfile"):
        if not (args.get("certfile") and args.get("keyfile")):
            raise ValueError("mataresit.emergency.alertmanager: set both certfile and keyfile for TLS")
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(args["certfile"], args["keyfile"])
    return token, tls


async def main(queue, args):
    from aiohttp import web

    token, tls = _settings(args)
    host, port = str(args.get("host") or "127.0.0.1"), int(args.get("port") or 5050)
    runner = web.AppRunner(make_app(queue, token, args.get("state_file")), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port, ssl_context=tls).start()
    LOG.info("listening on %s://%s:%d", "https" if tls else "http", host, port)
    try:
        await asyncio.Future()
    finally:
        await runner.cleanup()


if __name__ == "__main__":
    class _PrintQueue:
        async def put(self, event):
            print(event)

    asyncio.run(main(_PrintQueue(), {"token": os.environ.get("ALERTMANAGER_WEBHOOK_TOKEN", "")}))
