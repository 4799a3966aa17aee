"""Benchmark: the P0 playbook against the runbook's own kubectl and curl commands, one table (issue 10).

Every row is timed both ways on the same cluster, in the same run, median of --rounds (at least 3):

  - assessment: the runbook's P0 assessment (health curls, `get nodes/pods/services`, `rollout history`,
    `logs --tail`, `top`) vs `ansible-playbook playbooks/p0-outage.yml --tags preflight,assess`;
  - bad deploy: a bad app image rolled out, then `rollout undo` + `rollout status` + the health curls vs
    `p0-outage.yml` end to end (SaaS sandbox notifications, validation and report included); also the time from
    `ansible-playbook` start to the rollback reaching the API server, and the run's recovery part (from the
    rollback reaching the API server to the end of the validation, read from the incident timeline: the part the
    runbook's undo + status + curls do);
  - triage: one triage module run vs the runbook's 14 assessment commands (reference workload), and one run on a
    namespace of --pods pods (benchmarks/triage_bench.py prepares it; reused when there);
  - clusters: `--tags preflight,assess` on an inventory of --clusters clusters (all the local cluster, forks as
    many) vs one.

With --before DIR (a checkout of an earlier version of the collection) its playbook rows are timed as well.
The table goes to stdout, the figures as JSON to --json (default run/bench/p0_bench.json).

    .venv/bin/python benchmarks/p0_bench.py [--rounds 3] [--pods 5000] [--clusters 20] [--before DIR] [--cleanup]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime
from pathlib import Path

import yaml

from ansible_collections.mataresit.emergency.plugins.module_utils.errors import NotFoundError
from ansible_collections.mataresit.emergency.plugins.module_utils.k8s import resources, waiter
from ansible_collections.mataresit.emergency.plugins.module_utils.k8s.client import K8sClient
from benchmarks import triage_bench
from benchmarks.common import find_kubectl, median, timed, until

REPO = Path(__file__).resolve().parents[1]
APP, WORKERS = "paperless-maverick", "embedding-queue-workers"
GOOD, BAD = "paperless-maverick:latest", "paperless-maverick:v2-bad"
HEALTH_PATHS = ("/health", "/health/ready", "/health/live")


class Runbook:
    """The runbook's own commands, run one after the other as an engineer types them."""

    def __init__(self, kubectl, kubeconfig, namespace, node_ip):
        self.kubectl, self.kubeconfig, self.ns, self.node_ip = kubectl, kubeconfig, namespace, node_ip

    def k(self, *cmd, check=True):
        done = subprocess.run([self.kubectl, "--kubeconfig", self.kubeconfig, *cmd], capture_output=True, text=True,
                              timeout=600, check=False)
        if check and done.returncode:
            raise SystemExit(f"kubectl {' '.join(cmd)} failed: {done.stderr.strip()}")

    def curls(self):
        for path in HEALTH_PATHS:
            subprocess.run(["curl", "-fsS", "-m", "10", "-o", "/dev/null",
                            f"http://{self.node_ip}{path}?namespace={self.ns}"], check=False)
        # `kubectl exec ... curl localhost:3000/health/database`: here the health server's database check
        self.k("get", "--raw", "/api/v1/namespaces/mataresit-system/services/health-server:80/proxy/health/database"
                               "?db_namespace=database", check=False)

    def assessment(self):
        self.curls()
        for cmd in (["get", "nodes"], ["get", "pods", "-n", self.ns], ["get", "services", "-n", self.ns],
                    ["rollout", "history", f"deployment/{APP}", "-n", self.ns],
                    ["rollout", "history", f"deployment/{WORKERS}", "-n", self.ns],
                    ["logs", "-n", self.ns, f"deployment/{APP}", "--tail=100"],
                    ["top", "nodes"], ["top", "pods", "-n", self.ns]):
            self.k(*cmd, check=False)  # `top` fails without a metrics API, as it does for the engineer

    def undo(self):
        self.k("rollout", "undo", f"deployment/{APP}", "-n", self.ns)
        self.k("rollout", "status", f"deployment/{APP}", "-n", self.ns, "--timeout=300s")
        self.curls()

    def timed_undo(self, stage, rounds):
        """Median seconds of undo + status + curls, each round on a freshly broken deploy of the stage."""
        times = []
        for _ in range(rounds):
            stage.break_()
            times.append(timed(self.undo))
        return median(times)


