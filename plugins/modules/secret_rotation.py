#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: secret_rotation
short_description: Rotate Kubernetes Secrets with an encrypted backup, restart their consumers, restore on demand
version_added: 0.1.0
description:
  - Replaces the runbook's blind C(kubectl delete secret --all) and C(deploy-secrets.sh --emergency-rotation).
  - "O(state=rotated): reads the secrets, skips service-account tokens and Helm release secrets
    (type C(helm.sh/release.v1) or label C(owner=helm)), writes an encrypted backup of the current values to
    C(<incident_dir>/secrets/) (mode 0600) B(before) any change, replaces the values per the plan (an update with a
    resourceVersion precondition, never a delete), then restarts the Deployments that consume the secrets
    (env C(secretKeyRef), C(envFrom.secretRef), secret and projected volumes) like C(kubectl rollout restart)."
  - A rotation state file in C(<incident_dir>/secrets/) makes the module re-runnable - after an interruption a
    re-run keeps the original backup, does not rotate again the secrets already rotated, finishes the rest and
    restarts the consumers still pending. A secret rotated in this incident directory is not rotated again.
  - O(state=restored) decrypts the backups and puts every original value back (recreating a deleted secret), then
    restarts the consumers. All backups are decrypted before anything changes, so a wrong O(backup_key) changes
    nothing.
  - The backup is AES-256-GCM with a random 96-bit nonce and a key derived from O(backup_key) by scrypt with a
    random salt stored in the file.
  - Output holds secret names, keys, actions and lengths, never values; every generated or decrypted value is
    registered as a no_log value.
author:
  - mataresit engineers (@mataresit)
requirements:
  - cryptography
extends_documentation_fragment:
  - mataresit.emergency.k8s_auth
  - mataresit.emergency.k8s_auth.WAIT
  - mataresit.emergency.attributes
  - mataresit.emergency.attributes.K8S
attributes:
  check_mode:
    support: full
    details: Updates and restarts are sent as a server-side dry run; no backup or state file is written; the plan is
      reported.
  diff_mode:
    support: partial
    details: The diff lists the keys that change with their sizes, never values.
  platform:
    platforms: kubernetes
options:
  namespace:
    description:
      - Namespace of the secrets.
    type: str
    required: true
  state:
    description:
      - V(rotated) rotates the planned secrets; V(restored) puts back the values from the backups.
    type: str
    choices: [rotated, restored]
    default: rotated
  incident_dir:
    description:
      - Incident workspace directory; the encrypted backups and the rotation state are kept in its C(secrets/)
        subdirectory (mode 0600). Use the same directory to re-run or restore.
    type: path
    required: true
  backup_key:
    description:
      - Passphrase the backup is encrypted with (keep it in Ansible Vault). O(state=restored) needs the same one.
    type: str
    required: true
  plan:
    description:
      - Rules per secret and key. A rule without O(plan[].key) applies to every key of the secret that has no rule of
        its own. Other keys of a secret named here are kept, unless the secret is also selected by O(secrets) (by
        name or V(all)), in which case they follow O(default_rule).
      - Naming a key the secret does not have adds it.
      - With O(state=restored), the secrets named here (and in O(secrets)) limit what is restored.
    type: list
    elements: dict
    default: []
    suboptions:
      secret:
        description:
          - Secret name.
        type: str
        required: true
      key:
        description:
          - Key in the secret's data; omit for a rule covering the whole secret.
        type: str
      action:
        description:
          - V(generate) a random value, set the supplied V(value), or V(keep) the current value.
          - Defaults to V(value) when O(plan[].value) is given, else to the action of O(default_rule).
        type: str
        choices: [generate, value, keep]
      length:
        description:
          - Length of a generated value (8 to 4096). Defaults to O(default_rule.length).
        type: int
      alphabet:
        description:
          - Characters of a generated value. Defaults to O(default_rule.alphabet).
        type: str
        choices: [alnum, hex, urlsafe, printable]
      value:
        description:
          - The new value, supplied (for example from Ansible Vault after rotating an API key at its provider).
        type: str
      external:
        description:
          - The new value must also be set at an external provider; the key is listed in
            RV(external_rotation_required).
        type: bool
        default: false
  secrets:
    description:
      - Further secrets to rotate with O(default_rule), by name, or V(all) for every Opaque secret of the namespace
        (service-account tokens, Helm release secrets, immutable and structured-type secrets are skipped and
        listed in RV(skipped_secrets)).
    type: list
    elements: str
    default: []
  default_rule:
    description:
      - Rule for the keys of the secrets selected by O(secrets) that no plan entry covers.
    type: dict
    default: {}
    suboptions:
      action:
        description:
          - V(generate) a new value or V(keep) the current one.
        type: str
        choices: [generate, keep]
        default: generate
      length:
        description:
          - Length of generated values.
        type: int
        default: 32
      alphabet:
        description:
          - Characters of generated values.
        type: str
        choices: [alnum, hex, urlsafe, printable]
        default: alnum
      external:
        description:
          - Whether keys following this rule must also be set at an external provider.
        type: bool
        default: false
  restart_consumers:
    description:
      - Restart (rollout restart) the Deployments that consume a rotated or restored secret, and wait for them when
        O(wait) is true.
    type: bool
    default: true
  reason:
    description:
      - Recorded as the C(kubernetes.io/change-cause) of the restarted Deployments.
    type: str
