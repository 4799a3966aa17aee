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


@pytest.mark.parametrize("option, value, match", [
    ("wait_sleep", 0, "wait_sleep must be greater than 0 .it is 0.; give the seconds between checks"),
    ("wait_sleep", -1.5, "wait_sleep must be greater than 0 .it is -1.5."),
    ("wait_timeout", -1, "wait_timeout must be at least 0"),
    ("timeout", -3, "timeout must be greater than 0 .it is -3."),
    ("request_timeout", 0, "request_timeout must be greater than 0"),
    ("max_retries", -1, "max_retries must be at least 0"),
])
def test_shared_options_out_of_bounds_fail_before_the_operation(option, value, match):
    module, ran = Module(), []
    module.params[option] = value
    with pytest.raises(SystemExit):
        module_runner.run(module, lambda ctx: ran.append(1) or {"changed": True}, requires=())
    assert ran == [] and module.failed["msg"].startswith("Failed to start: ")
    assert __import__("re").search(match, module.failed["msg"]) and "\n" not in module.failed["msg"]


def test_a_defect_is_one_line_with_the_traceback_kept_for_verbose_runs():
    module = Module()
    with pytest.raises(SystemExit):
        module_runner.run(module, lambda ctx: {}["missing"], requires=())
    assert module.failed["msg"] == ("Failed unexpectedly (KeyError: 'missing'); this is a defect of mataresit.emergency, "
                                    "please report it.")
    assert "Traceback" in module.failed["exception"]


def test_an_inline_kubeconfigs_credentials_are_no_log_from_the_start():
    module = Module()
    module.params["kubeconfig"] = {"users": [{"name": "u", "user": {"token": "inline-token-xyz"}}]}
    module_runner.Context.from_module(module)
    assert "inline-token-xyz" in module.no_log_values
