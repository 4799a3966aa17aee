# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Options shared by the HTTP notification modules (code: SAAS_HTTP_ARG_SPEC in module_utils/notifications.py;
its incident_dir is documented by the incident_dir fragment)."""
from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  request_timeout:
    description:
      - Seconds each request may take (connecting at most 10 of them).
    type: float
    default: 30
  max_retries:
    description:
      - How many times a transient failure is retried, with capped jittered backoff that honours C(Retry-After).
      - Connect errors and rate limiting (429, and Statuspage's 420) are always retriable; 5xx and read timeouts
        only when repeating the request is safe (idempotent methods, or a dedup / incident key).
      - Other 4xx answers fail at once with the provider's message.
    type: int
    default: 3
notes:
  - Secrets (API tokens, routing keys, webhook URLs, passwords) are C(no_log) and never appear in the result;
    in requests returned by the module they read C(********).
  - With O(incident_dir), each notification sent is recorded there (secrets redacted), and a re-run that would
    send exactly the same notification reports C(changed=false) without sending it.
"""
