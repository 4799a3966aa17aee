"""Resolve kubernetes.core-style connection options and a kubeconfig into
the settings one HTTP client needs: server URL, TLS context and credentials.

Supports kubeconfig files (KUBECONFIG lists merged, first wins) and dicts,
contexts, CA / client certificate files and inline data, bearer tokens and
token files, basic auth and exec credential plugins. No discovery calls.
"""
from __future__ import annotations

import base64
import json
import os
import ssl
import subprocess
import tempfile
from dataclasses import dataclass, field

from ansible_collections.mataresit.emergency.plugins.module_utils.deps import load_yaml, optional_import
from ansible_collections.mataresit.emergency.plugins.module_utils.errors import ConfigError

yaml = optional_import("yaml")


@dataclass
class Connection:
    server: str
    verify: object  # ssl.SSLContext, or False
    headers: dict = field(default_factory=dict)
    secrets: list = field(default_factory=list)  # values to keep out of output
    context_name: str = ""
    timeout: float = 30.0


def _read_kubeconfig_files(spec):
    paths = [p for p in spec.split(os.pathsep) if p]
    merged = {"clusters": [], "users": [], "contexts": [], "current-context": None}
    found = False
    for path in paths:
        path = os.path.expanduser(path)
        if not os.path.exists(path):
            continue
        found = True
        try:
            with open(path, encoding="utf-8") as handle:
                data = load_yaml(handle) or {}
        except OSError as exc:
            raise ConfigError(f"Failed to read kubeconfig {path}: {exc.strerror}") from exc
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" (line {mark.line + 1})" if mark is not None else ""
            raise ConfigError(f"Failed to read kubeconfig {path}: it is not valid YAML{where}; check the file.") from exc
        data = checked_config(data, f"kubeconfig {path}")
        for key in ("clusters", "users", "contexts"):
            known = {item.get("name") for item in merged[key]}
            merged[key].extend(i for i in data.get(key) or [] if i.get("name") not in known)
        merged["current-context"] = merged["current-context"] or data.get("current-context")
        merged.setdefault("_base", os.path.dirname(os.path.abspath(path)))
    if not found:
        raise ConfigError(
            f"Failed to load kubeconfig: no file at {spec}. Set 'kubeconfig' (or K8S_AUTH_KUBECONFIG / KUBECONFIG) "
            "to an existing file, or give 'host' and 'api_key'."
        )
    return merged


def checked_config(data, source):
    """A kubeconfig as a mapping whose clusters, users and contexts are lists of named mappings; else ConfigError."""
    if not isinstance(data, dict):
        raise ConfigError(f"Failed to load {source}: it is a {type(data).__name__}, not a kubeconfig mapping "
                          "(apiVersion, clusters, users, contexts); check the file or the 'kubeconfig' option.")
    for key, inner in (("clusters", "cluster"), ("users", "user"), ("contexts", "context")):
        items = data.get(key)
        if items is None:
            continue
        entries_ok = isinstance(items, list) and all(
            isinstance(i, dict) and isinstance(i.get(inner) or {}, dict) for i in items)
        if not entries_ok:
            raise ConfigError(f"Failed to load {source}: '{key}' must be a list of entries with 'name' and "
                              f"'{inner}'; check the kubeconfig.")
    return data


def inline_secrets(kubeconfig):
    """The credentials in an inline kubeconfig (a dict): what must never be shown of it."""
    found = set()
    if not isinstance(kubeconfig, dict) or not isinstance(kubeconfig.get("users"), list):
        return found

    def walk(value, key=""):
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, k)
        elif isinstance(value, list):
            for v in value:
                walk(v, key)
        elif isinstance(value, str) and key not in ("name", "command", "apiVersion", "interactiveMode",
                                                    "installHint") and len(value) >= 4:
            found.add(value)

    for entry in kubeconfig["users"]:
        if isinstance(entry, dict):
            walk(entry.get("user") or {})
    return found


def _named(items, name, what, available_hint=True):
    for item in items:
        if item.get("name") == name:
            return item.get(what.split()[0]) or {}
    names = ", ".join(sorted(i.get("name", "?") for i in items)) or "none"
    hint = f" (available: {names})" if available_hint else ""
    raise ConfigError(f"Failed to load kubeconfig: {what} '{name}' is not defined{hint}.")


def _resolve(base, path):
    if path and not os.path.isabs(path):
        return os.path.join(base, path)
    return path


def _pem(data_b64, path, base, what):
    if data_b64:
        try:
            return base64.b64decode(data_b64)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"Failed to load kubeconfig: {what} data is not valid base64.") from exc
    if path:
        try:
            with open(_resolve(base, path), "rb") as handle:
                return handle.read()
        except OSError as exc:
            raise ConfigError(f"Failed to load kubeconfig: cannot read {what} file {path}: {exc.strerror}.") from exc
    return None


