"""README's "Try a job by hand", word for word: its shell block run in one bash session from the repository
root, as a newcomer would paste it, so the walk-through cannot go stale."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_USERS = {"5deed393-6e04-449a-b98d-7f0fbf88f22e", "02c4e0dc-3e25-4f7d-b811-242c73e24a01"}


def walkthrough() -> str:
    """The first ``sh`` block after the heading "Try a job by hand"."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("### Try a job by hand"):]
    return re.search(r"```sh\n(.*?)```", section, re.S).group(1)


@pytest.mark.timeout(240)
def test_the_readme_walkthrough_runs_as_written():
    shutil.rmtree(ROOT / "build" / "try", ignore_errors=True)
    shell = subprocess.Popen(["bash", "-e", "-c", walkthrough()], cwd=ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = shell.communicate(timeout=200)
    except subprocess.TimeoutExpired:
        _stop(shell)
        out, err = shell.communicate()
        pytest.fail(f"the walk-through did not end within 200 s\n{out[-3000:]}\n{err[-3000:]}\n{_logs()}")
    finally:  # whatever failed, nothing it started is left running (the ports are fixed)
        _stop(shell)
    assert shell.returncode == 0, f"{out[-3000:]}\n{err[-3000:]}\n{_logs()}"
    lines = out.splitlines()
    assert lines[0] == 'kafka.broker-servers = "127.0.0.1:29092"'
    outcomes = [json.loads(line) for line in lines if '"outcome"' in line]
    assert sorted(o["outcome"] for o in outcomes) == ["bad_input", "success", "success"]
    summary = [json.loads(line) for line in lines if "events skipped by validation" in line]
    assert sum(s["skipped"] for s in summary) == 1  # the ownership transfer, on the delete topic
    assert 'cokreat_events_total{job="user-delete",outcome="success"} 2.0' in lines
    failed = [json.loads(line) for line in lines if line.startswith('{"partition"')]
    assert len(failed) == 1 and failed[0]["value"] == '{"eid": "BE_JOB_REQUEST", "edata": {'
    assert failed[0]["headers"]["stage"] == "parse" and failed[0]["headers"]["source.topic"] == "try.delete.user"
    journal = json.loads(lines[-1])
    deleted = {call["path"].rsplit("/", 1)[1] for call in journal if call["method"] == "DELETE"}
    assert deleted == SAMPLE_USERS


def _stop(shell: subprocess.Popen) -> None:
    try:
        os.killpg(shell.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _logs() -> str:
    """The ends of what the sandbox and the job wrote, to say where a failed walk-through stopped."""
    logs = [ROOT / "build" / "try" / name for name in ("sandbox.out", "job.log")]
    return "\n".join(f"--- {log.name}:\n{log.read_text()[-3000:]}" for log in logs if log.exists())
