"""Helpers for the SaaS unit tests: a stand-in for AnsibleModule (params with
the modules' defaults, check mode, no_log_values) and a recording MockTransport."""
from __future__ import annotations

import json

import httpx
import pytest

import importlib


def defaults(spec):
    return {name: opt.get("default") for name, opt in spec.items()}


class FakeModule:
    def __init__(self, params, check_mode=False, diff=False):
        self.params = params
        self.check_mode = check_mode
        self._diff = diff
        self.no_log_values = set()


class Recorder:
    """httpx.MockTransport whose handler answers from a list of (status, body, headers) per call."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.calls = []
        self.transport = httpx.MockTransport(self.handle)

    def handle(self, request):
        body = json.loads(request.content) if request.content else None
        self.calls.append({"method": request.method, "url": str(request.url), "headers": dict(request.headers), "json": body})
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if callable(answer):
            return answer(request)
        status, payload, headers = (tuple(answer) + (None, None))[:3]
        if isinstance(payload, (dict, list)):
            return httpx.Response(status, json=payload, headers=headers)
        return httpx.Response(status, text=payload or "", headers=headers)


@pytest.fixture
def fake_module():
    def _make(module_name, check_mode=False, diff=False, **params):
        module = importlib.import_module(f"ansible_collections.mataresit.emergency.plugins.modules.{module_name}")
        values = defaults(module.ARGUMENT_SPEC)
        values.update(params)
        return FakeModule(values, check_mode=check_mode, diff=diff)
    return _make
