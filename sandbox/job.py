"""Runs a job the way an operator does: ``python -m bytewax.run flows.<job>`` in a subprocess.

Used by the integration tests, the demo and the benchmarks, so all of them exercise the
real module, configuration file and signals::

    job = JobProcess("flows.user_delete", config_text, workdir)   # config_text None: settings from env only
    job.start()
    ...
    assert job.stop() == 0  # SIGTERM, then wait

Each process gets its own free health port (``HEALTH_PORT``, unless ``env`` names one), so
several can run at once; ``job.health_url`` is where its probes answer.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import orjson

from sandbox.process import free_port

SKIP_SUMMARY = "events skipped by validation"  # the message of the line counting them (CONTRACT.md, Logs)
CONFIG_FILE_ENV = "JOB_CONFIG_FILE"  # as flows.runtime.settings names it; the sandbox imports nothing of the jobs

ROOT = Path(__file__).resolve().parent.parent


def user_delete_config(bootstrap: str, base_url: str, group: str, delete_topic: str, transfer_topic: str,
                       failed_topic: str, extra: str = "") -> str:
    """A user-delete config file in the original keys, reading from the earliest offset."""
    return f"""# The job's settings, in the keys of the original cokreat-user-delete.conf.
kafka {{
  broker-servers = "{bootstrap}"
  groupId = "{group}"
  input {{
    user_delete_topic = "{delete_topic}"
    ownership_transfer_topic = "{transfer_topic}"
  }}
  failed.topic = "{failed_topic}"
  auto.offset.reset = "earliest"
}}
program-service-baseUrl = "{base_url}"
{extra}
"""


def _auto_creator_common(bootstrap: str, group: str, topic: str, failed_topic: str, storage_dir: Path,
                         public_url: str) -> str:
    """The keys both auto-creators share: one input topic, the failed topic, local storage on the sandbox."""
    return f"""kafka {{
  broker-servers = "{bootstrap}"
  input.topic = "{topic}"
  failed.topic = "{failed_topic}"
  groupId = "{group}"
  auto.offset.reset = "earliest"
}}
cloud_storage_type = "local"
cloud_storage_container = "{storage_dir}"
cloud_storage.public_base_url = "{public_url}"
download.allow_private_networks = true   # the sandbox's files are on 127.0.0.1
"""


def content_auto_creator_config(bootstrap: str, sandbox_url: str, group: str, topic: str, failed_topic: str,
                                storage_dir: Path, public_url: str, temp_dir: Path, extra: str = "") -> str:
    """A content-auto-creator config file in the original keys, against the sandbox, storing locally."""
    return f"""# The job's settings, in the keys of the original content-auto-creator.conf.
{_auto_creator_common(bootstrap, group, topic, failed_topic, storage_dir, public_url)}
service.content_service.basePath = "{sandbox_url}"
service.search.basePath = "{sandbox_url}"
content_auto_creator.temp_file_location = "{temp_dir}"
content_auto_creator.api_call_delay = 0.05   # an H5P package waits 6 x this before review (1 s unset)
content_auto_creator.gdrive.api_base_url = "{sandbox_url}"
content_auto_creator.gdrive.hosts = ["localhost"]   # the sandbox's Drive links (sandbox.files.DRIVE_HOST)
{extra}
"""


def auto_creator_v2_config(bootstrap: str, sandbox_url: str, group: str, topic: str, failed_topic: str,
                           storage_dir: Path, public_url: str, temp_dir: Path, extra: str = "") -> str:
    """An auto-creator-v2 config file in the original keys, against the sandbox, storing locally."""
    return f"""# The job's settings, in the keys of the original auto-creator-v2.conf.
{_auto_creator_common(bootstrap, group, topic, failed_topic, storage_dir, public_url)}
service.content.basePath = "{sandbox_url}"
service.assessment.basePath = "{sandbox_url}"
source.baseUrl = "{sandbox_url}/api"
temp_file_location = "{temp_dir}"
{extra}
"""


class JobProcess:
    def __init__(self, module: str, config: str | None, workdir: Path, env: dict[str, str] | None = None,
                 args: list[str] | None = None):
        self.module = module
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_path = self.workdir / "job.conf" if config is not None else None
        if self.config_path:
            self.config_path.write_text(config)
        self.log_path = self.workdir / "job.log"
        self._env = {"HEALTH_PORT": str(free_port()), **(env or {})}
        self.health_url = f"http://127.0.0.1:{self._env['HEALTH_PORT']}"
        self._args = args or []
        self.process: subprocess.Popen | None = None

    def start(self) -> "JobProcess":
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONFAULTHANDLER": "1", "PYTHONPATH": str(ROOT),
               "BYTEWAX_DATAFLOW_API_CACHE_PATH": str(self.workdir), **self._env}
        env.pop(CONFIG_FILE_ENV, None)
        if self.config_path:
            env[CONFIG_FILE_ENV] = str(self.config_path)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bytewax.run", self.module, *self._args],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        return self

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout_s: float = 60.0) -> int:
        """SIGTERM and wait: the job's exit code."""
        if self.running():
            self.process.send_signal(signal.SIGTERM)
        return self.wait(timeout_s)

    def kill(self) -> int:
        if self.running():
            self.process.kill()
        return self.wait(30)

    def wait(self, timeout_s: float) -> int:
        """The exit code; a job still running after ``timeout_s`` is aborted, so that its log ends with every
        thread's stack (``PYTHONFAULTHANDLER``), and the error quotes that end."""
        try:
            return self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.send_signal(signal.SIGABRT)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            tail = self.log_path.read_text(errors="replace")[-6000:]
            raise TimeoutError(f"{self.module} still running after {timeout_s:g}s; the end of its log:\n{tail}") \
                from None

    def log_lines(self) -> list[dict]:
        """The job's JSON log lines (other output, such as librdkafka's, is left out)."""
        lines = []
        for raw in self.log_path.read_bytes().splitlines():
            if raw.startswith(b"{"):
                try:
                    lines.append(orjson.loads(raw))
                except orjson.JSONDecodeError:
                    pass
        return lines

    def outcomes(self) -> list[dict]:
        """The outcome lines: every event's but those skipped by validation, which are counted in summaries
        at INFO (:meth:`validation_skips`) and have a line each only at ``LOG_LEVEL=DEBUG``."""
        return [line for line in self.log_lines() if "outcome" in line]

    def validation_skips(self) -> Counter:
        """Events skipped by validation so far, by reason, from the summary lines."""
        return sum((Counter(line["reasons"]) for line in skip_summaries(self.log_lines())), Counter())


def skip_summaries(lines: list[dict]) -> list[dict]:
    """The lines counting events skipped by validation."""
    return [line for line in lines if line.get("message") == SKIP_SUMMARY]
