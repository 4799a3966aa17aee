#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: forensics
short_description: Capture a forensic evidence bundle of a namespace before anything changes
version_added: 0.1.0
description:
  - Collects, concurrently and with paginated lists, the namespace's events (sorted by time), the logs of every
    container since O(since_seconds) (and of the previous container where C(restartCount > 0)), the YAML of Pods,
    Deployments, ReplicaSets, Services, NetworkPolicies, RoleBindings and ConfigMaps, the rollout history of every
    Deployment, and Secret B(metadata only) (name, type, keys, labels, annotations without
    C(kubectl.kubernetes.io/last-applied-configuration)). Secret values never enter the bundle; any secret value
    found in logs or objects is replaced by C([REDACTED]).
  - Writes a tar.gz (mode 0600) with C(manifest.json) (SHA-256 and size of every file) inside and
    C(<bundle>.sha256) beside it. Replaces the runbook's C(kubectl get events --sort-by) and
    C(kubectl logs --all-containers --since=1h > /tmp/...).
  - Run it before M(mataresit.emergency.isolation) and M(mataresit.emergency.secret_rotation) change anything.
  - Only local files are written; nothing in the cluster changes.
author:
  - mataresit engineers (@mataresit)
extends_documentation_fragment:
  - mataresit.emergency.k8s_auth
  - mataresit.emergency.incident_dir
  - mataresit.emergency.attributes
  - mataresit.emergency.attributes.K8S
attributes:
  check_mode:
    support: full
    details: Reads the objects and reports what would be collected; writes nothing and fetches no logs.
  diff_mode:
    support: none
  platform:
    platforms: kubernetes
options:
  namespace:
    description:
      - Namespace to capture.
    type: str
    required: true
  dest:
    description:
      - Directory for the bundle. Defaults to C(<incident_dir>/evidence); one of O(dest) and O(incident_dir) is
        required.
    type: path
  since_seconds:
    description:
      - Log window in seconds, like C(kubectl logs --since).
    type: int
    default: 3600
  max_log_bytes:
    description:
      - At most this many bytes of log per container (and per previous container).
    type: int
    default: 1048576
  include_logs:
    description:
      - Whether to collect container logs.
    type: bool
    default: true
  include_previous_logs:
    description:
      - Whether to collect the logs of the previous container of containers that restarted.
    type: bool
    default: true
notes:
  - Containers whose logs cannot be read (for example a node without a kubelet) are listed in RV(log_errors) and
    noted in the bundle; the capture still succeeds.
seealso:
  - module: mataresit.emergency.isolation
  - module: mataresit.emergency.secret_rotation
"""

EXAMPLES = r"""
- name: Capture evidence first
  mataresit.emergency.forensics:
    namespace: paperless-maverick
    incident_dir: "/var/lib/incidents/{{ incident_id }}"
  register: evidence

- name: Capture a 15 minute window into a given directory
  mataresit.emergency.forensics:
    namespace: paperless-maverick
    dest: /srv/evidence
    since_seconds: 900
"""

RETURN = r"""
path:
  description: Path of the bundle (tar.gz, mode 0600).
  returned: always
  type: str
  sample: /var/lib/incidents/INC-1/evidence/forensics-paperless-maverick-20260101T000000Z.tar.gz
checksum_path:
  description: Path of the C(sha256sum)-format checksum file beside the bundle.
  returned: always
  type: str
sha256:
  description: SHA-256 of the bundle; null in check mode.
  returned: always
  type: str
size:
  description: Size of the bundle in bytes; null in check mode.
  returned: always
  type: int
uncompressed_size:
  description: Total size of the files in the bundle (without the manifest); null in check mode.
  returned: always
  type: int
file_count:
  description: Number of files in the bundle, the manifest included.
  returned: always
  type: int
files:
  description: Names of the files in the bundle.
  returned: always
  type: list
  elements: str
events:
  description: Number of events captured.
  returned: always
  type: int
secrets:
  description: Number of secrets whose metadata was captured.
  returned: always
  type: int
objects:
  description: Number of objects captured per kind.
  returned: always
  type: dict
  sample: {"Pod": 4, "Deployment": 2}
containers_logged:
  description: Number of container logs captured (previous containers counted separately).
  returned: always
  type: int
log_errors:
  description: Containers whose logs could not be read, with the reason.
  returned: always
  type: list
  elements: dict
redactions:
  description: How many secret values were found in logs or objects and replaced by C([REDACTED]).
  returned: always
  type: int
duration:
  description: Seconds the capture took.
  returned: always
  type: float
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mataresit.emergency.plugins.module_utils.k8s.args import k8s_spec
from ansible_collections.mataresit.emergency.plugins.module_utils.module_runner import run
from ansible_collections.mataresit.emergency.plugins.module_utils.services import forensics
from ansible_collections.mataresit.emergency.plugins.module_utils.workspace import INCIDENT_DIR_ARG_SPEC

ARGUMENT_SPEC = k8s_spec(
    INCIDENT_DIR_ARG_SPEC,
    namespace=dict(type="str", required=True),
    dest=dict(type="path"),
    since_seconds=dict(type="int", default=3600),
    max_log_bytes=dict(type="int", default=1048576),
    include_logs=dict(type="bool", default=True),
    include_previous_logs=dict(type="bool", default=True),
)


def main():
    module = AnsibleModule(ARGUMENT_SPEC, required_one_of=[("dest", "incident_dir")], supports_check_mode=True)
    run(module, forensics.operation)


if __name__ == "__main__":
    main()
