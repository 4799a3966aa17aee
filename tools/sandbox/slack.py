"""Slack incoming-webhook emulation. Slack publishes no OpenAPI document for
incoming webhooks, so `problems` checks the documented payload rules instead.
State lives on the Sandbox (`slack_messages`)."""
from __future__ import annotations

BLOCK_TYPES = {"section", "header", "context", "divider", "actions", "image", "rich_text", "input", "file", "video"}


def reset(box):
    box.slack_messages = []


def rejection(errors):
    return 400, "invalid_blocks" if any(e.startswith("block ") for e in errors) else "invalid_payload"


def fault(status):
    return "rate_limited" if status == 429 else "internal_error"


def handle(box, request, path, body):  # pylint: disable=unused-argument
    if request.path != box.slack_path:
        return 404, "no_service", {}
    box.slack_messages.append(body)
    return 200, "ok", {}


def problems(request, body):
    """What a webhook would refuse in this request (empty when it is fine)."""
    found = []
    if request.method != "POST":
        return [f"method {request.method} not allowed"]
    if (request.mimetype or "") != "application/json":
        return [f"content type {request.mimetype!r} is not application/json"]
    if not isinstance(body, dict):
        return ["body is not a JSON object"]
    blocks = body.get("blocks")
    if not body.get("text") and not blocks:
        found.append("no text and no blocks")
    if body.get("text") is not None and not isinstance(body["text"], str):
        found.append("text is not a string")
    if blocks is not None:
        if not isinstance(blocks, list) or len(blocks) > 50:
            return found + ["blocks must be a list of at most 50 blocks"]
        for n, block in enumerate(blocks):
            found.extend(f"block {n}: {p}" for p in _block_problems(block))
    return found


def _text_problem(obj, limit, kinds=("plain_text", "mrkdwn")):
    if not isinstance(obj, dict) or obj.get("type") not in kinds or not isinstance(obj.get("text"), str):
        return f"text object must be {{type: {'|'.join(kinds)}, text: str}}"
    if not obj["text"] or len(obj["text"]) > limit:
        return f"text must be 1..{limit} characters"
    return None


def _block_problems(block):
    if not isinstance(block, dict) or block.get("type") not in BLOCK_TYPES:
        return [f"unknown block type {block.get('type') if isinstance(block, dict) else block!r}"]
    kind, out = block["type"], []
    if kind == "header":
        out.append(_text_problem(block.get("text"), 150, ("plain_text",)))
    elif kind == "section":
        if "text" not in block and "fields" not in block:
            out.append("section needs text or fields")
        if "text" in block:
            out.append(_text_problem(block["text"], 3000))
        fields = block.get("fields", [])
        if len(fields) > 10:
            out.append("section has more than 10 fields")
        out.extend(_text_problem(f, 2000) for f in fields)
    elif kind == "context":
        elements = block.get("elements") or []
        if not 1 <= len(elements) <= 10:
            out.append("context needs 1..10 elements")
        out.extend(_text_problem(e, 3000) for e in elements if isinstance(e, dict) and e.get("type") != "image")
    return [p for p in out if p]
