"""container_patch planning: env set/replace/remove, valueFrom reported as a reference, quantities by value."""
from __future__ import annotations

from decimal import Decimal

import pytest

from ansible_collections.mataresit.emergency.plugins.module_utils.errors import ConfigError
from ansible_collections.mataresit.emergency.plugins.module_utils.k8s.objects import quantity
from ansible_collections.mataresit.emergency.plugins.module_utils.services import container_patch as cp

SECRET_REF = {"secretKeyRef": {"name": "supabase-secrets", "key": "url"}}
CM_REF = {"configMapKeyRef": {"name": "cfg", "key": "LOG_LEVEL"}}
ENV = [{"name": "NODE_ENV", "value": "production"}, {"name": "LOG_LEVEL", "valueFrom": CM_REF},
       {"name": "SUPABASE_URL", "valueFrom": SECRET_REF}]


def test_plan_env_sets_replaces_removes_and_reports_references():
    new, previous, changed = cp.plan_env(ENV, {"LOG_LEVEL": "debug", "DB_RETRY_ATTEMPTS": 10,
                                               "METRICS_ENABLED": True, "SUPABASE_URL": None})
    assert changed
    assert new == [{"name": "NODE_ENV", "value": "production"}, {"name": "LOG_LEVEL", "value": "debug"},
                   {"name": "DB_RETRY_ATTEMPTS", "value": "10"}, {"name": "METRICS_ENABLED", "value": "true"}]
    assert previous == {"LOG_LEVEL": {"valueFrom": CM_REF}, "DB_RETRY_ATTEMPTS": None, "METRICS_ENABLED": None,
                        "SUPABASE_URL": {"valueFrom": SECRET_REF}}


def test_plan_env_no_change():
    new, previous, changed = cp.plan_env(ENV, {"NODE_ENV": "production", "MISSING": None,
                                               "LOG_LEVEL": {"valueFrom": CM_REF}})
    assert not changed and new == ENV
    assert previous == {"NODE_ENV": "production", "MISSING": None, "LOG_LEVEL": {"valueFrom": CM_REF}}


def test_plan_env_revert_restores_reference():
    patched, previous, changed = cp.plan_env(ENV, {"LOG_LEVEL": "debug", "X": "1"})
    assert changed
    reverted, previous, changed = cp.plan_env(patched, previous)
    assert changed and reverted == ENV


@pytest.mark.parametrize("env, resources, match", [
    ({"A": {"secret": "x"}}, None, r"env\.A: give a string.*not a dict"),
    ({"A": [1, 2]}, None, r"env\.A: .*not a list"),           # issue 7: was silently stringified
    ({"A": {"value": [1]}}, None, r"env\.A: .*not a dict"),
    ({"1A": "x"}, None, "is not an environment variable name"),
    (None, {"limits": "2"}, r"resources\.limits: give a mapping"),  # issue 7: was a traceback
    (None, {"limits": {"cpu": "lots"}}, r"resources\.limits\.cpu: 'lots' is not a Kubernetes quantity"),
    (None, {"limits": {"cpu": "-1"}}, r"resources\.limits\.cpu: '-1' is not a Kubernetes quantity"),
    (None, {"limits": {"cpu": True}}, "is not a Kubernetes quantity"),
    (None, {"limit": {"cpu": "1"}}, "'limit' is not one of requests, limits"),
])
def test_wanted_env_and_resources_are_checked_before_anything(env, resources, match):
    with pytest.raises(ConfigError, match=match):
        cp.check_wanted(env, resources)


def test_wanted_env_and_resources_that_can_be_applied_pass():
    cp.check_wanted({"A": "x", "B": 3, "C": True, "D": None, "E": {"value": "v"},
                     "F": {"valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}},
                    {"limits": {"cpu": "500m", "memory": "1Gi"}, "requests": None})


@pytest.mark.parametrize("text, value", [("500m", Decimal("0.5")), ("2", Decimal(2)), ("2000m", Decimal(2)),
                                         ("1Gi", Decimal(2 ** 30)), ("1024Mi", Decimal(2 ** 30)),
                                         ("1e3", Decimal(1000)), ("1k", Decimal(1000)), (0.5, Decimal("0.5"))])
def test_quantity(text, value):
    assert quantity(text) == value


def test_quantity_rejects_garbage():
    with pytest.raises(ConfigError, match="not a Kubernetes quantity"):
        quantity("lots")


def test_plan_resources():
    current = {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"cpu": "2", "memory": "1Gi"}}
    new, previous, changed = cp.plan_resources(current, {"requests": {"cpu": "500m", "memory": "1Gi"},
                                                         "limits": {"cpu": "2000m", "memory": "4Gi"}})
    assert changed
    assert new == {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "2", "memory": "4Gi"}}
    assert previous == {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"cpu": "2", "memory": "1Gi"}}
    assert cp.plan_resources(new, {"limits": {"cpu": "2000m", "memory": "4096Mi"}})[2] is False
    removed, previous, changed = cp.plan_resources(current, {"limits": None, "requests": {"ephemeral-storage": None}})
    assert changed and removed == {"requests": {"cpu": "250m", "memory": "512Mi"}}
    assert previous == {"limits": {"cpu": "2", "memory": "1Gi"}, "requests": {"ephemeral-storage": None}}


def test_plan_resources_rejects_unknown_section():
    with pytest.raises(ConfigError, match="claims"):
        cp.plan_resources({}, {"claims": {}})


def test_merge_original_keeps_first_seen_values():
    first = {"env": {"LOG_LEVEL": {"valueFrom": CM_REF}}, "resources": {"limits": {"cpu": "500m"}}}
    second_previous = {"env": {"LOG_LEVEL": "debug", "DB_RETRY_ATTEMPTS": None},
                       "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}
    assert cp.merge_original(first, second_previous) == {
        "env": {"LOG_LEVEL": {"valueFrom": CM_REF}, "DB_RETRY_ATTEMPTS": None},
        "resources": {"limits": {"cpu": "500m", "memory": "1Gi"}}}


def test_find_container_names_alternatives():
    obj = {"spec": {"template": {"spec": {"containers": [{"name": "a"}, {"name": "b"}]}}}}
    assert cp.find_container(obj, "b") == (1, {"name": "b"})
    with pytest.raises(ConfigError, match="containers: a, b"):
        cp.find_container(obj, "c")
