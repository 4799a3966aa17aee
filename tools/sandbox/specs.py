"""The official API descriptions the sandbox validates against, and the one
documented place where they are adjusted.

Documents (see specs/README.md): PagerDuty Events v2 and REST v2 (PagerDuty's
api-schema), Statuspage v1 (a public extraction of Atlassian's documentation).
Location: $MRE_SPECS_DIR, else ../shared/specs beside the repository root.
When the documents are absent, validation is SKIPPED - loudly: a warning, a
flag in the sandbox status, and `validated: false` on every recorded request.

All three documents are loaded with spec validation off
(`Config(spec_validator_cls=None)`): two of them fail strict validation for
reasons unrelated to the operations used here (README: a non-standard
`type: PartialStartDate` in Statuspage, a non-integer example in PagerDuty).

QUIRKS lists every change made to a document, each with the reason; nothing
else is relaxed. `tests/integration/saas/test_sandbox.py` proves each one is
needed: the provider's own request example fails without it.
"""
from __future__ import annotations

import copy
import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# service -> (document file, origin of the real API; request paths carry the servers' path, e.g. /v1)
DOCUMENTS = {
    "pagerduty-events": ("pagerduty-events-v2.openapi.json", "https://events.pagerduty.com"),
    "pagerduty-rest": ("pagerduty-rest-v2.openapi.json", "https://api.pagerduty.com"),
    "statuspage": ("statuspage-v1.openapi.json", "https://api.statuspage.io"),
}


def _writable_reference_ids(doc):
    """PagerDuty REST: `Reference` (service_reference, user_reference, ...) is built on a base whose `id` and
    `type` are readOnly, so every correct write that points at another object (an incident's
    `service: {id, type}`) is rejected as "writing a read-only property". References are the one place a client
    must write an id: give `Reference` its own copy of the base with `id` and `type` writable. The base stays
    readOnly for every other object (incidents, services, users...)."""
    schemas = doc["components"]["schemas"]
    base = copy.deepcopy(schemas["Tag"]["allOf"][0])
    for prop in ("id", "type"):
        base["properties"][prop].pop("readOnly", None)
    schemas["_WritableReferenceBase"] = base
    schemas["Reference"]["allOf"][0] = {"$ref": "#/components/schemas/_WritableReferenceBase"}


def _incident_body_details_text(doc):
    """PagerDuty REST: `IncidentBody.details` is declared `type: object`, but the document's own createIncident
    request example (and PagerDuty's API reference, and the runbook's curl) send a string
    ("A disk is getting full on this machine..."). Accept a string as well as an object."""
    details = doc["components"]["schemas"]["IncidentBody"]["properties"]["details"]
    details.pop("type", None)
    details["anyOf"] = [{"type": "string"}, {"type": "object"}]


QUIRKS = {
    "pagerduty-rest": [_writable_reference_ids, _incident_body_details_text],
}


def specs_dir():
    env = os.environ.get("MRE_SPECS_DIR")
    return Path(env) if env else (REPO.parent / "shared" / "specs")


@dataclass
class Verdict:
    """Outcome of validating one request or response."""
    checked: bool
    errors: list = field(default_factory=list)
    notes: list = field(default_factory=list)

    @property
    def ok(self):
        return not self.errors


def describe_errors(exc):
    """Flatten an openapi-core error (and its causes / schema errors) into readable lines."""
    top = f"{type(exc).__name__}: {exc}"
    lines, seen = [], set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        for err in getattr(exc, "schema_errors", None) or []:
            where = "/".join(str(p) for p in err.absolute_path) or "(body)"
            lines.append(f"{where}: {err.message}")
        exc = exc.__cause__ or exc.__context__
    return lines or [top]


class SpecSet:
    """Loaded documents (or the reason they are not), with request/response validation."""

    def __init__(self, directory=None, apply_quirks=True):
        self.directory = Path(directory) if directory else specs_dir()
        self.apply_quirks = apply_quirks  # False only to prove in tests that each quirk is needed
        self.apps = {}
        self.skipped_reason = None
        self._load()

    @property
    def enabled(self):
        return self.skipped_reason is None

    def _load(self):
        try:
            from openapi_core import Config, OpenAPI
        except ImportError as exc:  # pragma: no cover - depends on the venv
            self._skip(f"openapi-core is not installed ({exc})")
            return
        missing = [doc_file for doc_file, _origin in DOCUMENTS.values() if not (self.directory / doc_file).is_file()]
        if missing:
            self._skip(f"API documents not found in {self.directory}: {', '.join(missing)} (set MRE_SPECS_DIR)")
            return
        for service, (doc_file, _origin) in DOCUMENTS.items():
            doc = json.loads((self.directory / doc_file).read_text(encoding="utf-8"))
            for quirk in QUIRKS.get(service, []) if self.apply_quirks else []:
                quirk(doc)
            self.apps[service] = OpenAPI.from_dict(doc, config=Config(spec_validator_cls=None))

    def _skip(self, reason):
        self.skipped_reason = reason
        warnings.warn(f"SaaS sandbox: OpenAPI validation SKIPPED - {reason}", RuntimeWarning, stacklevel=3)

    def _mock_request(self, service, method, path, args, headers, body, content_type):
        from openapi_core.testing import MockRequest

        origin = DOCUMENTS[service][1]
        return MockRequest(origin, method, path, args=args, headers=headers, data=body or None,
                           content_type=content_type or "")

    def validate_request(self, service, method, path, args, headers, body, content_type):
        if service not in self.apps:
            return Verdict(checked=False)
        request = self._mock_request(service, method, path, args, headers, body, content_type)
        try:
            result = self.apps[service].unmarshal_request(request)
        except Exception as exc:  # noqa: BLE001 - a validator crash is a failed validation, never a pass
            return Verdict(checked=True, errors=[f"validator error: {type(exc).__name__}: {exc}"])
        return Verdict(checked=True, errors=[line for err in result.errors for line in describe_errors(err)])

    def validate_response(self, service, method, path, args, headers, body, content_type, status, response_headers,
                          response_body, response_type):
        """Validate a response. A status the document does not describe is a note, not an error (providers
        answer 420/429/5xx on every path; the documents list them only on some)."""
        if service not in self.apps:
            return Verdict(checked=False)
        from openapi_core.testing import MockResponse
        from openapi_core.templating.responses.exceptions import ResponseNotFound

        request = self._mock_request(service, method, path, args, headers, body, content_type)
        response = MockResponse(response_body or b"", status_code=status, headers=response_headers,
                                content_type=response_type)
        try:
            result = self.apps[service].unmarshal_response(request, response)
        except Exception as exc:  # noqa: BLE001
            return Verdict(checked=True, errors=[f"validator error: {type(exc).__name__}: {exc}"])
        errors, notes = [], []
        for err in result.errors:
            if isinstance(err, ResponseNotFound):
                notes.append(f"status {status} is not described for {method.upper()} {path}")
            else:
                errors.extend(describe_errors(err))
        return Verdict(checked=True, errors=errors, notes=notes)
