"""Benchmark: what ansible-playbook itself costs on this machine, against the steps of the P0 run (issue 10).

The rows of p0_bench.py that stay above their goals are bounded below by ansible-core's own cost, which no
collection removes. This prints that cost and the floor it sets for the P0 run, medians of --rounds:

  - start-up: `ansible-playbook` of an empty play, with the collection's ansible.cfg (its callbacks included);
  - a task: a play of --tasks `ansible.builtin.debug` tasks, and one of --tasks tasks of a light module of the
    collection (`incident_records` of an empty directory, run in the controller's process), each less the empty
    play, per task;
  - a template: compiling and rendering one Jinja expression (ansible-core 2.19 compiles a template string
    each time a task uses it, in that task's worker, with no cache);
  - the P0 run on a bad deploy: the tasks before the rollback reaches the API server and those from there to the
    end of the validation (the incident timeline), the floor their count sets (start-up + tasks x a task),
    and the runbook's `rollout undo` + `rollout status` + curls, the base of the recovery-part goal.

    .venv/bin/python benchmarks/ansible_floor.py [--rounds 3] [--tasks 40] [--no-p0]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import find_kubectl, median

REPO = Path(__file__).resolve().parents[1]


def play(tasks):
    """A play on localhost with these tasks (YAML text)."""
    return f"- name: Floor\n  hosts: localhost\n  gather_facts: false\n  tasks:{tasks or ' []'}\n"


def run_play(text, work):
    """Seconds of one `ansible-playbook` run of the play, as the collection's playbooks run."""
    path = work / "play.yml"
    path.write_text(text)
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), MRE_INCIDENTS_DIR=str(work / "incidents"))
    cmd = [str(Path(sys.executable).parent / "ansible-playbook"), str(path), "-i", "localhost,", "-c", "local",
           "-e", "ansible_python_interpreter={{ ansible_playbook_python }}"]  # as the inventories set it
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False)
    took = time.perf_counter() - started
    if done.returncode:
        raise SystemExit(f"the floor play failed: {done.stdout[-1000:]}{done.stderr[-500:]}")
    return took


def template_ms(count=400):
    """Milliseconds to compile and render one Jinja expression (each a new string, as each task's are)."""
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar, trust_as_template

    templar = Templar(loader=DataLoader(), variables={"state": "triggered", "hosts": ["a", "b"]})
    started = time.perf_counter()
    for index in range(count):
        templar.template(trust_as_template(f"{{{{ ('resolved' if state == 'x{index}' else state) ~ "
                                           f"(hosts | join(',')) }}}}"))
    return (time.perf_counter() - started) * 1000.0 / count


def task_counts(timeline, rolled_back_at):
    """(tasks that ended before the rollback reached the API, tasks from there to the end of the validation).

    Entries that are not a task of the play have no duration (the escalation clock's own lines) or no play (what a
    background job did)."""
    from benchmarks.p0_bench import ended

    tasks = [e for e in timeline if e.get("duration_s") and e.get("play")]
    end = max(ended(e) for e in tasks if e.get("phase") in ("recover", "validate") and e.get("status") != "skipped")
    return (sum(1 for e in tasks if ended(e) <= rolled_back_at),
            sum(1 for e in tasks if rolled_back_at < ended(e) <= end))


def p0_rows(rounds):
    """(tasks before the rollback, tasks in the recovery part, the runbook's undo + status + curls in seconds)."""
    from ansible_collections.mataresit.emergency.plugins.module_utils.k8s.client import K8sClient
    from benchmarks.p0_bench import BadDeploy, Playbook, Runbook
    from tools.sandbox import Sandbox

    kubeconfig = str(REPO / "run" / "cluster" / "kubeconfig")
    kubectl = find_kubectl()
    if not kubectl:
        raise SystemExit("no kubectl found (make bench builds one)")
    client = K8sClient.from_params({"kubeconfig": kubeconfig})
    sandbox = Sandbox().start()
    stage = BadDeploy(client, kubeconfig)
    stage.client_kubeconfig = kubeconfig
    try:
        runbook = Runbook(kubectl, kubeconfig, stage.ns, f"10.{213 + int(os.environ.get('MRE_NET_INDEX') or 0)}.0.2")
        undo = runbook.timed_undo(stage, rounds)
        stage.break_()
        (_took, code, timeline), _api = stage.time_rollback(
            lambda: Playbook(REPO, kubeconfig, sandbox.settings()).run(stage.ns))
        if code or stage.rolled_back_at is None:
            raise SystemExit("the P0 run did not roll back")
        return (*task_counts(timeline, stage.rolled_back_at), undo)
    finally:
        stage.remove()
        sandbox.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tasks", type=int, default=40, help="tasks of the per-task plays")
    parser.add_argument("--no-p0", action="store_true", help="skip the P0 run (no cluster needed)")
    parser.add_argument("--json", default=str(REPO / "run" / "bench" / "ansible_floor.json"))
    args = parser.parse_args()
    if args.rounds < 1 or args.tasks < 1:
        parser.error("--rounds and --tasks must be at least 1")
    debug = "".join(f"\n    - name: Task {i}\n      ansible.builtin.debug:\n        msg: task {i}"
                    for i in range(args.tasks))
    with tempfile.TemporaryDirectory(prefix="ansible-floor-") as work:
        work = Path(work)
        module = "".join(f"\n    - name: Task {i}\n      mataresit.emergency.incident_records:\n"
                         f"        incident_dir: {json.dumps(str(work))}\n        categories: [notifications]"
                         for i in range(args.tasks))
        run_play(play(""), work)  # warm-up (byte code, page cache), untimed
        # The plays timed in turn within each round, so the host's drifting load falls on all three alike.
        runs = [[run_play(play(tasks), work) for tasks in ("", debug, module)] for _ in range(args.rounds)]
        startup, debug_s, module_s = (median(times) for times in zip(*runs))
    figures = {"startup_s": startup, "debug_task_s": round((debug_s - startup) / args.tasks, 4),
               "module_task_s": round((module_s - startup) / args.tasks, 4), "template_ms": round(template_ms(), 3)}
    if not args.no_p0:
        before, recovery, undo = p0_rows(args.rounds)
        figures.update(tasks_before_rollback=before, tasks_in_recovery_part=recovery, runbook_undo_s=undo,
                       rollback_floor_s=round(startup + before * figures["debug_task_s"], 3),
                       recovery_floor_s=round(recovery * figures["debug_task_s"], 3))
    rows = [("ansible-playbook start-up (empty play)", f"{startup:.2f} s"),
            ("one ansible.builtin.debug task", f"{figures['debug_task_s'] * 1000:.0f} ms"),
            ("one task of a light module of the collection", f"{figures['module_task_s'] * 1000:.0f} ms"),
            ("one Jinja template compiled and rendered", f"{figures['template_ms']:.2f} ms")]
    if not args.no_p0:
        rows += [("P0 run: tasks before the rollback reaches the API", str(figures["tasks_before_rollback"])),
                 ("  floor: start-up + that many tasks (goal <= 2 s)", f"{figures['rollback_floor_s']:.2f} s"),
                 ("P0 run: tasks in the recovery part", str(figures["tasks_in_recovery_part"])),
                 ("  floor: that many tasks alone", f"{figures['recovery_floor_s']:.2f} s"),
                 ("  goal: 3 x the runbook's undo + status + curls", f"{3 * undo:.2f} s")]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
