"""Redaction of secrets in anything the collection writes or returns: the
timeline, the postmortem, evidence bundles, request echoes and the records of
sent notifications.

- Structured data is redacted before it is serialised (`Redactor.data`): values
  of secret-looking keys, the `value` of env entries with secret-looking names
  (`{name: DB_PASSWORD, value: ...}`), JSON held in strings (last-applied
  annotations), and every string as text.
- Text (`Redactor.text`): known secret values in every encoding they travel in
  (plain, base64, URL-encoded, JSON-escaped), then secret-looking substrings:
  bearer / basic / token credentials, Authorization and API-key headers,
  `password=` / `api_key=` / `sig=` pairs and query strings, credentials in
  URLs (`scheme://user:pw@`), webhook URLs (whole path and query) and private keys.
"""
from __future__ import annotations

import base64
import json
import re
from urllib.parse import quote, quote_plus

MASK = "********"
MIN_SECRET_LEN = 4  # shorter "secrets" would mask ordinary words everywhere

# Keys whose value is a secret (option names, JSON fields, ConfigMap keys)...
SECRET_KEY = re.compile(r"(token|secret|passw(or)?d|pwd|api_?key|apikey|routing_?key|webhook|authorization|"
                        r"credential|private|dsn|signature|access_?key|cookie)", re.I)
# ...unless they only name or point at one (secretName, secretKeyRef, tokenFile, passwordPath, ...).
NOT_A_VALUE = re.compile(r"(name|names|ref|refs|file|path|id|ids|type|count|mode|enabled|seconds|expiration|keys|"
                         r"length|alphabet|action|external)$", re.I)
# Env entries / ConfigMap keys named like a secret (*PASSWORD*, *TOKEN*, *KEY*, ...).
SECRET_ENV_NAME = re.compile(r"(passw|pwd|token|key|secret|credential|dsn|auth|private|cert|salt|cookie|session)",
                             re.I)
_VALUE = r"[^\s\"'&,;<>]+"
SECRET_TEXT = [
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(-----END [A-Z ]*PRIVATE KEY-----|$)", re.S),
     "-----BEGIN PRIVATE KEY-----" + MASK + "-----END PRIVATE KEY-----"),
    (re.compile(r"(?i)\b(bearer|oauth|basic)(\s+)[A-Za-z0-9._~+/=-]{8,}"), r"\1\2" + MASK),
    (re.compile(r"(?i)\b(token token=)" + _VALUE), r"\1" + MASK),
    (re.compile(r"(?i)\b(authorization[\"']?\s*[:=]\s*[\"']?)(?!(bearer|oauth|basic|token token=)\b)[^\s\"',]+"),
     r"\1" + MASK),
    (re.compile(r"(?i)\b(x-api-key|x-auth-token|x-access-token|api-key|private-token)([\"']?\s*[:=]\s*[\"']?)"
                + _VALUE), r"\1\2" + MASK),
    (re.compile(r"(?i)(?<![A-Za-z])(password|passwd|pwd|secret|client_secret|token|access_token|refresh_token|api_?key|apikey|"
                r"routing_key|sig|signature|auth)(\s*[=:]\s*[\"']?)" + _VALUE), r"\1\2" + MASK),
    (re.compile(r"(?i)\b(https?://)([^/\s\"'<>|]*hooks?\.[^/\s\"'<>|]+)/[^\s\"'<>|]+"), r"\1\2/" + MASK),
    (re.compile(r"(?i)\b(https?://[^/\s\"'<>|]+)/([^\s\"'<>|]*/)?(webhooks?|hooks)/[^\s\"'<>|]+"), r"\1/" + MASK),
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s:@\"']+:[^/\s@\"']+@"), r"\1" + MASK + "@"),
]
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def secret_key(key):
    """Whether a key (option, field, ConfigMap key) holds a secret value."""
    key = str(key)
    return bool(SECRET_KEY.search(key)) and not NOT_A_VALUE.search(key)


def encodings(secret):
    """The forms a secret value travels in: plain, base64 (padded, unpadded, URL-safe), URL-encoded, JSON-escaped."""
    raw = secret.encode("utf-8")
    forms = {secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1],
             json.dumps(secret, ensure_ascii=False)[1:-1]}
    for encoded in (base64.b64encode(raw).decode("ascii"), base64.urlsafe_b64encode(raw).decode("ascii")):
        forms.update({encoded, encoded.rstrip("=")})
    return forms


class Redactor:
    """Masks secrets in text and data; `count` says how many were masked.

    known: secret values to mask in every encoding (shorter than min_length are ignored).
    """

    def __init__(self, known=(), min_length=MIN_SECRET_LEN, mask=MASK):
        self.mask = mask
        self.count = 0
        values = set()
        for secret in known or ():
            if isinstance(secret, (str, bytes)) and len(secret) >= min_length:
                secret = secret.decode("utf-8", "replace") if isinstance(secret, bytes) else secret
                values.update(v for v in encodings(secret) if len(v) >= min_length)
        ordered = sorted(values, key=len, reverse=True)
        self._known = re.compile("|".join(re.escape(v) for v in ordered)) if ordered else None

    def known(self, text):
        """text with the known values (in every encoding) masked."""
        if self._known is None or not text:
            return text
        text, hits = self._known.subn(self.mask, text)
        self.count += hits
        return text

    def text(self, text):
        """text with known values and secret-looking substrings masked."""
        text = self.known(text)
        for pattern, replacement in SECRET_TEXT:
            text, hits = pattern.subn(replacement.replace(MASK, self.mask), text)
            self.count += hits
        return text

    def data(self, value, key=None):
        """A copy of structured data with its secrets masked, ready to serialise."""
        if key is not None and secret_key(key) and isinstance(value, (str, int, float)) \
                and not isinstance(value, bool) and value != "":
            self.count += 1
            return self.mask
        if isinstance(value, dict):
            out = {}
            for k, v in value.items():
                out[self.known(k) if isinstance(k, str) else k] = self.data(v, k)
            if isinstance(value.get("name"), str) and "value" in value and SECRET_ENV_NAME.search(value["name"]) \
                    and value["value"] not in (None, ""):
                self.count += 1
                out["value"] = self.mask
            return out
        if isinstance(value, (list, tuple)):
            return [self.data(v) for v in value]
        if isinstance(value, str):
            return self._string(value, key)
        return value

    def _string(self, value, key):
        stripped = value.strip()
        if stripped[:1] in ("{", "[") and (key == LAST_APPLIED or len(stripped) < 1_000_000):
            try:
                parsed = json.loads(stripped)
            except ValueError:
                parsed = None
            if isinstance(parsed, (dict, list)):
                return json.dumps(self.data(parsed), sort_keys=True)
        if key is not None and SECRET_ENV_NAME.search(str(key)) and str(key).isupper():
            self.count += 1  # an env-style key of a ConfigMap: DB_PASSWORD, API_KEY, ...
            return self.mask
        return self.text(value)


def mask_known(value, secrets):
    """A copy of value (str / dict / list, keys too) with every known secret value, in every encoding, masked."""
    redactor = Redactor(secrets)

    def walk(item):
        if isinstance(item, str):
            return redactor.known(item)
        if isinstance(item, dict):
            return {walk(k): walk(v) for k, v in item.items()}
        if isinstance(item, (list, tuple)):
            return [walk(v) for v in item]
        return item

    return walk(value)


def redact_text(text, known=()):
    """Mask known secret values and secret-looking substrings in text."""
    return Redactor(known).text(text)


def redact(value, known=(), key=None):
    """A copy of value with secret-looking keys masked and known secret values removed."""
    return Redactor(known).data(value, key)
