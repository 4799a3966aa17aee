"""Rotation plan resolution: actions, alphabets and lengths, skip rules, selection."""
from __future__ import annotations

import re

import pytest

from ansible_collections.mataresit.emergency.plugins.module_utils.errors import ConfigError
from ansible_collections.mataresit.emergency.plugins.module_utils.services import secret_rotation as rotation
from tests.unit.security.builders import secret

SECRETS = {s["metadata"]["name"]: s for s in [
    secret("ai-secrets", {"openai-api-key": "sk-old", "gemini-api-key": "g-old"}),
    secret("security-secrets", {"jwt-secret": "j-old", "api-key-encryption-key": "e-old"}),
    secret("default-token-abcde", {"token": "t"}, stype="kubernetes.io/service-account-token"),
    secret("sh.helm.release.v1.app.v1", {"release": "r"}, stype="helm.sh/release.v1"),
    secret("helm-labelled", {"x": "y"}, labels={"owner": "helm"}),
    secret("tls-cert", {"tls.crt": "c", "tls.key": "k"}, stype="kubernetes.io/tls"),
]}


def resolve(plan=(), selection=(), default_rule=None):
    return rotation.resolve_plan(SECRETS, plan, selection, default_rule)


def test_generate_value_keep_per_key_and_default_for_the_rest_of_selected_secrets():
    items, skipped, warnings = resolve([
        {"secret": "ai-secrets", "key": "openai-api-key", "value": "sk-new-from-vault"},
        {"secret": "ai-secrets", "key": "gemini-api-key", "action": "keep"},
        {"secret": "security-secrets", "key": "jwt-secret", "length": 64, "alphabet": "urlsafe"},
    ], selection=["security-secrets"], default_rule={"action": "generate", "length": 40, "alphabet": "hex"})
    assert [i["name"] for i in items] == ["ai-secrets", "security-secrets"]
    ai, sec = items[0]["keys"], items[1]["keys"]
    assert ai["openai-api-key"]["action"] == "value" and ai["openai-api-key"]["length"] == len("sk-new-from-vault")
    assert ai["gemini-api-key"]["action"] == "keep"
    assert sec["jwt-secret"] == {"action": "generate", "external": False, "length": 64, "alphabet": "urlsafe"}
    assert sec["api-key-encryption-key"] == {"action": "generate", "external": False, "length": 40, "alphabet": "hex"}
    assert skipped == [] and warnings == []


def test_naming_one_key_of_a_secret_keeps_its_other_keys():
    items, skipped, warnings = resolve([{"secret": "ai-secrets", "key": "openai-api-key", "value": "sk-new-from-vault"}],
                                       default_rule={"action": "generate", "length": 40, "alphabet": "hex"})
    assert items[0]["keys"]["gemini-api-key"] == {"action": "keep", "external": False}
    items, skipped, warnings = resolve([{"secret": "ai-secrets", "key": "openai-api-key", "value": "sk-new-from-vault"}],
                                       selection=["all"])
    assert items[0]["keys"]["gemini-api-key"]["action"] == "generate"


def test_secret_wide_rule_applies_to_keys_without_their_own_rule():
    items, skipped, warnings = resolve([{"secret": "security-secrets", "alphabet": "hex", "length": 16},
                                        {"secret": "security-secrets", "key": "jwt-secret", "action": "keep"}])
    keys = items[0]["keys"]
    assert keys["jwt-secret"]["action"] == "keep"
    assert keys["api-key-encryption-key"] == {"action": "generate", "external": False, "length": 16, "alphabet": "hex"}


def test_a_plan_may_add_a_key():
    items, skipped, warnings = resolve([{"secret": "ai-secrets", "key": "new-key", "length": 12}])
    assert set(items[0]["keys"]) == {"openai-api-key", "gemini-api-key", "new-key"}
    assert items[0]["keys"]["new-key"]["action"] == "generate"


@pytest.mark.parametrize("alphabet,pattern", [("alnum", r"[A-Za-z0-9]"), ("hex", r"[0-9a-f]"),
                                              ("urlsafe", r"[A-Za-z0-9_-]"), ("printable", r"[!-~]")])
@pytest.mark.parametrize("length", [8, 33, 256])
def test_generated_values_follow_alphabet_and_length(alphabet, length, pattern):
    value = rotation.generate(length, alphabet)
    assert len(value) == length
    assert re.fullmatch(f"{pattern}{{{length}}}", value)
    assert value != rotation.generate(length, alphabet)


