"""Redaction of secrets in anything the collection writes (timeline, reports)."""
from __future__ import annotations

import re

MASK = "********"
SECRET_KEY = re.compile(r"(token|secret|password|passwd|api_?key|routing_?key|webhook|authorization|credential|private)", re.I)
SECRET_TEXT = [
    (re.compile(r"(?i)\b(bearer|oauth)\s+[A-Za-z0-9._~+/=-]{8,}"), r"\1 " + MASK),
    (re.compile(r"(?i)\btoken token=[^\s\"',]+"), "token token=" + MASK),
    (re.compile(r"https://hooks\.slack\.com/services/[A-Za-z0-9/_-]+"), "https://hooks.slack.com/services/" + MASK),
    (re.compile(r"(https?://)[^/\s:@]+:[^/\s@]+@"), r"\1" + MASK + "@"),
]


def redact_text(text, known=()):
    """Mask known secret values and secret-looking substrings (tokens, webhook URLs, URL credentials)."""
    for value in known:
        if value and len(str(value)) >= 4:
            text = text.replace(str(value), MASK)
    for pattern, replacement in SECRET_TEXT:
        text = pattern.sub(replacement, text)
    return text


def redact(value, known=(), key=None):
    """A copy of value with secret-looking keys masked and known secret values removed."""
    if key is not None and SECRET_KEY.search(str(key)) and value not in (None, "", [], {}):
        return MASK if not isinstance(value, bool) else value
    if isinstance(value, dict):
        return {k: redact(v, known, k) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(v, known) for v in value]
    if isinstance(value, str):
        return redact_text(value, known)
    return value
