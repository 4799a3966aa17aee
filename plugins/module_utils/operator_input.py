"""The operator's extra vars, checked as data before anything templates them.

ansible-core (2.19) trusts extra vars as templates: a value such as
`{{ lookup('pipe', 'id') }}` given with `-e` would run wherever a template
refers to it, including a role's argument validation. So every extra var is
read raw, before any role of the collection validates or templates it
(the operator_input action, a dependency of the incident role):

- free text (`reason`) may hold anything; it is never referred to by a
  template: the incident step reads it raw and returns it as data;
- every other value is refused if it holds a template (`{{`, `{%`, `{#`);
- the variables the collection reads are checked by kind: Kubernetes names,
  incident ids, times, and the options of the collection's roles by the type
  their argument specs declare (counts are never negative).

Each failure is one line naming the variable and what to give instead.
"""
from __future__ import annotations

import re

from ansible_collections.mataresit.emergency.plugins.module_utils import workspace
from ansible_collections.mataresit.emergency.plugins.module_utils.errors import ConfigError
from ansible_collections.mataresit.emergency.plugins.module_utils.incident import checked_reason, checked_time
from ansible_collections.mataresit.emergency.plugins.module_utils.k8s import resources

TEMPLATE_MARKERS = ("{{", "{%", "{#")
FREE_TEXT = ("reason",)
# Extra vars the playbooks read that are no role's option, by kind.
GLOBALS = {
    "reason": "text",
    "incident_id": "incident_id",
    "emergency_namespace": "namespace",
    "emergency_database_namespace": "namespace",
    "emergency_environment": "word",
    "incident_alert_started_at": "time",
    "restore_secrets": "bool",
}
BOOLEANS = {"true": True, "false": False, "yes": True, "no": False, "on": True, "off": False, "1": True, "0": False}
WORD = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
NUMBER = re.compile(r"^\s*\+?\d+(\.\d+)?\s*$")
INTEGER = re.compile(r"^\s*\+?\d+\s*$")


def _fail(name, problem, hint):
    raise ConfigError(f"Extra var {name}: {problem}; {hint}.")


def template_in(value):
    """The first string in value (keys too) that holds a template marker, or None."""
    if isinstance(value, str):
        return value if any(marker in value for marker in TEMPLATE_MARKERS) else None
    if isinstance(value, dict):
        for key, item in value.items():
            found = template_in(key) or template_in(item)
            if found:
                return found
    if isinstance(value, (list, tuple)):
        for item in value:
            found = template_in(item)
            if found:
                return found
    return None


def free_text(value):
    """A free-text extra var (the reason) as plain data: one line, no control characters; never a template."""
    return checked_reason(value if isinstance(value, str) or value is None else str(value))


def _scalar(value):
    return value if isinstance(value, (str, int, float)) and not isinstance(value, bool) else None


def check_kind(name, value, kind, choices=None):
    """ConfigError naming the variable when value is not of its kind."""
    text = str(value) if _scalar(value) is not None else None
    if kind == "text":
        free_text(value)
    elif kind == "namespace":
        if text is None or not resources.valid_name(text, "label"):
            _fail(name, f"{str(value)[:80]!r} is not a Kubernetes namespace name", "give lowercase letters, digits "
                  "and '-', at most 63 characters, starting and ending with a letter or digit")
    elif kind == "incident_id":
        if text is None or not workspace.ID_PATTERN.fullmatch(text):
            _fail(name, f"{str(value)[:80]!r} is not an incident id", "give 3-100 letters, digits, '.', '_' or '-' "
                  "(for example p1-20261127-1a2b3c4d)")
    elif kind == "word":
        if text is None or not WORD.fullmatch(text):
            _fail(name, f"{str(value)[:80]!r} is not a name", "give letters, digits, '.', '_' or '-'")
    elif kind == "time":
        try:
            checked_time(value, name)
        except ConfigError:
            _fail(name, f"{str(value)[:60]!r} is not an ISO 8601 time with a timezone",
                  "give one such as 2026-11-27T10:00:00Z")
    elif kind == "bool":
        if not isinstance(value, bool) and str(value).strip().lower() not in BOOLEANS:
            _fail(name, f"{str(value)[:40]!r} is not true or false", "give true or false")
    elif kind in ("int", "float"):
        pattern = INTEGER if kind == "int" else NUMBER
        if text is None or not pattern.fullmatch(text):
            negative = text is not None and text.strip().startswith("-")
            _fail(name, f"{str(value)[:40]!r} is " + ("negative" if negative else "not a number"),
                  "give a count of 0 or more" if kind == "int" else "give a number of 0 or more")
    if choices and _scalar(value) is not None and str(value) not in [str(c) for c in choices]:
        _fail(name, f"{str(value)[:40]!r} is not one of {', '.join(str(c) for c in choices if c != '')}",
              "give one of them")


def role_kinds(specs):
    """{option: (kind, choices)} from the collection's role argument specs ({role: argument_specs dict})."""
    kinds = {}
    for argument_specs in specs.values():
        for entry in (argument_specs or {}).values():
            for option, spec in ((entry or {}).get("options") or {}).items():
                spec = spec or {}
                kind = spec.get("type", "str")
                if option.endswith("_namespace") and kind == "str":
                    kind = "namespace"
                elif option == "incident_id":
                    kind = "incident_id"
                elif kind not in ("int", "float", "bool"):
                    kind = "data"
                kinds[option] = (kind, spec.get("choices"))
    return kinds


def check(extra_vars, specs=None):
    """Check every extra var raw; return the names checked. ConfigError (one line) for the first bad one."""
    kinds = role_kinds(specs or {})
    kinds.update({name: (kind, None) for name, kind in GLOBALS.items()})
    for name in sorted(extra_vars or {}):
        value = extra_vars[name]
        if name == "_raw_params":  # words of an -e that were not key=value
            _fail("-e", f"{str(value)[:60]!r} is not key=value", "quote a value with spaces: -e 'reason=\"api 5xx\"'")
        found = None if name in FREE_TEXT else template_in(value)
        if found is not None:
            hint = "give the reason with -e reason=... (it is taken as text)" if name.endswith("reason") else \
                "extra vars are data here: give the value itself"
            _fail(name, f"it holds a template ({found.strip()[:60]!r})", hint)
        kind, choices = kinds.get(name, ("data", None))
        if kind != "data" or choices:
            check_kind(name, value, kind, choices)
    return sorted(extra_vars or {})
