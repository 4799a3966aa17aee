#!/usr/bin/env bash
# The project's test command (README: `make test`): unit and integration tests
# against the local control plane and SaaS sandbox, ansible-lint (production
# profile) and ansible-test sanity. `tools/test.sh pytest|lint|sanity` runs one part.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
export PATH="$PWD/.venv/bin:$PATH"
export ANSIBLE_CONFIG="$PWD/ansible.cfg"
part="${1:-all}"

run_pytest() {
  local started_here=0
  if [ -z "${KUBECONFIG:-}" ] && ! $BIN/python tools/localcluster.py status >/dev/null 2>&1; then
    started_here=1
    $BIN/python tools/localcluster.py up
  fi
  set +e
  # --dist loadgroup: the alert chain tests (one namespace per cluster) stay on one worker
  $BIN/python -m pytest -q -p no:cacheprovider -n "${MRE_TEST_WORKERS:-2}" --dist loadgroup -m "not exclusive" tests
  local rc=$?
  # Tests that restart part of the cluster (the API server) run alone, after the rest.
  $BIN/python -m pytest -q -p no:cacheprovider -m exclusive tests || rc=$?
  set -e
  if [ "$started_here" = 1 ] && [ -z "${MRE_KEEP_CLUSTER:-}" ]; then
    $BIN/python tools/localcluster.py down
  fi
  return $rc
}

run_lint() {
  $BIN/ansible-lint --profile production --offline playbooks roles extensions
}

sanity_venv() {
  # ansible-test in a venv of its own: it installs each sanity test's pinned requirements.
  [ -x .venv-sanity/bin/ansible-test ] || { python3 -m venv .venv-sanity &&
    .venv-sanity/bin/pip install -q "$(grep '^ansible-core==' requirements.txt)"; }
  # ansible-test fetches its pip bootstrap script from a host outside the package registries.
  local cache=~/.ansible/test/cache pip_version
  pip_version=$(grep -ho "pip='[0-9.]*'" .venv-sanity/lib/python3*/site-packages/ansible_test/_internal/python_requirements.py | head -1 | tr -dc '0-9.')
  pip_version=${pip_version:-24.2}
  mkdir -p "$cache/wheels"
  cp tools/get_pip_offline.py "$cache/get_pip_${pip_version//./_}.py"
  $BIN/pip download -q --no-deps "pip==$pip_version" -d "$cache/wheels"
}

run_sanity() {
  sanity_venv
  # ansible-test needs the collection at .../ansible_collections/mataresit/emergency.
  local dest=build/sanity/ansible_collections/mataresit/emergency
  rm -rf build/sanity && mkdir -p "$dest"
  # Left out: tools/ and benchmarks/ (developer tooling, not part of the built collection: see
  # build_ignore in galaxy.yml).
  git ls-files -co --exclude-standard -z | grep -zvE '^(tools|benchmarks)/' | xargs -0 cp --parents -t "$dest"
  (cd "$dest" && git init -q && git add -A >/dev/null && \
    "$OLDPWD/.venv-sanity/bin/ansible-test" sanity --requirements --python 3.11 --color no)
}

case "$part" in
  pytest) run_pytest ;;
  lint) run_lint ;;
  sanity) run_sanity ;;
  all) run_pytest; run_lint; run_sanity ;;
  *) echo "usage: tools/test.sh [all|pytest|lint|sanity]" >&2; exit 2 ;;
esac
