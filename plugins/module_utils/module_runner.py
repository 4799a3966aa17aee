"""The one place where a module's work is run and errors become fail_json."""
from __future__ import annotations

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.mataresit.emergency.plugins.module_utils.deps import IMPORT_ERRORS
from ansible_collections.mataresit.emergency.plugins.module_utils.errors import EmergencyError

PIP_NAMES = {"yaml": "PyYAML", "prometheus_client": "prometheus-client"}


def run(module, operation, requires=("httpx", "yaml")):
    """Call operation(module) and exit with the dict it returns.

    `requires` names the third-party packages the operation needs; a missing
    one fails with missing_required_lib(). The operation may add secret values
    it derived to module.no_log_values before returning or raising.
    """
    for name in requires:
        if name in IMPORT_ERRORS:
            module.fail_json(msg=missing_required_lib(PIP_NAMES.get(name, name)), exception=IMPORT_ERRORS[name])
    try:
        result = operation(module)
    except EmergencyError as exc:
        module.fail_json(msg=str(exc), **{k: v for k, v in exc.details.items() if v is not None})
    module.exit_json(**result)
