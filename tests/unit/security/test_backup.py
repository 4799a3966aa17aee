"""Encrypted backup: round trip, wrong key, tampering, file mode."""
from __future__ import annotations

import json
import os
import stat

import pytest

from ansible_collections.mataresit.emergency.plugins.module_utils.errors import ConfigError
from ansible_collections.mataresit.emergency.plugins.module_utils import secret_backup as backup

PAYLOAD = {"ai-secrets": {"type": "Opaque", "data": {"openai-api-key": "c2stb2xkLXZhbHVl"}}}


def test_round_trip_and_file_is_private_and_value_free(tmp_path):
    path = backup.write(str(tmp_path / "secrets"), "ns", "correct horse battery", PAYLOAD,
                        {"namespace": "ns", "secrets": ["ai-secrets"]})
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    text = open(path, encoding="utf-8").read()
    assert "c2stb2xkLXZhbHVl" not in text and "sk-old-value" not in text
    envelope = json.loads(text)
    assert envelope["header"]["secrets"] == ["ai-secrets"]
    assert len(__import__("base64").b64decode(envelope["cipher"]["nonce"])) == 12
    assert backup.read(path, "correct horse battery") == PAYLOAD


def test_each_backup_has_its_own_salt_and_nonce():
    one = backup.encrypt("k", PAYLOAD, {"namespace": "ns"})
    two = backup.encrypt("k", PAYLOAD, {"namespace": "ns"})
    assert one["kdf"]["salt"] != two["kdf"]["salt"] and one["cipher"]["nonce"] != two["cipher"]["nonce"]


def test_wrong_key_is_a_clear_one_line_error(tmp_path):
    path = backup.write(str(tmp_path), "ns", "right key", PAYLOAD, {"namespace": "ns"})
    with pytest.raises(ConfigError) as err:
        backup.read(path, "wrong key")
    message = str(err.value)
    assert message.startswith(f"Failed to decrypt the secret backup {path}: backup_key is not the key")
    assert "\n" not in message and "Traceback" not in message and "InvalidTag" not in message


def test_altered_header_is_detected():
    envelope = backup.encrypt("k", PAYLOAD, {"namespace": "ns", "secrets": ["ai-secrets"]})
    envelope["header"]["namespace"] = "other"
    with pytest.raises(ConfigError, match="or the file was altered"):
        backup.decrypt("k", envelope)


@pytest.mark.parametrize("content", ["not json", json.dumps({"header": {}})])
def test_not_a_backup(tmp_path, content):
    path = tmp_path / "b.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match="Failed to read"):
        backup.read(str(path), "k")


def test_empty_key_is_refused():
    with pytest.raises(ConfigError, match="backup_key is empty"):
        backup.encrypt("", PAYLOAD, {})
