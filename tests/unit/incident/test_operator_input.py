"""The operator's extra vars, checked raw before anything templates them (issue 7)."""
from __future__ import annotations

import pytest

from ansible_collections.mataresit.emergency.plugins.action.operator_input import role_specs
from ansible_collections.mataresit.emergency.plugins.module_utils.errors import ConfigError
from ansible_collections.mataresit.emergency.plugins.module_utils.incident import checked_time, open_incident
from ansible_collections.mataresit.emergency.plugins.module_utils.operator_input import check, free_text

SPECS = role_specs()
PAYLOADS = ["{{ lookup('pipe', 'id') }}", "{% for x in range(3) %}x{% endfor %}", "{# hidden #}"]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_the_reason_may_hold_anything_and_stays_text(payload):
    assert check({"reason": f"api 5xx {payload}"}, SPECS) == ["reason"]
    assert free_text(f"api 5xx\n {payload}") == f"api 5xx {payload}"


@pytest.mark.parametrize("payload", PAYLOADS)
@pytest.mark.parametrize("name", ["emergency_namespace", "incident_id", "incident_reason", "notify_title",
                                  "anything_else", "p0_outage_health_targets"])
def test_any_other_extra_var_holding_a_template_is_refused(name, payload):
    value = [{"url": payload}] if name.endswith("targets") else payload
    with pytest.raises(ConfigError, match=f"^Extra var {name}: it holds a template .*") as err:
        check({name: value}, SPECS)
    assert "\n" not in str(err.value)


def test_a_template_in_a_key_is_refused_too():
    with pytest.raises(ConfigError, match="Extra var notify_details: it holds a template"):
        check({"notify_details": {"{{ x }}": 1}}, SPECS)


@pytest.mark.parametrize("name, value, match", [
    ("emergency_namespace", "Prod_NS", "is not a Kubernetes namespace name; give lowercase letters"),
    ("emergency_namespace", "", "is not a Kubernetes namespace name"),
    ("emergency_database_namespace", "db/../x", "is not a Kubernetes namespace name"),
    ("p0_outage_namespace", "a" * 64, "is not a Kubernetes namespace name"),
    ("incident_id", "../../etc", "is not an incident id; give 3-100 letters"),
    ("incident_id", "ab", "is not an incident id"),
    ("incident_alert_started_at", "garbage", "is not an ISO 8601 time with a timezone"),
    ("incident_alert_started_at", "2026-11-27T10:00:00", "is not an ISO 8601 time with a timezone"),
    ("incident_confirmed", "maybe", "is not true or false"),
    ("restore_secrets", "sure", "is not true or false"),
    ("p0_outage_scale_replicas", "-1", "is negative; give a count of 0 or more"),
    ("p0_outage_scale_replicas", -3, "is negative"),
    ("queue_backlog_max_workers", "ten", "is not a number"),
    ("p0_outage_wait_timeout", "1e9", "is not a number"),
    ("incident_severity", "P9", "is not one of P0, P1, P2, P3"),
    ("p0_outage_recovery_action", "delete_everything", "is not one of rollback, restart, scale_up"),
    ("emergency_environment", "prod env", "is not a name"),
    ("reason", "x" * 2001, "reason is 2001 characters, the limit is 2000"),
    ("reason", "a\x00b", "reason contains control characters"),
    ("_raw_params", "5xx", "'5xx' is not key=value; quote a value with spaces"),
])
def test_the_variables_the_collection_reads_are_checked_by_kind(name, value, match):
    with pytest.raises(ConfigError, match=match) as err:
        check({name: value}, SPECS)
    assert "\n" not in str(err.value)


def test_good_values_pass():
    good = {"reason": "api 5xx after deploy", "incident_id": "p0-20261127-1a2b3c4d", "emergency_namespace": "t-1a2b",
            "incident_alert_started_at": "2026-11-27T10:00:00Z", "incident_confirmed": "true",
            "p0_outage_scale_replicas": "6", "queue_backlog_max_workers": 10, "database_outage_drain_seconds": "60",
            "incident_severity": "P1", "restore_secrets": True, "emergency_health_targets": [{"url": "http://x/h"}],
            "notify_statuspage_request_interval": 0.2}
    assert check(good, SPECS) == sorted(good)


def test_role_specs_give_the_types_of_every_role_option():
    options = {o for specs in SPECS.values() for entry in specs.values() for o in (entry.get("options") or {})}
    assert {"incident_id", "p0_outage_namespace", "queue_backlog_max_workers", "notify_slack_webhook_url"} <= options


@pytest.mark.parametrize("value", ["garbage", "2026-11-27T10:00:00", "2026-13-01T00:00:00Z", "1700000000"])
def test_alert_started_at_must_be_a_time_with_a_timezone(tmp_path, value):
    with pytest.raises(ConfigError, match="alert_started_at .* is not an ISO 8601 time with a timezone"):
        open_incident(str(tmp_path), "P0", "r", ["c"], incident_id="p0-x", alert_started_at=value)
    assert not list(tmp_path.iterdir())


def test_times_are_kept_in_utc():
    assert checked_time("2026-11-27T12:00:00+02:00", "t") == "2026-11-27T10:00:00Z"
    assert checked_time("2026-11-27T10:00:00Z", "t") == "2026-11-27T10:00:00Z"
