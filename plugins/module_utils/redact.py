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


MIN_SECRET_LEN = 4  # shorter "secrets" would mask ordinary words everywhere


def mask_known(value, secrets):
    """A copy of value (str / dict / list, keys too) with every known secret value replaced by MASK."""
    secrets = sorted({str(s) for s in secrets if s and len(str(s)) >= MIN_SECRET_LEN}, key=len, reverse=True)
    if not secrets:
        return value

    def walk(item):
        if isinstance(item, str):
            for secret in secrets:
                item = item.replace(secret, MASK)
            return item
        if isinstance(item, dict):
            return {walk(k): walk(v) for k, v in item.items()}
        if isinstance(item, (list, tuple)):
            return [walk(v) for v in item]
        return item

    return walk(value)


def redact_text(text, known=()):
    """Mask known secret values and secret-looking substrings (tokens, webhook URLs, URL credentials)."""
    text = mask_known(text, known)
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
