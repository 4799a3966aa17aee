"""Kubeconfigs that cannot be used are one clear line; credentials never reach the output (issue 7)."""
from __future__ import annotations

import json
import stat

import pytest

from ansible_collections.mataresit.emergency.plugins.module_utils.errors import ConfigError
from ansible_collections.mataresit.emergency.plugins.module_utils.k8s.connection import (
    connection_from_params, inline_secrets,
)


def kubeconfig(user):
    return {"apiVersion": "v1", "kind": "Config", "current-context": "c",
            "clusters": [{"name": "k", "cluster": {"server": "http://127.0.0.1:1"}}],
            "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}],
            "users": [{"name": "u", "user": user}]}


@pytest.mark.parametrize("content, match", [
    ("just a string\n", "it is a str, not a kubeconfig mapping"),
    ("- a\n- list\n", "it is a list, not a kubeconfig mapping"),
    ("clusters: {a: 1}\n", "'clusters' must be a list of entries with 'name' and 'cluster'"),
    ("users: [1, 2]\n", "'users' must be a list of entries"),
    ("a: [\n", r"it is not valid YAML \(line 2\)"),
])
def test_a_kubeconfig_file_that_is_no_kubeconfig_is_one_line(tmp_path, content, match):
    path = tmp_path / "config"
    path.write_text(content)
    with pytest.raises(ConfigError, match=match) as err:
        connection_from_params({"kubeconfig": str(path)})
    assert "\n" not in str(err.value)


def test_an_inline_kubeconfig_of_the_wrong_shape_is_one_line():
    with pytest.raises(ConfigError, match="'contexts' must be a list"):
        connection_from_params({"kubeconfig": {"contexts": "c"}})


def test_exec_errors_never_repeat_the_plugins_arguments_or_env(tmp_path):
    plugin = tmp_path / "get-token"
    plugin.write_text("#!/bin/sh\necho \"bad $1 $SECRET_ENV\" >&2\nexit 3\n")
    plugin.chmod(stat.S_IRWXU)
    user = {"exec": {"command": str(plugin), "args": ["--password=arg-secret-123"],
                     "env": [{"name": "SECRET_ENV", "value": "env-secret-456"}]}}
    with pytest.raises(ConfigError) as err:
        connection_from_params({"kubeconfig": kubeconfig(user)})
    message = str(err.value)
    assert message == ("Failed to get credentials from the kubeconfig exec plugin 'get-token': it exited with status "
                       "3; run it by hand to see why (its output is not shown: it may hold credentials).")
    missing = {"exec": {"command": str(tmp_path / "nope"), "args": ["--token=arg-secret-123"]}}
    with pytest.raises(ConfigError, match="'nope': it cannot be run .*check that it is installed") as err:
        connection_from_params({"kubeconfig": kubeconfig(missing)})
    assert "arg-secret-123" not in str(err.value)


def test_an_exec_env_entry_without_a_value_is_one_line():
    user = {"exec": {"command": "/bin/true", "env": [{"name": "ONLY_NAME"}]}}
    with pytest.raises(ConfigError, match="each 'env' entry as {name, value} strings"):
        connection_from_params({"kubeconfig": kubeconfig(user)})


def test_an_exec_plugin_that_prints_no_credential_is_one_line(tmp_path):
    plugin = tmp_path / "echo"
    plugin.write_text("#!/bin/sh\necho '[1]'\n")
    plugin.chmod(stat.S_IRWXU)
    with pytest.raises(ConfigError, match="its output is not an ExecCredential"):
        connection_from_params({"kubeconfig": kubeconfig({"exec": {"command": str(plugin)}})})


def test_the_credentials_of_an_inline_kubeconfig_are_kept_out_of_output():
    config = kubeconfig({"token": "inline-token-789", "client-key-data": "a2V5LWRhdGE=",
                         "exec": {"command": "aws", "args": ["--role", "arn:role/x"],
                                  "env": [{"name": "AWS_PROFILE", "value": "prod-profile"}]}})
    found = inline_secrets(config)
    assert {"inline-token-789", "a2V5LWRhdGE=", "arn:role/x", "prod-profile", "--role"} <= found
    assert not found & {"aws", "AWS_PROFILE", "c", "k", "u", "v1", "Config", "http://127.0.0.1:1"}
    assert inline_secrets("/path/to/config") == set()


def test_a_module_never_echoes_an_inline_kubeconfigs_token(run_module_output):
    config = kubeconfig({"token": "inline-token-789"})
    result, stdout, stderr = run_module_output("triage", {"kubeconfig": config, "namespace": "ns",
                                                          "request_timeout": 1})
    assert result.get("failed") and "is unreachable" in result["msg"]
    assert "inline-token-789" not in stdout + stderr and "module_args" in stdout
    assert json.dumps(config["clusters"]) in json.dumps(result["invocation"]["module_args"]["kubeconfig"]["clusters"])
