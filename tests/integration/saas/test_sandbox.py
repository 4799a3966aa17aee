"""The sandbox itself: it validates against the documents, says so loudly when
it cannot, adjusts the documents only where they contradict themselves, and
runs as a CLI for the demo."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings

import httpx
import pytest

from tests.integration.helpers import REPO
from tools.sandbox import QUIRKS, Sandbox, SpecSet, specs_dir

SPECS = specs_dir()
needs_specs = pytest.mark.skipif(not (SPECS / "pagerduty-rest-v2.openapi.json").is_file(),
                                 reason=f"SPEC VALIDATION SKIPPED: API documents not found in {SPECS}")


def document_example(service, path, method):
    name = {"pagerduty-rest": "pagerduty-rest-v2.openapi.json"}[service]
    doc = json.loads((SPECS / name).read_text())
    content = doc["paths"][path][method]["requestBody"]["content"]["application/json"]
    return next(iter(content["examples"].values()))["value"]


@needs_specs
def test_each_quirk_is_needed_for_the_providers_own_example():
    example = document_example("pagerduty-rest", "/incidents", "post")
    headers = {"Authorization": "Token token=x", "Accept": "application/vnd.pagerduty+json;version=2",
               "Content-Type": "application/json", "From": "a@example.com"}
    args = ("pagerduty-rest", "post", "/incidents", {}, headers, json.dumps(example).encode(), "application/json")
    strict = SpecSet(apply_quirks=False).validate_request(*args)
    assert any("read-only" in e for e in strict.errors)            # Reference id / type readOnly
    assert any("details" in e for e in strict.errors)              # IncidentBody.details string vs object
    relaxed = SpecSet().validate_request(*args)
    assert relaxed.checked and relaxed.ok, relaxed.errors
    assert [q.__name__ for q in QUIRKS["pagerduty-rest"]] == ["_writable_reference_ids", "_incident_body_details_text"]


@needs_specs
def test_relaxing_references_keeps_other_read_only_fields_strict():
    headers = {"Authorization": "Token token=x", "Accept": "application/vnd.pagerduty+json;version=2",
               "Content-Type": "application/json", "From": "a@example.com"}
    specs = SpecSet()

    def check(method, path, body):
        return specs.validate_request("pagerduty-rest", method, path, {}, headers, json.dumps(body).encode(),
                                      "application/json")

    refs = check("post", "/incidents", {"incident": {"type": "incident", "title": "t",
                                                     "service": {"id": "P1", "type": "service_reference"},
                                                     "priority": {"id": "P2", "type": "priority_reference"}}})
    assert refs.ok, refs.errors
    # A Tag is built on the same base, not on Reference: writing its id is still "writing a read-only property".
    tag = check("post", "/tags", {"tag": {"type": "tag", "label": "Batman", "id": "PTAG1"}})
    assert any("tag/id: Tried to write read-only property" in e for e in tag.errors)
    bad = check("put", "/incidents/P1", {"incident": {"type": "incident", "status": "exploded"}})
    assert any("exploded" in e for e in bad.errors)


def test_status_endpoint_reports_validation(sandbox):
    status = httpx.get(f"{sandbox.base_url}/_sandbox/status").json()
    assert status["validation"] == ("enabled" if sandbox.specs.enabled else "SKIPPED")
    assert status["settings"]["statuspage_api_url"] == sandbox.urls["statuspage_api_url"]


def test_missing_documents_are_reported_as_skipped_never_passed(tmp_path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        server = Sandbox(specs_dir=tmp_path).start()
    try:
        assert any("validation SKIPPED" in str(w.message) for w in caught)
        status = httpx.get(f"{server.base_url}/_sandbox/status").json()
        assert status["validation"] == "SKIPPED" and str(tmp_path) in status["skipped_reason"]
        httpx.post(server.urls["pagerduty_events_url"] + "/v2/enqueue",
                   json={"routing_key": server.pd_routing_key, "event_action": "trigger",
                         "payload": {"summary": "s", "severity": "critical", "source": "x"}})
        (record,) = server.records()
        assert record["request_validation"]["checked"] is False and record["response_validation"]["checked"] is False
    finally:
        server.stop()


def test_connections_are_kept_alive(sandbox):
    with httpx.Client() as client:
        for _request in range(3):
            client.get(f"{sandbox.urls['statuspage_api_url']}/pages/{sandbox.sp_page_id}/components",
                       headers={"Authorization": f"OAuth {sandbox.sp_api_key}"})
    assert sandbox.status()["connections"] == 1 and len(sandbox.records()) == 3


def test_cli_prints_its_base_url():
    proc = subprocess.Popen([sys.executable, "-m", "tools.sandbox", "--port", "0"], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=str(REPO)))
    try:
        base_url = proc.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:")
        status = httpx.get(f"{base_url}/_sandbox/status", timeout=10).json()
        assert status["base_url"] == base_url and status["requests"] == 0
        fault = httpx.post(f"{base_url}/_sandbox/faults", json={"status": 429, "service": "slack", "retry_after": 1})
        assert fault.json() == {"queued": 1}
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_specs_dir_comes_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("MRE_SPECS_DIR", str(tmp_path))
    assert specs_dir() == tmp_path
    with pytest.warns(RuntimeWarning, match="validation SKIPPED"):
        assert SpecSet().enabled is False


def test_statuspage_components_are_validated_both_ways(sandbox):
    sandbox.allow_rejections()
    headers = {"Authorization": f"OAuth {sandbox.sp_api_key}"}
    url = f"{sandbox.urls['statuspage_api_url']}/pages/{sandbox.sp_page_id}/components/cmp000000001"
    ok = httpx.patch(url, headers=headers, json={"component": {"status": "partial_outage"}})
    assert ok.status_code == 200 and ok.json()["status"] == "partial_outage"
    bad = httpx.patch(url, headers=headers, json={"component": {"status": "exploded"}})
    assert bad.status_code == 400 and sandbox.components["cmp000000001"]["status"] == "partial_outage"
    first, second = sandbox.records()
    assert first["response_validation"]["checked"] and not first["response_validation"]["errors"]
    assert not first["request_validation"]["errors"] and second["request_validation"]["errors"]