class Playbook:
    """ansible-playbook p0-outage.yml from a checkout of the collection, as on-call runs it."""

    def __init__(self, root, kubeconfig, sandbox_settings):
        self.root, self.kubeconfig, self.settings = Path(root).resolve(), kubeconfig, sandbox_settings

    def run(self, namespace, *extra, inventory="inventories/local", forks=None):
        """(seconds, return code, timeline entries) of one run."""
        work = Path(tempfile.mkdtemp(prefix="p0-bench-"))
        try:
            settings = work / "sandbox.json"
            settings.write_text(json.dumps(self.settings))
            paths = work / "collections" / "ansible_collections" / "mataresit"
            paths.mkdir(parents=True)
            (paths / "emergency").symlink_to(self.root)
            env = dict(os.environ, MRE_INCIDENTS_DIR=str(work / "incidents"), MRE_KUBECONFIG=self.kubeconfig,
                       ANSIBLE_FORCE_COLOR="0", ANSIBLE_CONFIG=str(self.root / "ansible.cfg"),
                       ANSIBLE_COLLECTIONS_PATH=str(work / "collections"),
                       PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
            cmd = [str(Path(sys.executable).parent / "ansible-playbook"), "playbooks/p0-outage.yml", "-i",
                   str(inventory), "-e", 'reason="p0 bench"', "-e", f"incident_id=bench-{uuid.uuid4().hex[:8]}",
                   "-e", f"@{settings}", "-e", f"emergency_namespace={namespace}", *extra]
            if forks:
                cmd += ["--forks", str(forks)]
            started = time.perf_counter()
            done = subprocess.run(cmd, cwd=self.root, env=env, capture_output=True, text=True, timeout=900,
                                  check=False)
            took = time.perf_counter() - started
            if done.returncode:
                print(f"  playbook exit {done.returncode}: {done.stdout[-1500:]}{done.stderr[-500:]}", file=sys.stderr)
            timeline = []
            for path in (work / "incidents").rglob("timeline.jsonl"):
                timeline += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
            return took, done.returncode, timeline
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def cluster_inventory(self, count, directory):
        """An inventory of `count` clusters, all the local one, with the local inventory's group vars."""
        local = self.root / "inventories" / "local"
        hosts = {f"cluster{i:02d}": {"k8s_kubeconfig": self.kubeconfig} for i in range(1, count + 1)}
        inventory = {"all": {"children": {"clusters": {"hosts": hosts}},
                             "vars": {"ansible_connection": "local",
                                      "ansible_python_interpreter": "{{ ansible_playbook_python }}"}}}
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "hosts.yml").write_text(yaml.safe_dump(inventory))
        if not (directory / "group_vars").exists():
            (directory / "group_vars").symlink_to(local / "group_vars")
        return directory / "hosts.yml"


def interleaved(ways, rounds, run):
    """{way: [run(playbook) of each round]}, the ways taken in turn within each round, so that the load of this
    (shared, noisy) host drifts over all of them alike instead of over the one timed last."""
    results = {way: [] for way in ways}
    for _ in range(rounds):
        for way, playbook in ways.items():
            results[way].append(run(playbook))
    return results


def ended(entry):
    """The Unix time at which a timeline entry's step ended."""
    return datetime.fromisoformat(entry["time"].replace("Z", "+00:00")).timestamp()


def span_until(timeline, since, end_phases):
    """Seconds from `since` (a Unix time) to the end of the last task of end_phases."""
    ends = [ended(e) for e in timeline if e.get("phase") in end_phases and e.get("status") != "skipped"]
    return round(max(ends) - since, 3) if ends and since is not None else None


