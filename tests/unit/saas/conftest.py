"""Helpers for the SaaS unit tests: a stand-in for AnsibleModule (params with
the modules' defaults, check mode, no_log_values)."""
from __future__ import annotations

import importlib

import pytest


def defaults(spec):
    return {name: opt.get("default") for name, opt in spec.items()}


class FakeModule:
    def __init__(self, params, check_mode=False, diff=False):
        self.params = params
        self.check_mode = check_mode
        self._diff = diff
        self.no_log_values = set()


@pytest.fixture
def fake_module():
    def _make(module_name, check_mode=False, diff=False, **params):
        module = importlib.import_module(f"ansible_collections.mataresit.emergency.plugins.modules.{module_name}")
        values = defaults(module.ARGUMENT_SPEC)
        values.update(params)
        return FakeModule(values, check_mode=check_mode, diff=diff)
    return _make
