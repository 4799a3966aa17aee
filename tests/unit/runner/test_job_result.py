"""job_result: a background task's result once it ends, its failure as the task's own, never a path from its id."""
from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import pytest

from ansible_collections.mataresit.emergency.plugins.module_utils.errors import ConfigError, EmergencyError, WaitTimeout
from ansible_collections.mataresit.emergency.plugins.module_utils.services import job_result
from tests.unit.fakes import fake_context

RUNNING = {"started": 1, "finished": 0, "ansible_job_id": "j1"}


def run(tmp_path, jid="j1", **params):
    return job_result.operation(fake_context("job_result", jid=jid, async_dir=str(tmp_path), **params))


def test_an_ended_job_gives_the_task_result_without_the_record_keys(tmp_path):
    (tmp_path / "j1").write_text(json.dumps({"changed": True, "msg": "posted", "invocation": {"module_args": {}},
                                             "_ansible_no_log": False, "requests": [1]}))
    assert run(tmp_path) == {"changed": True, "msg": "posted", "requests": [1], "finished": True,
                             "ansible_job_id": "j1"}


def test_a_running_job_is_awaited(tmp_path):
    (tmp_path / "j1").write_text(json.dumps(RUNNING))

    def end():
        time.sleep(0.3)
        (tmp_path / "j1.tmp").write_text(json.dumps({"changed": False, "msg": "done"}))
        (tmp_path / "j1.tmp").replace(tmp_path / "j1")

    threading.Thread(target=end).start()
    assert run(tmp_path, wait_timeout=10, wait_sleep=0.1)["msg"] == "done"


def test_a_failed_job_fails_with_its_own_message_and_result(tmp_path):
    (tmp_path / "j1").write_text(json.dumps({"failed": True, "msg": "Slack said channel_not_found", "status": 404}))
    with pytest.raises(EmergencyError) as caught:
        run(tmp_path)
    assert str(caught.value) == "Slack said channel_not_found"
    assert caught.value.details == {"status": 404, "finished": True, "ansible_job_id": "j1", "changed": False}


def test_a_job_still_running_at_the_deadline_fails_as_not_finished(tmp_path):
    (tmp_path / "j1").write_text(json.dumps(RUNNING))
    with pytest.raises(WaitTimeout) as caught:
        run(tmp_path, wait_timeout=0)
    assert "did not end within 0s" in str(caught.value) and caught.value.details["finished"] is False


@pytest.mark.parametrize("jid", ["../../etc/passwd", "/tmp/x", ".hidden", "", "a/b", "{{ lookup('pipe','id') }}"])
def test_an_id_that_is_not_a_job_id_never_becomes_a_path(tmp_path, jid):
    with pytest.raises(ConfigError, match="jid must be the ansible_job_id"):
        run(tmp_path, jid=jid)


def test_an_unknown_job_says_what_to_give(tmp_path):
    with pytest.raises(ConfigError, match="there is no job j9 in"):
        run(tmp_path, jid="j9")


def test_the_module_reads_the_async_dir_from_the_environment_when_not_given(tmp_path):
    (tmp_path / "j1").write_text(json.dumps({"changed": False, "msg": "from env"}))
    args = json.dumps({"ANSIBLE_MODULE_ARGS": {"jid": "j1"}})
    done = subprocess.run([sys.executable, "-m", "ansible_collections.mataresit.emergency.plugins.modules.job_result"],
                          input=args, capture_output=True, text=True, env={"ANSIBLE_ASYNC_DIR": str(tmp_path),
                                                                           "PATH": "/usr/bin:/bin"}, check=False)
    assert json.loads(done.stdout)["msg"] == "from env", done.stdout + done.stderr


def test_recover_with_a_job_reports_the_recovery_started_in_the_background(tmp_path):
    """recover's `job`: the step that reports the recovery waits for the one started earlier, starts nothing."""
    from ansible_collections.mataresit.emergency.plugins.module_utils.services import recover

    result = {"changed": True, "recovered": True, "workloads": [{"name": "app", "recovered_by": "rollback"}]}
    (tmp_path / "j7").write_text(json.dumps(RUNNING))

    def end():
        time.sleep(0.3)
        (tmp_path / "j7.tmp").write_text(json.dumps(result))
        (tmp_path / "j7.tmp").replace(tmp_path / "j7")

    threading.Thread(target=end).start()
    # The plan names a workload the fake cluster does not serve: recovering it here would fail.
    ctx = fake_context("recover", plan=[{"kind": "Deployment", "namespace": "ns", "name": "app"}], job="j7",
                       async_dir=str(tmp_path), job_timeout=10)
    assert recover.operation(ctx) == dict(result, finished=True, ansible_job_id="j7")


def test_recover_with_a_failed_job_fails_with_its_message(tmp_path):
    from ansible_collections.mataresit.emergency.plugins.module_utils.services import recover

    (tmp_path / "j8").write_text(json.dumps({"failed": True, "msg": "Job reached maximum time limit of 5 seconds."}))
    with pytest.raises(EmergencyError, match="maximum time limit"):
        recover.operation(fake_context("recover", plan=[], job="j8", async_dir=str(tmp_path)))
    with pytest.raises(ConfigError, match="job must be the ansible_job_id"):
        recover.operation(fake_context("recover", plan=[], job="../j8", async_dir=str(tmp_path)))