class BadDeploy:
    """The reference workload in a namespace of its own; break() rolls out the bad app image and waits for the
    crash loop; watch() times when the rollback reaches the API server."""

    def __init__(self, client, kubeconfig):
        from tools import workload

        self.client = client
        self.ns = f"p0-bench-{uuid.uuid4().hex[:6]}"
        workload.deploy(kubeconfig, namespace=self.ns)
        self.path = resources.path("Deployment", self.ns, APP)

    def image(self):
        dep = self.client.get(self.path)
        return next(c["image"] for c in dep["spec"]["template"]["spec"]["containers"] if c["name"] == APP)

    def settle(self):
        from ansible_collections.mataresit.emergency.plugins.module_utils import workloads

        workloads.wait_for_rollout(self.client, self.ns, APP, 300, 0.2)

    def break_(self):
        self.settle()
        self.client.patch(self.path, {"spec": {"template": {"spec": {"containers": [{"name": APP, "image": BAD}]}}}},
                          patch_type="strategic")
        until("the bad app crash-looping",
              lambda: "CrashLoopBackOff" in waiter.workload_pod_problems(self.client, self.client.get(self.path)))

    def time_rollback(self, run):
        """(run's own result, seconds from start until the template's image is no longer the bad one); the Unix
        time of that moment is kept in self.rolled_back_at."""
        seen, stop = {}, threading.Event()
        started, self.started_at, self.rolled_back_at = time.perf_counter(), time.time(), None

        def watch():
            with K8sClient.from_params({"kubeconfig": self.client_kubeconfig}) as client:
                while not stop.is_set():
                    try:
                        dep = client.get(self.path)
                        image = next(c["image"] for c in dep["spec"]["template"]["spec"]["containers"]
                                     if c["name"] == APP)
                        if image != BAD:
                            seen["t"] = time.perf_counter() - started
                            return
                    except Exception:  # noqa: BLE001 - the API may be busy: look again
                        pass
                    time.sleep(0.05)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        result = run()
        stop.set()
        watcher.join(timeout=5)
        if seen.get("t") is not None:
            self.rolled_back_at = self.started_at + seen["t"]
        return result, seen.get("t")

    def remove(self):
        try:
            self.client.delete(resources.path("Namespace", None, self.ns))
        except NotFoundError:
            pass


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pods", type=int, default=5000, help="pods of the big triage namespace (0: skip the row)")
    parser.add_argument("--clusters", type=int, default=20, help="clusters of the multi-cluster row (0: skip)")
    parser.add_argument("--kubeconfig", default=str(REPO / "run" / "cluster" / "kubeconfig"))
    parser.add_argument("--before", help="a checkout of an earlier version of the collection to time as well")
    parser.add_argument("--only", help="comma-separated rows: assess,bad_deploy,triage,clusters")
    parser.add_argument("--json", default=str(REPO / "run" / "bench" / "p0_bench.json"))
    parser.add_argument("--cleanup", action="store_true")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    only = set(args.only.split(",")) if args.only else {"assess", "bad_deploy", "triage", "clusters"}
    kubectl = find_kubectl()
    if not kubectl:
        raise SystemExit("no kubectl found (make bench builds one)")
    from tools.sandbox import Sandbox

    node_ip = f"10.{213 + int(os.environ.get('MRE_NET_INDEX') or 0)}.0.2"
    client = K8sClient.from_params({"kubeconfig": args.kubeconfig})
    sandbox = Sandbox().start()
    ways = {"now": Playbook(REPO, args.kubeconfig, sandbox.settings())}
    if args.before:
        ways["before"] = Playbook(args.before, args.kubeconfig, sandbox.settings())
    rows = []

    def row(name, runbook_s, results, note=""):
        entry = {"work": name, "runbook_s": runbook_s, **{f"{way}_s": value for way, value in results.items()},
                 "note": note}
        for way, value in results.items():
            entry[f"{way}_ratio"] = round(value / runbook_s, 2) if value and runbook_s else None
        rows.append(entry)
        print("  " + json.dumps(entry), flush=True)

    stage = None
    try:
        if only & {"assess", "bad_deploy"}:
            stage = BadDeploy(client, args.kubeconfig)
            stage.client_kubeconfig = args.kubeconfig
            runbook = Runbook(kubectl, args.kubeconfig, stage.ns, node_ip)
        if "assess" in only:
            stage.settle()
            runbook.assessment()  # warm-up, untimed
            base = median([timed(runbook.assessment) for _ in range(args.rounds)])
            runs = interleaved(ways, args.rounds, lambda playbook: playbook.run(stage.ns, "--tags", "preflight,assess"))
            results = {way: median([r[0] for r in done if r[1] == 0]) for way, done in runs.items()}
            row("P0 assessment: runbook commands vs p0-outage.yml --tags preflight,assess", base, results)
        if "bad_deploy" in only:
            base = runbook.timed_undo(stage, args.rounds)
            def bad_deploy_run(playbook):
                stage.break_()
                (took, code, timeline), api = stage.time_rollback(lambda: playbook.run(stage.ns))
                if code == 0 and stage.image() != BAD:
                    return took, api, span_until(timeline, stage.rolled_back_at, ("recover", "validate"))
                return None

            runs = {way: [r for r in done if r] for way, done in interleaved(ways, args.rounds, bad_deploy_run).items()}
            whole = {way: median([r[0] for r in done]) for way, done in runs.items()}
            to_api = {way: median([r[1] for r in done]) for way, done in runs.items()}
            recovery = {way: median([r[2] for r in done]) for way, done in runs.items()}
            row("bad deploy: undo + status + curls vs p0-outage.yml end to end", base, whole)
            row("bad deploy: start to the rollback reaching the API server (goal <= 2 s)", None, to_api)
            row("bad deploy: recovery part (rollback at the API to validated) vs undo + status + curls (goal <= 3x)", base,
                recovery)
        if "triage" in only:
            triage_bench.ensure_reference_namespace(args.kubeconfig, client)
            names = [d["name"] for d in triage_bench.run_triage(args.kubeconfig, triage_bench.REF_NS)[1]["deployments"]]
            cmds = triage_bench.runbook_commands(triage_bench.REF_NS, names)
            base = median([triage_bench.run_kubectl(kubectl, args.kubeconfig, cmds)[0] for _ in range(args.rounds)])
            one = median([triage_bench.run_triage(args.kubeconfig, triage_bench.REF_NS)[0] for _ in range(args.rounds)])
            row(f"one triage call vs the {len(cmds)} kubectl commands (reference workload)", base, {"now": one})
            if args.pods:
                triage_bench.ensure_big_namespace(client, args.pods, 1800)
                cmds = triage_bench.runbook_commands(triage_bench.BIG_NS, ["bench-app"])
                base = median([triage_bench.run_kubectl(kubectl, args.kubeconfig, cmds)[0]
                               for _ in range(args.rounds)])
                runs = [triage_bench.run_triage(args.kubeconfig, triage_bench.BIG_NS) for _ in range(args.rounds)]
                row(f"triage of {args.pods} pods, wall (goal <= 1.5 s) vs the kubectl commands", base,
                    {"now": median([r[0] for r in runs])},
                    note=f"in-module {median([r[1]['duration_seconds'] for r in runs])} s")
                if args.cleanup:
                    client.delete(resources.path("Namespace", None, triage_bench.BIG_NS))
        if "clusters" in only and args.clusters:
            triage_bench.ensure_reference_namespace(args.kubeconfig, client)
            with tempfile.TemporaryDirectory(prefix="p0-bench-inv-") as tmp:
                inventories = {playbook: (playbook.cluster_inventory(1, Path(tmp) / way / "one"),
                                          playbook.cluster_inventory(args.clusters, Path(tmp) / way / "many"))
                               for way, playbook in ways.items()}

                def one_and_many(playbook):
                    single, multi = inventories[playbook]
                    return (playbook.run(triage_bench.REF_NS, "--tags", "preflight,assess", inventory=single),
                            playbook.run(triage_bench.REF_NS, "--tags", "preflight,assess", inventory=multi,
                                         forks=args.clusters))

                runs = interleaved(ways, args.rounds, one_and_many)
            one = {way: median([r[0][0] for r in done if r[0][1] == 0]) for way, done in runs.items()}
            many = {way: median([r[1][0] for r in done if r[1][1] == 0]) for way, done in runs.items()}
            for way in ways:
                rows.append({"work": f"assessment of {args.clusters} clusters vs one (goal <= 2x), {way}",
                             "runbook_s": None, "one_cluster_s": one[way], f"{way}_s": many[way],
                             f"{way}_ratio": round(many[way] / one[way], 2) if one[way] and many[way] else None,
                             "note": f"ratio: {args.clusters} clusters / one cluster"})
                print("  " + json.dumps(rows[-1]), flush=True)
    finally:
        sandbox.stop()
        if stage is not None and args.cleanup:
            stage.remove()
        client.close()
    print_table(rows, list(ways), args.rounds)
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"rounds": args.rounds, "statistic": "median", "rows": rows}, indent=2) + "\n")
    print(f"\nJSON: {out}")


def print_table(rows, ways, rounds):
    def fmt(value, unit="s"):
        return "-" if value is None else f"{value:.2f}{unit}"

    head = ["work", "runbook", *[f"collection ({w})" for w in ways], *[f"ratio ({w})" for w in ways]]
    print(f"\nmedians of {rounds} runs; ratio = collection / runbook (below 1: faster than the runbook)")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in rows:
        base = r.get("runbook_s")
        base_text = fmt(base) if base is not None else (f"one cluster {fmt(r['one_cluster_s'])}"
                                                        if "one_cluster_s" in r else "-")
        cells = [r["work"] + (f" ({r['note']})" if r.get("note") and "one_cluster_s" not in r else ""), base_text,
                 *[fmt(r.get(f"{w}_s")) for w in ways], *[fmt(r.get(f"{w}_ratio"), "x") for w in ways]]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
