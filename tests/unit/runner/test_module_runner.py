"""The service contract: execute() owns the client's lifetime, the diff and the warnings; run() turns
collection errors into one-line failures."""
from __future__ import annotations

import pytest

from ansible_collections.mataresit.emergency.plugins.module_utils import module_runner
from ansible_collections.mataresit.emergency.plugins.module_utils.errors import ConfigError
from tests.unit.fakes import fake_context


def operation(ctx):
    ctx.warn("the autoscaler will move it back")
    ctx.client.get("/api/v1/namespaces/ns")
    return {"changed": True, "diff": {"before": 1, "after": 2}}


def test_execute_drops_the_diff_unless_asked_and_adds_warnings(api, context):
    api.add_namespace("ns")
    plain = module_runner.execute(context("scale"), operation)
    assert plain == {"changed": True, "warnings": ["the autoscaler will move it back"]}
    with_diff = module_runner.execute(context("scale", diff=True), operation)
    assert with_diff["diff"] == {"before": 1, "after": 2}


def test_the_client_is_built_on_first_use_only_and_closed_after(context, api):
    api.add_namespace("ns")
    ctx = context("scale")
    assert module_runner.execute(ctx, lambda c: {"changed": False}) == {"changed": False} and ctx._client is None
    seen = []
    module_runner.execute(ctx, lambda c: seen.append(c.client) or {"changed": False})
    assert seen[0]._http.is_closed and ctx._client is None


def test_the_client_is_closed_when_the_operation_fails(api):
    ctx = fake_context("scale", transport=None)
    seen = []

    def failing(c):
        seen.append(c.client)
        raise ConfigError("Failed to scale: bad")

    with pytest.raises(ConfigError):
        module_runner.execute(ctx, failing)
    assert seen[0]._http.is_closed


class Module:
    def __init__(self):
        self.params, self.check_mode, self._diff, self.no_log_values = {"host": None}, False, False, set()
        self.exited = self.failed = None

    def exit_json(self, **result):
        self.exited = result
        raise SystemExit(0)

    def fail_json(self, **result):
        self.failed = result
        raise SystemExit(1)


def test_run_turns_errors_into_fail_json_with_their_details():
    def failing(ctx):
        raise ConfigError("Failed to scale deployment ns/app: no", previous_replicas=3, backup_path=None)

    module = Module()
    with pytest.raises(SystemExit):
        module_runner.run(module, failing, requires=())
    assert module.failed == {"msg": "Failed to scale deployment ns/app: no", "previous_replicas": 3}