notes:
  - Keys whose value is supplied or kept, and keys marked O(plan[].external), are listed in
    RV(external_rotation_required) - rotating them in the cluster alone does not revoke the old credential.
seealso:
  - module: mataresit.emergency.forensics
  - module: mataresit.emergency.isolation
"""

EXAMPLES = r"""
- name: Rotate the application secrets (backup first, consumers restarted)
  mataresit.emergency.secret_rotation:
    namespace: paperless-maverick
    incident_dir: "/var/lib/incidents/{{ incident_id }}"
    backup_key: "{{ vault_incident_backup_key }}"
    reason: "security incident {{ incident_id }}"
    plan:
      - secret: security-secrets
        key: jwt-secret
        length: 64
        alphabet: urlsafe
      - secret: security-secrets
        key: api-key-encryption-key
        alphabet: hex
      - secret: ai-secrets
        key: openai-api-key
        value: "{{ vault_new_openai_api_key }}"
      - secret: ai-secrets
        key: gemini-api-key
        action: keep
  register: rotation

- name: Rotate every Opaque secret with 48-character values
  mataresit.emergency.secret_rotation:
    namespace: paperless-maverick
    incident_dir: "/var/lib/incidents/{{ incident_id }}"
    backup_key: "{{ vault_incident_backup_key }}"
    secrets: all
    default_rule:
      length: 48

- name: Put the original values back
  mataresit.emergency.secret_rotation:
    namespace: paperless-maverick
    incident_dir: "/var/lib/incidents/{{ incident_id }}"
    backup_key: "{{ vault_incident_backup_key }}"
    state: restored
"""

RETURN = r"""
secrets:
  description: Per secret, what was done (V(rotated), V(already_rotated), V(kept), V(restored), V(unchanged)), its keys
    with action and length (never values) and its consumer Deployments.
  returned: always
  type: list
  elements: dict
  sample: [{"name": "security-secrets", "action": "rotated", "consumers": ["paperless-maverick"],
            "keys": [{"key": "jwt-secret", "action": "generate", "length": 64, "alphabet": "urlsafe", "external": false}]}]
rotated:
  description: Names of the secrets rotated by this run.
  returned: when O(state=rotated)
  type: list
  elements: str
restored:
  description: Names of the secrets whose original values were put back by this run.
  returned: when O(state=restored)
  type: list
  elements: str
skipped_secrets:
  description:
    - Secrets left alone, with the reason (service-account token, Helm release, immutable, structured type).
    - Named so because Ansible reads a result key C(skipped) as "the task was skipped".
  returned: always
  type: list
  elements: dict
restarted:
  description: Deployments restarted because they consume a rotated or restored secret.
  returned: always
  type: list
  elements: str
consumers_not_restarted:
  description: Consumer Deployments that were not restarted because O(restart_consumers=false).
  returned: always
  type: list
  elements: str
rollout_seconds:
  description: Seconds each restarted Deployment took to finish its rollout (when O(wait) is true).
  returned: always
  type: dict
external_rotation_required:
  description: Keys whose new value must also be set (or whose old value revoked) at an external provider.
  returned: always
  type: list
  elements: dict
  sample: [{"secret": "ai-secrets", "key": "openai-api-key", "reason": "value supplied from outside: ..."}]
backup:
  description: Path of the encrypted backup written by this run (null if none was needed, and in check mode).
  returned: when O(state=rotated)
  type: str
backups:
  description: Paths of the encrypted backups the values were restored from.
  returned: when O(state=restored)
  type: list
  elements: str
state_file:
  description: Path of the rotation state file (null in check mode before any rotation).
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mataresit.emergency.plugins.module_utils.k8s.args import K8S_WAIT_ARG_SPEC, k8s_spec
from ansible_collections.mataresit.emergency.plugins.module_utils.module_runner import run
from ansible_collections.mataresit.emergency.plugins.module_utils.services import secret_rotation

ALPHABETS = ["alnum", "hex", "urlsafe", "printable"]

ARGUMENT_SPEC = k8s_spec(
    K8S_WAIT_ARG_SPEC,
    namespace=dict(type="str", required=True),
    state=dict(type="str", choices=["rotated", "restored"], default="rotated"),
    incident_dir=dict(type="path", required=True),
    backup_key=dict(type="str", required=True, no_log=True),
    plan=dict(type="list", elements="dict", default=[], options=dict(
        secret=dict(type="str", required=True, no_log=False),
        key=dict(type="str", no_log=False),
        action=dict(type="str", choices=["generate", "value", "keep"]),
        length=dict(type="int"),
        alphabet=dict(type="str", choices=ALPHABETS),
        value=dict(type="str", no_log=True),
        external=dict(type="bool", default=False),
    )),
    secrets=dict(type="list", elements="str", default=[], no_log=False),
    default_rule=dict(type="dict", default={}, options=dict(
        action=dict(type="str", choices=["generate", "keep"], default="generate"),
        length=dict(type="int", default=32),
        alphabet=dict(type="str", choices=ALPHABETS, default="alnum"),
        external=dict(type="bool", default=False),
    )),
    restart_consumers=dict(type="bool", default=True),
    reason=dict(type="str"),
)


def main():
    run(AnsibleModule(ARGUMENT_SPEC, supports_check_mode=True), secret_rotation.operation,
        requires=("httpx", "yaml", "cryptography"))


if __name__ == "__main__":
    main()
