"""Developer tooling, not part of the built collection (galaxy.yml build_ignore).

Importable as `tools.<name>` (`make venv` puts the checkout on the venv's path):
tests and benchmarks import from here, never the other way round.
- k8s_build, localcluster: the local control plane; health_server: the reference app's stand-in;
  workload: deploys the reference workload from reference-system/ (a copy of the production manifests).
- sandbox: the PagerDuty / Statuspage / Slack stand-in validated against ../shared/specs.
- run_module: runs a collection module as Ansible does; tls: throwaway certificates.
- demo: `make demo`; test.sh: `make test`.
"""
