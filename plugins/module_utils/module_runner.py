"""The one place where a module's work is run and errors become fail_json."""
from __future__ import annotations

import traceback

from ansible_collections.mataresit.emergency.plugins.module_utils.errors import EmergencyError

try:
    import httpx  # noqa: F401
    HTTPX_IMPORT_ERROR = None
except ImportError:  # pragma: no cover - depends on the interpreter
    HTTPX_IMPORT_ERROR = traceback.format_exc()


def run(module, operation, requires=("httpx",)):
    """Call operation(module) and exit with its result dict.

    operation returns a dict for exit_json; it may add secret values it derived
    to module.no_log_values before returning or raising.
    """
    if "httpx" in requires and HTTPX_IMPORT_ERROR:
        from ansible.module_utils.basic import missing_required_lib

        module.fail_json(msg=missing_required_lib("httpx"), exception=HTTPX_IMPORT_ERROR)
    try:
        result = operation(module)
    except EmergencyError as exc:
        module.fail_json(msg=str(exc), **{k: v for k, v in exc.details.items() if v is not None})
    module.exit_json(**result)
