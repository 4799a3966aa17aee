"""Encrypted secret backups: AES-256-GCM with a key derived from the user's
backup_key by scrypt (random salt stored beside the ciphertext), a random
96-bit nonce, and the cleartext header (names only) bound as associated data."""
from __future__ import annotations

import base64
import json
import os

from ansible_collections.mataresit.emergency.plugins.module_utils import workspace
from ansible_collections.mataresit.emergency.plugins.module_utils.deps import optional_import
from ansible_collections.mataresit.emergency.plugins.module_utils.errors import ConfigError

# cryptography is optional at import time; module_runner fails with missing_required_lib() without it.
_exceptions = optional_import("cryptography.exceptions")
_aead = optional_import("cryptography.hazmat.primitives.ciphers.aead")
_scrypt = optional_import("cryptography.hazmat.primitives.kdf.scrypt")

FORMAT = "mataresit.emergency/secret-backup"
VERSION = 1
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2 ** 15, 8, 1
# A backup_key must resist guessing for as long as the backup exists (scrypt makes each guess costly, not
# impossible): at least 16 characters of at least 3 kinds (lower, upper, digits, others), or 24 of any kinds.
MIN_KEY_LENGTH, MIN_MIXED_KEY_LENGTH = 24, 16
# KDF parameters a backup may ask for: the ones written here, up to a bounded cost (a tampered file must not
# make the restore spend unbounded memory or time, or derive a trivially weak key).
KDF_BOUNDS = {"n": (2 ** 14, 2 ** 20), "r": (8, 16), "p": (1, 4)}
SALT_LENGTH, NONCE_LENGTH = 16, 12


def check_backup_key(backup_key):
    """ConfigError unless backup_key is strong enough to protect a backup of production secrets."""
    key = backup_key or ""
    tests = (str.islower, str.isupper, str.isdigit, lambda c: not c.isalnum())
    kinds = sum(any(test(c) for c in key) for test in tests)
    if len(key) >= MIN_KEY_LENGTH or (len(key) >= MIN_MIXED_KEY_LENGTH and kinds >= 3):
        if len(set(key)) >= 8:
            return key
    raise ConfigError(f"Failed to use backup_key: it is too weak to protect the secret backup ({len(key)} "
                      f"characters); give at least {MIN_KEY_LENGTH} random characters, or {MIN_MIXED_KEY_LENGTH} "
                      "mixing three of lower case, upper case, digits and symbols (for example from Ansible Vault: "
                      "`openssl rand -base64 32`).")


def _kdf_params(kdf, source):
    """The scrypt parameters of a backup, checked before any key is derived with them."""
    params = {}
    for name, (low, high) in KDF_BOUNDS.items():
        value = kdf.get(name)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high or \
                (name == "n" and value & (value - 1)):
            raise ConfigError(f"Failed to read {source}: its scrypt parameter {name}={value!r} is outside what this "
                              f"collection writes ({low}..{high}{', a power of 2' if name == 'n' else ''}); the file "
                              "is damaged or was tampered with.")
        params[name] = value
    return params


def _b64(data):
    return base64.b64encode(data).decode("ascii")


def _derive(backup_key, salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P):
    if not backup_key:
        raise ConfigError("Failed to derive the backup encryption key: backup_key is empty; give a long random "
                          "passphrase (for example from Ansible Vault).")
    return _scrypt.Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(backup_key.encode("utf-8"))


def _aad(header):
    return json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")


def encrypt(backup_key, payload, header):
    """Envelope (a JSON-serialisable dict) holding payload encrypted; header stays readable."""
    salt, nonce = os.urandom(SALT_LENGTH), os.urandom(NONCE_LENGTH)
    key = _derive(check_backup_key(backup_key), salt)
    header = dict(header, format=FORMAT, version=VERSION)
    ciphertext = _aead.AESGCM(key).encrypt(nonce, json.dumps(payload).encode("utf-8"), _aad(header))
    return {
        "header": header,
        "kdf": {"name": "scrypt", "salt": _b64(salt), "n": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P},
        "cipher": {"name": "AES-256-GCM", "nonce": _b64(nonce)},
        "ciphertext": _b64(ciphertext),
    }


def decrypt(backup_key, envelope, source="the secret backup"):
    """Payload of an envelope; ConfigError (never a traceback) if the key is wrong or the file altered."""
    try:
        header, kdf = envelope["header"], envelope["kdf"]
        salt = base64.b64decode(kdf["salt"], validate=True)
        nonce = base64.b64decode(envelope["cipher"]["nonce"], validate=True)
        ciphertext = base64.b64decode(envelope["ciphertext"], validate=True)
        if header.get("format") != FORMAT or kdf.get("name") != "scrypt" or \
                envelope["cipher"].get("name") != "AES-256-GCM":
            raise ValueError("unknown format")
        if len(salt) != SALT_LENGTH or len(nonce) != NONCE_LENGTH:
            raise ValueError("salt or nonce of the wrong length")
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ConfigError(f"Failed to read {source}: it is not a mataresit.emergency secret backup "
                          f"({type(exc).__name__}).") from exc
    key = _derive(backup_key, salt, **_kdf_params(kdf, source))
    try:
        plaintext = _aead.AESGCM(key).decrypt(nonce, ciphertext, _aad(header))
    except _exceptions.InvalidTag as exc:
        raise ConfigError(f"Failed to decrypt {source}: backup_key is not the key the backup was written with "
                          "(or the file was altered); give the original backup_key.") from exc
    return json.loads(plaintext.decode("utf-8"))


def write(directory, name_hint, backup_key, payload, header):
    """Encrypt payload into a new 0600 file in directory; return its path (never overwrites)."""
    stamp = workspace.stamp()
    path = os.path.join(directory, f"backup-{workspace.safe_name(name_hint)}-{stamp}-{os.urandom(3).hex()}.json")
    envelope = encrypt(backup_key, payload, dict(header, created_at=stamp))
    return workspace.write_private(path, json.dumps(envelope, indent=1, sort_keys=True), exclusive=True)


def read(path, backup_key):
    try:
        with open(path, encoding="utf-8") as handle:
            envelope = json.load(handle)
        if not isinstance(envelope, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as exc:
        raise ConfigError(f"Failed to read the secret backup {path}: {exc}; it is needed to restore the original "
                          "values, so check the incident directory.") from exc
    return decrypt(backup_key, envelope, source=f"the secret backup {path}")
