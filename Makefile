# mataresit.emergency — developer entry points.
#   make demo   start the local cluster, deploy the reference workload, break it,
#               run the P0 playbook, show the recovery and the incident report
#   make demo-alerts   the same outage, detected and recovered with no one at the keyboard:
#               Prometheus -> Alertmanager -> ansible-rulebook -> the P0 playbook
#   make test   unit + integration tests, ansible-lint, ansible-test sanity
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: venv build cluster-up cluster-down cluster-status monitoring-up monitoring-down monitoring-status demo \
	demo-alerts test unit lint sanity bench bench-floor bench-alerts docs clean

venv: $(VENV)/.installed $(VENV)/.paths

$(VENV)/.installed: requirements.txt constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -r requirements.txt -c constraints.txt
	mkdir -p .collections/ansible_collections/mataresit
	ln -sfn ../../.. .collections/ansible_collections/mataresit/emergency
	@$(BIN)/python -c 'from tools import monitoring; monitoring.require_java()' \
	  || echo "WARNING: without Java 17 the alert rulebook (ansible-rulebook) cannot run: make demo-alerts and the alert tests need it" >&2
	touch $@

# The checkout and its collection path on the venv's sys.path (a .pth file, as an editable install does):
# tools, tests and benchmarks import `tools.*`, `tests.*` and `ansible_collections.mataresit.emergency.*`
# without editing sys.path.
$(VENV)/.paths: $(VENV)/.installed
	printf '%s\n%s\n' "$(CURDIR)" "$(CURDIR)/.collections" > \
	  "$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')/mataresit_emergency_dev.pth"
	touch $@

build: venv
	$(BIN)/python tools/k8s_build.py
	$(BIN)/python tools/monitoring_build.py

cluster-up: venv
	$(BIN)/python tools/localcluster.py up

cluster-down: venv
	$(BIN)/python tools/localcluster.py down

cluster-status: venv
	$(BIN)/python tools/localcluster.py status

# Prometheus and Alertmanager (reference configuration) on the local cluster; cluster-down stops them too.
monitoring-up: venv
	$(BIN)/python tools/monitoring.py up

monitoring-down: venv
	$(BIN)/python tools/monitoring.py down

monitoring-status: venv
	$(BIN)/python tools/monitoring.py status

demo: venv
	$(BIN)/python tools/demo.py

demo-alerts: venv
	$(BIN)/python tools/demo_alerts.py

test: venv
	bash tools/test.sh

unit: venv
	$(BIN)/python -m pytest -m unit -q

lint: venv
	bash tools/test.sh lint

sanity: venv
	bash tools/test.sh sanity

# The docs site of the modules, roles (argument_specs) and callbacks: build/docs/build/html/index.html.
docs: venv
	bash tools/build_docs.sh

# Speed against the runbook's own kubectl and curl commands on the same cluster: one table (medians of 3 runs,
# ratios, JSON in run/bench/p0_bench.json). BENCH_ARGS="--before DIR" times an earlier checkout as well.
# benchmarks/*_bench.py time single modules and the double fault on their own.
bench: venv
	$(BIN)/python tools/k8s_build.py --kubectl
	$(BIN)/python tools/localcluster.py up
	PATH="$$($(BIN)/python -c 'from tools import k8s_build; print(k8s_build.bin_dir())'):$$PATH" \
	  $(BIN)/python benchmarks/p0_bench.py --cleanup $(BENCH_ARGS)

# What ansible-playbook itself costs here (start-up, a task, a template) and the floor it sets for the P0 run's
# steps (JSON in run/bench/ansible_floor.json).
bench-floor: venv
	$(BIN)/python tools/k8s_build.py --kubectl
	$(BIN)/python tools/localcluster.py up
	PATH="$$($(BIN)/python -c 'from tools import k8s_build; print(k8s_build.bin_dir())'):$$PATH" \
	  $(BIN)/python benchmarks/ansible_floor.py

# From a bad deploy to a resolved incident through Prometheus, Alertmanager and the rulebook (prints seconds).
bench-alerts: venv
	$(BIN)/python benchmarks/alerts_bench.py

clean:
	-$(BIN)/python tools/localcluster.py down
	rm -rf run build .collections
