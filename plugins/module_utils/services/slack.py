"""Slack incoming webhook: a text fallback plus Block Kit blocks (title,
severity, clusters, status, links). The webhook URL is the credential: it is
never printed. Webhooks cannot deduplicate, so with incident_dir the module
records what it sent and an identical re-run reports changed=false."""
from __future__ import annotations

from urllib.parse import urlsplit

from ansible_collections.mataresit.emergency.plugins.module_utils.errors import ConfigError
from ansible_collections.mataresit.emergency.plugins.module_utils import http, notifications
from ansible_collections.mataresit.emergency.plugins.module_utils.saas import secret_url_parts

SEVERITY_EMOJI = {"critical": ":red_circle:", "error": ":large_orange_circle:", "warning": ":large_yellow_circle:",
                  "info": ":large_blue_circle:", "resolved": ":large_green_circle:"}
MAX_SECTION_TEXT = 3000
MAX_HEADER_TEXT = 150
SLACK_HINTS = {
    400: "Slack rejected the message payload",
    403: "check webhook_url (the webhook may have been revoked)",
    404: "check webhook_url (the webhook or its channel no longer exists)",
    410: "the channel is archived: use a webhook of another channel",
}


def escape(text):
    """Text for Slack's mrkdwn that can carry no mention (<!here>, <!channel>, <@U..>) or link of its own.

    Slack's control characters are &, < and >, escaped as entities (Slack shows them as written); without
    link_names, a bare @here stays text.
    """
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _link(link):
    url = http.checked_url(link["url"], "links[].url", "build the Slack message")
    label = escape(link.get("text") or url).replace("|", "/")
    return f"<{url.replace('|', '%7C').replace('>', '%3E')}|{label}>"


def build_message(params):
    """The JSON body for the webhook: `text` (notification fallback) and `blocks`.

    Every text from outside (title, text, status, clusters, incident id, link labels) is escaped: only the
    collection's own <!channel> mention and link markup reach Slack as markup.
    """
    title = params.get("title") or ""
    text = params.get("text") or title
    if not text:
        raise ConfigError("Failed to build the Slack message: set text or title")
    prefix = "<!channel> " if params.get("mention_channel") else ""
    severity = params.get("severity")
    blocks = []
    if title:  # plain_text: Slack renders no markup or mention in it
        blocks.append({"type": "header", "text": {"type": "plain_text", "text": title[:MAX_HEADER_TEXT], "emoji": True}})
    fields = []
    if severity:
        fields.append({"type": "mrkdwn", "text": f"*Severity*\n{SEVERITY_EMOJI.get(severity, '')} {severity}".strip()})
    if params.get("status"):
        fields.append({"type": "mrkdwn", "text": f"*Status*\n{escape(params['status'])}"})
    if params.get("clusters"):
        fields.append({"type": "mrkdwn", "text": "*Clusters*\n" + escape(", ".join(params["clusters"]))[:1900]})
    if params.get("incident_id"):
        fields.append({"type": "mrkdwn", "text": f"*Incident*\n{escape(params['incident_id'])}"})
    body_text = f"{prefix}{escape(params.get('text') or '')}".strip()
    if body_text:
        section = {"type": "section", "text": {"type": "mrkdwn", "text": body_text[:MAX_SECTION_TEXT]}}
        blocks.append(section)
    if fields:
        blocks.append({"type": "section", "fields": fields[:10]})
    links = [link for link in params.get("links") or [] if link.get("url")]
    if links:
        line = "  |  ".join(_link(link) for link in links)
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": line[:MAX_SECTION_TEXT]}]})
    message = {"text": f"{prefix}{escape(text)}"[:MAX_SECTION_TEXT], "blocks": blocks}
    for option in ("username", "icon_emoji", "channel"):
        if params.get(option):
            message[option] = params[option]
    return message


def operation(ctx):
    """The slack module: post to an incoming webhook, once per identical message with incident_dir."""
    params = ctx.params
    url = http.checked_url(params["webhook_url"], "webhook_url", "post the Slack message", show=False)
    parts = urlsplit(url)
    message = build_message(params)
    key = params.get("incident_id") or "slack"
    with notifications.client(ctx, "Slack", f"{parts.scheme}://{parts.netloc}", secret_url_parts(url), "webhook_url",
                              "webhook_url") as client:
        request = client.describe("POST", url, message)
        digest = notifications.fingerprint(url, message)
        result = {"changed": False, "requests": [], "message": message}
        if notifications.already_sent(params.get("incident_dir"), "slack", key, digest):
            result["msg"] = "this Slack message was already posted (recorded in incident_dir)"
            return result
        result.update(changed=True, requests=[request])
        if ctx.check_mode:
            return result
        # A webhook post is not idempotent: only connect errors and 429 are retried.
        response = client.request("POST", url, message, action="post the Slack message", hints=SLACK_HINTS)
        result["response"] = (response.text or "").strip()[:200]
        result["attempts"] = client.attempts
        record = notifications.remember_sent(params.get("incident_dir"), "slack", key, digest, request, result["response"])
        if record:
            result["record"] = record
        return result
