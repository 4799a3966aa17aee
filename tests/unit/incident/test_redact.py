"""Redaction (issue 7): structured data before it is serialised, secret-looking text, and known values in
every encoding (plain, base64, URL-encoded, JSON-escaped)."""
from __future__ import annotations

import base64
import json
from urllib.parse import quote, quote_plus

import pytest

from ansible_collections.mataresit.emergency.plugins.module_utils.redact import MASK, Redactor, mask_known, redact

SECRET = "s3cr3t/Value+with&odd=chars\"x"


def every_encoding(secret):
    raw = secret.encode()
    return [secret, base64.b64encode(raw).decode(), base64.b64encode(raw).decode().rstrip("="),
            base64.urlsafe_b64encode(raw).decode(), quote(secret, safe=""), quote_plus(secret),
            json.dumps(secret)[1:-1]]


@pytest.mark.parametrize("encoded", every_encoding(SECRET))
def test_known_values_are_masked_in_every_encoding(encoded):
    text = f"before {encoded} after"
    assert Redactor([SECRET]).text(text) == f"before {MASK} after"


def test_known_values_are_masked_in_json_serialised_data():
    text = json.dumps({"env": [{"name": "X", "value": SECRET}]})
    assert SECRET not in json.loads(Redactor([SECRET]).text(text))["env"][0]["value"]


@pytest.mark.parametrize("text, kept", [
    ("Authorization: Basic dXNlcjpwYXNzd29yZA==", "Authorization: "),
    ("curl -H 'Authorization: Bearer abcdefghijklmnop' https://x", "Bearer "),
    ("GET https://api.example.com/v1/x?api_key=AKIA1234567890&page=2", "page=2"),
    ("https://blob.example.com/c/f?sv=2020&sig=abcDEF123%2Bxyz&se=2026", "sv=2020"),
    ("X-Api-Key: 0123456789abcdef", "X-Api-Key: "),
    ("postgresql://app:hunter2-pw@db:5432/main", "postgresql://"),
    ("host=db user=app password=hunter2-pw dbname=x", "dbname=x"),
    ("DB_PASSWORD=hunter2-pw ./start", "./start"),
    ("hook https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXX?token=abc", "https://hooks.slack.com/"),
    ("https://example.com/api/webhooks/1234/abcdefgh", "https://example.com/"),
    ("Token token=u+abcdefgh", "Token "),
])
def test_secret_looking_text_is_masked(text, kept):
    masked = Redactor().text(text)
    assert MASK in masked and kept in masked
    for secret in ("dXNlcjpwYXNzd29yZA", "abcdefghijklmnop", "AKIA1234567890", "abcDEF123", "0123456789abcdef",
                   "hunter2-pw", "B000/XXXX", "token=abc", "1234/abcdefgh", "u+abcdefgh"):
        assert secret not in masked


def test_ordinary_text_is_left_alone():
    text = "deployment paperless-maverick rolled back to revision 3 (image app:v1); 2 of 4 pods ready"
    assert Redactor(["ab"]).text(text) == text


def test_structured_data_is_redacted_before_it_is_serialised():
    pod = {"spec": {"containers": [{"name": "app", "env": [
        {"name": "DB_PASSWORD", "value": "pw-value-1"}, {"name": "API_TOKEN", "value": "tok-value-2"},
        {"name": "SIGNING_KEY", "value": "key-value-3"}, {"name": "LOG_LEVEL", "value": "debug"},
        {"name": "DB_PASSWORD_FROM", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}],
        "args": ["--token=tok-value-4"]}],
        "volumes": [{"name": "creds", "secret": {"secretName": "db-credentials"}}]},
        "data": {"DATABASE_URL": "postgres://app:pw-value-5@db/x", "REDIS_PASSWORD": "pw-value-6", "mode": "fast"}}
    out = json.dumps(redact(pod))
    for value in ("pw-value-1", "tok-value-2", "key-value-3", "tok-value-4", "pw-value-5", "pw-value-6"):
        assert value not in out
    for kept in ("debug", "db-credentials", "secretKeyRef", '"key": "password"', "fast", "LOG_LEVEL"):
        assert kept in out


def test_json_held_in_a_string_is_redacted_as_data():
    applied = json.dumps({"spec": {"template": {"spec": {"containers": [{"env": [
        {"name": "API_KEY", "value": "key-in-last-applied"}]}]}}}})
    out = redact({"metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": applied}}})
    assert "key-in-last-applied" not in json.dumps(out) and "API_KEY" in json.dumps(out)


def test_keys_that_only_name_a_secret_are_kept():
    data = {"secretName": "db", "secretKeyRef": {"name": "db", "key": "pw"}, "tokenFile": "/var/run/t",
            "routing_key": "R0123456789", "api_key": "A0123456789", "password": 12345678, "enabled": True}
    assert redact(data) == {"secretName": "db", "secretKeyRef": {"name": "db", "key": "pw"}, "tokenFile": "/var/run/t",
                            "routing_key": MASK, "api_key": MASK, "password": MASK, "enabled": True}


def test_mask_known_walks_keys_and_values_and_counts_nothing_short():
    assert mask_known({SECRET: [f"x {SECRET}"], "n": 3}, [SECRET, "ab"]) == {MASK: [f"x {MASK}"], "n": 3}
