"""The job_result module: the result of a task started in the background (`async`, `poll: 0`), once it ends.

A job's record is a JSON file named after its id in the async directory: `{"started": 1, "finished": 0, ...}`
while it runs, the module's own result once it has ended (what ansible.builtin.async_status reads).
"""
from __future__ import annotations

import json
import os
import re

from ansible_collections.mataresit.emergency.plugins.module_utils.errors import ConfigError, EmergencyError, WaitTimeout
from ansible_collections.mataresit.emergency.plugins.module_utils.k8s import waiter

# Ids of async_wrapper (digits.digits) and of the collection's in-process jobs (j + digits); never a path.
JOB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
# What a job's record says about the job rather than the task's result.
RECORD_KEYS = ("started", "finished", "ansible_job_id", "results_file", "child_pid", "invocation")


def read_record(path):
    """The job's record: None while it runs (or is being written), else its result."""
    try:
        with open(path, encoding="utf-8") as handle:
            record = json.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"Failed to read the job: there is no job {os.path.basename(path)} in "
                          f"{os.path.dirname(path)} (give the ansible_job_id the task registered)") from None
    except ValueError:
        return None
    except OSError as exc:
        raise ConfigError(f"Failed to read the job {os.path.basename(path)}: {exc.strerror or exc}") from exc
    if not isinstance(record, dict) or record.get("started"):
        return None
    return record


def wait(jid, async_dir, wait_timeout, wait_sleep, option="jid"):
    """The result of the background job `jid` once it has ended (its failure raised with its own message)."""
    if not JOB_ID.match(jid or ""):
        raise ConfigError(f"Failed to start: {option} must be the ansible_job_id a task started with async "
                          "registered (letters, digits, '.', '_' and '-').")
    path = os.path.join(os.path.expanduser(async_dir), jid)
    deadline = waiter.Deadline(wait_timeout)
    for record in waiter.poll(lambda: read_record(path), deadline, wait_sleep):
        if record is not None:
            break
    else:
        raise WaitTimeout(f"The job {jid} did not end within {wait_timeout}s", finished=False, ansible_job_id=jid)
    result = {k: v for k, v in record.items() if k not in RECORD_KEYS and not k.startswith("_ansible")}
    result.update(finished=True, ansible_job_id=jid, changed=bool(record.get("changed")))
    if record.get("failed"):
        failed = dict(result)
        failed.pop("failed", None)
        msg = failed.pop("msg", None) or "the job failed without a message"
        raise EmergencyError(str(msg), **failed)
    return result


def operation(ctx):
    p = ctx.params
    return wait(p["jid"], p["async_dir"], p["wait_timeout"], p["wait_sleep"])
