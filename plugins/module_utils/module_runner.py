"""The one place a module's operation runs: the service contract.

Every module's main() is `run(module, <service>.operation)`; every service is

    def operation(ctx) -> dict

where ctx (a Context) carries what the operation may use of the run: params,
check_mode, diff, warn(), no_log_values, a lazy Kubernetes client and the
transport seam of the unit tests. `execute()` owns the rest: it closes the
client, keeps the result's `diff` only in diff mode, adds the warnings, and
`run()` turns collection errors into fail_json(msg=...).
"""
from __future__ import annotations

import traceback

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.mataresit.emergency.plugins.module_utils.deps import IMPORT_ERRORS
from ansible_collections.mataresit.emergency.plugins.module_utils.errors import ConfigError, EmergencyError
from ansible_collections.mataresit.emergency.plugins.module_utils.k8s.args import K8S_AUTH_ARG_SPEC
from ansible_collections.mataresit.emergency.plugins.module_utils.k8s.client import K8sClient
from ansible_collections.mataresit.emergency.plugins.module_utils.k8s.connection import inline_secrets

PIP_NAMES = {"yaml": "PyYAML", "prometheus_client": "prometheus-client"}
# Bounds of the options several modules share (k8s/args.py, notifications.SAAS_HTTP_ARG_SPEC, the probes),
# which an argument spec cannot express: option -> (lowest value, whether it is allowed, what it is).
SHARED_BOUNDS = {
    "wait_timeout": (0, True, "the seconds to wait"),
    "wait_sleep": (0, False, "the seconds between checks"),
    "request_timeout": (0, False, "the seconds a request may take"),
    "timeout": (0, False, "the seconds a request may take"),
    "max_retries": (0, True, "how often to retry"),
}


def check_bounds(params):
    """ConfigError naming the first shared option out of its bounds (nothing has been done yet)."""
    for option, (lowest, allowed, what) in SHARED_BOUNDS.items():
        value = params.get(option)
        if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if value < lowest or (value == lowest and not allowed):
            bound = f"at least {lowest}" if allowed else f"greater than {lowest}"
            raise ConfigError(f"Failed to start: {option} must be {bound} (it is {value:g}); give {what}.")


class Context:
    """What an operation gets of its run.

    no_log_values: a set the operation adds secret values to (the module's own set in a module run).
    transport: an httpx transport every HTTP client of the run uses (unit tests: httpx.MockTransport).
    """

    def __init__(self, params, check_mode=False, diff=False, no_log_values=None, transport=None):
        self.params = params
        self.check_mode = check_mode
        self.diff = diff
        self.no_log_values = set() if no_log_values is None else no_log_values
        self.transport = transport
        self.warnings = []
        self._client = None

    @classmethod
    def from_module(cls, module):
        """The module's run; the credentials of an inline kubeconfig never appear in its output, whatever fails."""
        module.no_log_values.update(inline_secrets(module.params.get("kubeconfig")))
        return cls(module.params, check_mode=module.check_mode, diff=module._diff,
                   no_log_values=module.no_log_values)

    def warn(self, message):
        self.warnings.append(message)

    @property
    def client(self):
        """The Kubernetes client, built from the connection options on first use."""
        if self._client is None:
            self._client = K8sClient.from_params(self.params, self.no_log_values, transport=self.transport)
        return self._client

    def run_part(self, operation, **params):
        """Another module's operation as a part of this one (triage's probe, recovery_check's parts): this run's
        connection options and check mode, a client of its own (parts may run at once); its warnings are this run's."""
        part = Context(dict({key: self.params.get(key) for key in K8S_AUTH_ARG_SPEC}, **params),
                       check_mode=self.check_mode, no_log_values=self.no_log_values, transport=self.transport)
        result = execute(part, operation)
        self.warnings.extend(result.pop("warnings", []))
        return result

    def close(self):
        if self._client is not None:
            self._client.close()
            self._client = None


def execute(ctx, operation):
    """Run operation(ctx) and return the module result: diff only in diff mode, warnings added."""
    try:
        result = operation(ctx)
    finally:
        ctx.close()
    if not ctx.diff:
        result.pop("diff", None)
    if ctx.warnings:
        result["warnings"] = list(ctx.warnings)
    return result


def run(module, operation, requires=("httpx", "yaml")):
    """Run a module's operation and exit with its result, or fail with its error's one-line message.

    `requires` names the third-party packages the operation needs; a missing
    one fails with missing_required_lib().
    """
    for name in requires:
        if name in IMPORT_ERRORS:
            module.fail_json(msg=missing_required_lib(PIP_NAMES.get(name, name)), exception=IMPORT_ERRORS[name])
    try:
        check_bounds(module.params)
        result = execute(Context.from_module(module), operation)
    except EmergencyError as exc:
        module.fail_json(msg=str(exc), **{k: v for k, v in exc.details.items() if v is not None})
    except Exception as exc:  # pylint: disable=broad-except  # a defect: one line, the traceback only with -vvv
        module.fail_json(msg=f"Failed unexpectedly ({type(exc).__name__}: {' '.join(str(exc).split())[:300]}); "
                             "this is a defect of mataresit.emergency, please report it.",
                         exception=traceback.format_exc())
    module.exit_json(**result)
