"""The on-call stdout callback on a play of its own (two hosts, no cluster): it reads only results, tags and
task names, so whatever shape the roles take it prints the summaries, each change, every failure and the
outcome per host; never a skipped task, a secret of a no_log task or a raw control character."""
from __future__ import annotations

from tests.integration.ecosystem.helpers import BIN, run, user_env

PLAY = r"""
- name: Callback exercise
  hosts: all
  gather_facts: false
  tasks:
    - name: Show the assessment
      ansible.builtin.debug:
        msg:
          - "verdict: bad_deploy on {{ inventory_hostname }}"
          - ["evidence from a log line: \u001b[31mred\u001b[0m"]
      tags: [assess]

    - name: A recovery option not taken
      ansible.builtin.command: "false"
      when: false
      tags: [recover]

    - name: Read something
      ansible.builtin.command: "true"
      changed_when: false
      tags: [assess]

    - name: Roll back
      ansible.builtin.command: "echo rolled back"
      tags: [recover]

    - name: Restart each
      ansible.builtin.command: "echo {{ item }}"
      loop: [app, workers]
      tags: [recover]

    - name: Rotate a secret
      ansible.builtin.command: "echo hunter2-secret-value"
      no_log: true
      tags: [recover]

    - name: Recover, or escalate
      tags: [recover]
      block:
        - name: Scale up
          ansible.builtin.fail:
            msg: "scale failed on {{ inventory_hostname }}: quota exceeded"
          when: inventory_hostname == 'b'
      rescue:
        - name: Say so and go on
          ansible.builtin.debug:
            msg: "escalated to the team lead"

    - name: Record the outcome
      ansible.builtin.set_fact:
        demo_needed: true
        demo_recovered: "{{ inventory_hostname == 'a' }}"
        demo_recovered_by: rollback
"""


def play(tmp_path, *args, callback="mataresit.emergency.oncall", collections):
    (tmp_path / "play.yml").write_text(PLAY)
    env = user_env(collections, tmp_path / "home", ANSIBLE_STDOUT_CALLBACK=callback)
    return run([BIN / "ansible-playbook", "-i", "a,b,", "-c", "local", "-e", "ansible_python_interpreter=" + str(BIN / "python"),
                *args, "play.yml"], cwd=tmp_path, env=env)


def test_oncall_prints_summaries_changes_failures_and_outcome(installed_collection, tmp_path):
    proc = play(tmp_path, collections=installed_collection)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    lines = proc.stdout.splitlines()

    # Phase headers from the tags, the roles' summaries, one line per change (loop items named), no skips.
    assert "-- assess " in out and "-- recover " in out
    assert any(line.split()[:3] == ["a", "verdict:", "bad_deploy"] for line in lines)
    assert sum("+ changed: Roll back" in line for line in lines) == 2
    assert any("+ changed: Restart each [app]" in line for line in lines)
    assert any("+ changed: Restart each [workers]" in line for line in lines)
    assert "A recovery option not taken" not in out and "Read something" not in out and "skipping" not in out
    # A no_log task says that it changed something, never what.
    assert "Rotate a secret" in out and "hunter2" not in out
    # Text from outside never drives the terminal.
    assert "\x1b" not in proc.stdout and "\\x1b[31mred" in proc.stdout
    # The failure on b, with its message; the rescue's summary.
    assert any(line.split()[:2] == ["b", "x"] and "FAILED Scale up" in line for line in lines)
    assert "scale failed on b: quota exceeded" in out and "escalated to the team lead" in out

    # The outcome per host, from the <role>_needed / _recovered facts, and the usual recap lines.
    outcome = lines[next(i for i, line in enumerate(lines) if line.startswith("OUTCOME")) + 1:]
    assert outcome[0].split() == ["a", "RECOVERED:", "by", "rollback"]
    assert outcome[1].split() == ["b", "NOT", "RECOVERED:", "demo"]
    assert outcome[2].startswith("a ") and "changed=3" in outcome[2] and "rescued=0" in outcome[2]
    assert outcome[3].startswith("b ") and "rescued=1" in outcome[3]


def test_check_mode_says_what_would_change(installed_collection, tmp_path):
    proc = play(tmp_path, "--check", collections=installed_collection)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "[CHECK MODE: nothing is changed]" in proc.stdout
    assert "CHECK MODE: nothing changed; would act: demo" in proc.stdout


def test_verbose_and_default_output_are_the_usual_ones(installed_collection, tmp_path):
    verbose = play(tmp_path, "-v", collections=installed_collection)
    default = play(tmp_path, collections=installed_collection, callback="default")
    for proc in (verbose, default):
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "TASK [A recovery option not taken]" in proc.stdout and "PLAY RECAP" in proc.stdout