def _exec_credential(spec):
    """Run an exec credential plugin; its errors name the command only (its arguments and env may hold secrets)."""
    command = spec.get("command")
    if not isinstance(command, str) or not command:
        raise ConfigError("Failed to load kubeconfig: the user's exec entry has no 'command'; check the kubeconfig.")
    what = f"the kubeconfig exec plugin '{os.path.basename(command)}'"
    args, env_list = spec.get("args") or [], spec.get("env") or []
    if not isinstance(args, list) or not isinstance(env_list, list) or not all(
            isinstance(e, dict) and isinstance(e.get("name"), str) and isinstance(e.get("value"), str)
            for e in env_list):
        raise ConfigError(f"Failed to load kubeconfig: {what} needs 'args' as a list and each 'env' entry as "
                          "{name, value} strings; check the kubeconfig.")
    env = dict(os.environ)
    env.update({e["name"]: e["value"] for e in env_list})
    try:
        proc = subprocess.run([command] + [str(a) for a in args], env=env, capture_output=True, text=True,
                              timeout=60, check=False)
    except subprocess.TimeoutExpired:
        raise ConfigError(f"Failed to get credentials from {what}: it did not finish within 60 seconds.") from None
    except OSError as exc:
        raise ConfigError(f"Failed to get credentials from {what}: it cannot be run ({exc.strerror}); check that "
                          "it is installed and on PATH.") from None
    if proc.returncode != 0:
        raise ConfigError(f"Failed to get credentials from {what}: it exited with status {proc.returncode}; run it "
                          "by hand to see why (its output is not shown: it may hold credentials).")
    try:
        status = json.loads(proc.stdout).get("status") or {}
    except (ValueError, AttributeError):
        status = None
    if not isinstance(status, dict):
        raise ConfigError(f"Failed to get credentials from {what}: its output is not an ExecCredential "
                          "(JSON with 'status').")
    return status


def _ssl_context(ca_pem, verify, cert_pem, key_pem):
    # As kubectl: the cluster's CA alone when the kubeconfig gives one, else the system's roots (loading those
    # costs ~35 ms of CPU per connection, paid only when they are the trust).
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    elif ca_pem:
        try:
            ctx.load_verify_locations(cadata=ca_pem.decode())
        except (ssl.SSLError, ValueError) as exc:
            raise ConfigError(f"Failed to load the cluster CA certificate: {exc}") from exc
    else:
        ctx.load_default_certs()
    if cert_pem and key_pem:
        # ssl only loads client certificates from files: write them 0600, load, remove.
        with tempfile.TemporaryDirectory(prefix="mre-tls-") as tmp:
            cert_file, key_file = os.path.join(tmp, "c.pem"), os.path.join(tmp, "k.pem")
            for path, data in ((cert_file, cert_pem), (key_file, key_pem)):
                fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
            try:
                ctx.load_cert_chain(cert_file, key_file)
            except ssl.SSLError as exc:
                raise ConfigError(f"Failed to load the client certificate and key: {exc}") from exc
    return ctx


def connection_from_params(params):
    """Build a Connection from module params (kubernetes.core option names)."""
    host, api_key = params.get("host"), params.get("api_key")
    kubeconfig = params.get("kubeconfig")
    verify_opt = params.get("validate_certs")
    timeout = float(params.get("request_timeout") or 30)
    if kubeconfig is None and not host:
        kubeconfig = os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")
    cluster, user, context_name, base = {}, {}, "", os.getcwd()
    if kubeconfig is not None:
        if isinstance(kubeconfig, dict):
            config = dict(checked_config(kubeconfig, "the inline kubeconfig"))
        elif isinstance(kubeconfig, str):
            config = _read_kubeconfig_files(kubeconfig)
            base = config.pop("_base", base)
        else:
            raise ConfigError("Failed to load kubeconfig: 'kubeconfig' must be a path or a dict.")
        context_name = params.get("context") or config.get("current-context")
        if not context_name:
            raise ConfigError("Failed to load kubeconfig: it sets no current-context; pass 'context'.")
        ctx = _named(config.get("contexts") or [], context_name, "context")
        cluster = _named(config.get("clusters") or [], ctx.get("cluster"), "cluster")
        user = _named(config.get("users") or [], ctx.get("user"), "user", available_hint=False) if ctx.get("user") else {}
    server = (host or cluster.get("server") or "").rstrip("/")
    if not server.startswith(("https://", "http://")):
        raise ConfigError(f"Failed to connect: the API server address '{server}' is not an http(s) URL.")
    verify = not cluster.get("insecure-skip-tls-verify", False) if verify_opt is None else bool(verify_opt)
    ca_pem = _pem(cluster.get("certificate-authority-data"), params.get("ca_cert") or cluster.get("certificate-authority"), base, "CA certificate")
    headers, secrets = {}, sorted(inline_secrets(kubeconfig))
    if user.get("exec"):
        if not isinstance(user["exec"], dict):
            raise ConfigError("Failed to load kubeconfig: the user's 'exec' entry must be a mapping; check the kubeconfig.")
        user = {**user, **_exec_to_user(_exec_credential(user["exec"]))}
    cert_pem = _pem(user.get("client-certificate-data"), params.get("client_cert") or user.get("client-certificate"), base, "client certificate")
    key_pem = _pem(user.get("client-key-data"), params.get("client_key") or user.get("client-key"), base, "client key")
    token = api_key or user.get("token")
    if not token and user.get("tokenFile"):
        token = (_pem(None, user["tokenFile"], base, "token") or b"").decode().strip()
    if token:
        headers["Authorization"] = f"Bearer {token}"
        secrets.append(token)
    elif user.get("username") and user.get("password"):
        basic = base64.b64encode(f"{user['username']}:{user['password']}".encode()).decode()
        headers["Authorization"] = f"Basic {basic}"
        secrets.extend([user["password"], basic])
    verify_ctx = _ssl_context(ca_pem, verify, cert_pem, key_pem) if server.startswith("https://") else False
    return Connection(server=server, verify=verify_ctx, headers=headers, secrets=secrets,
                      context_name=context_name or "", timeout=timeout)


def _exec_to_user(status):
    out = {}
    if status.get("token"):
        out["token"] = status["token"]
    if status.get("clientCertificateData") and status.get("clientKeyData"):
        out["client-certificate-data"] = base64.b64encode(status["clientCertificateData"].encode()).decode()
        out["client-key-data"] = base64.b64encode(status["clientKeyData"].encode()).decode()
    return out
