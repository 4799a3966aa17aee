"""Optional third-party imports, so that a module can always be imported and
fail with missing_required_lib() instead of an ImportError traceback."""
from __future__ import annotations

import importlib
import sys
import traceback

IMPORT_ERRORS = {}


def optional_import(name):
    """Import and return a module, or None (recording the error for module_runner)."""
    if name == "httpx":
        # httpx's __init__ imports its command-line client (rich, click, pygments) whenever those
        # are installed: ~0.2 s of every module run. Modules never use it; httpx falls back cleanly.
        sys.modules.setdefault("httpx._main", None)
    try:
        return importlib.import_module(name)
    except ImportError:
        IMPORT_ERRORS[name.split(".")[0]] = traceback.format_exc()
        return None


def load_yaml(stream):
    """yaml.safe_load, with libyaml's parser where PyYAML was built with it (the same data, ~10x faster)."""
    import yaml  # pylint: disable=import-outside-toplevel

    return yaml.load(stream, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # nosec B506 - a safe loader