def test_new_data_registers_values_and_keeps_kept_ones():
    items, skipped, warnings = resolve([{"secret": "ai-secrets", "key": "openai-api-key", "value": "sk-new-from-vault"},
                                        {"secret": "ai-secrets", "key": "gemini-api-key", "action": "keep"}])
    no_log = set()
    data = rotation.new_data(items[0], no_log)
    assert data["gemini-api-key"] == SECRETS["ai-secrets"]["data"]["gemini-api-key"]
    assert data["openai-api-key"] == "c2stbmV3LWZyb20tdmF1bHQ="
    assert {"sk-new-from-vault", "c2stbmV3LWZyb20tdmF1bHQ="} <= no_log


@pytest.mark.parametrize("rule,message", [
    ({"secret": "ai-secrets", "length": 4}, "length 4 is outside 8..4096"),
    ({"secret": "ai-secrets", "alphabet": "emoji"}, "alphabet 'emoji' is not one of"),
    ({"secret": "ai-secrets", "action": "value"}, "action 'value' needs 'value'"),
    ({"secret": "ai-secrets", "action": "generate", "value": "x"}, "'value' is only used with action 'value'"),
    ({"secret": "nope"}, "secret(s) nope do not exist"),
])
def test_invalid_plans_fail_before_anything_happens(rule, message):
    with pytest.raises(ConfigError, match=re.escape(message)) as err:
        resolve([rule])
    assert str(err.value).startswith("Failed to resolve the rotation plan")


@pytest.mark.parametrize("name,why", [("default-token-abcde", "service-account token"),
                                      ("sh.helm.release.v1.app.v1", "Helm release"),
                                      ("helm-labelled", "Helm release")])
def test_service_account_tokens_and_helm_secrets_are_never_rotated(name, why):
    assert why in rotation.skip_reason(SECRETS[name])
    items, skipped, warnings = resolve([{"secret": name}])
    assert items == [] and skipped[0]["name"] == name and why in skipped[0]["reason"]
    assert warnings and name in warnings[0]


def test_all_rotates_opaque_secrets_only_with_the_default_rule():
    items, skipped, warnings = resolve(selection=["all"], default_rule={"length": 20, "alphabet": "alnum"})
    assert [i["name"] for i in items] == ["ai-secrets", "security-secrets"]
    assert all(r == {"action": "generate", "external": False, "length": 20, "alphabet": "alnum"}
               for i in items for r in i["keys"].values())
    assert {s["name"] for s in skipped} == {"default-token-abcde", "sh.helm.release.v1.app.v1", "helm-labelled",
                                            "tls-cert"}


def test_external_rotation_required_lists_everything_not_generated_locally():
    items, skipped, warnings = resolve([
        {"secret": "ai-secrets", "key": "openai-api-key", "value": "sk-new-from-vault"},
        {"secret": "ai-secrets", "key": "gemini-api-key", "action": "keep"},
        {"secret": "security-secrets", "key": "jwt-secret", "external": True},
    ])
    required = {(e["secret"], e["key"]) for e in rotation.external_required(items)}
    assert required == {("ai-secrets", "openai-api-key"), ("ai-secrets", "gemini-api-key"),
                        ("security-secrets", "jwt-secret"), ("security-secrets", "api-key-encryption-key")}
    reasons = {e["key"]: e["reason"] for e in rotation.external_required(items)}
    assert reasons["api-key-encryption-key"].startswith("kept unchanged")
    assert "sk-new-from-vault" not in repr(rotation.describe(items[0]))


def test_consumers_found_through_env_envfrom_volumes_and_projected_sources():
    deps = [
        {"metadata": {"name": "env"}, "spec": {"template": {"spec": {"containers": [
            {"name": "c", "env": [{"name": "A", "valueFrom": {"secretKeyRef": {"name": "s1", "key": "k"}}}]}]}}}},
        {"metadata": {"name": "envfrom"}, "spec": {"template": {"spec": {"initContainers": [
            {"name": "i", "envFrom": [{"secretRef": {"name": "s2"}}]}], "containers": [{"name": "c"}]}}}},
        {"metadata": {"name": "volume"}, "spec": {"template": {"spec": {"containers": [{"name": "c"}],
                                                                        "volumes": [{"name": "v", "secret": {"secretName": "s3"}}]}}}},
        {"metadata": {"name": "projected"}, "spec": {"template": {"spec": {"containers": [{"name": "c"}], "volumes": [
            {"name": "p", "projected": {"sources": [{"configMap": {"name": "cm"}}, {"secret": {"name": "s1"}}]}}]}}}},
        {"metadata": {"name": "unrelated"}, "spec": {"template": {"spec": {"containers": [
            {"name": "c", "env": [{"name": "B", "valueFrom": {"configMapKeyRef": {"name": "s1", "key": "k"}}}]}]}}}},
    ]
    assert rotation.consumers(deps, ["s1", "s2", "s3", "s4"]) == {
        "s1": ["env", "projected"], "s2": ["envfrom"], "s3": ["volume"], "s4": []}
