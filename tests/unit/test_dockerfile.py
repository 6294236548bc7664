"""The Dockerfile, .dockerignore and `make image`, checked without building (no container engine
here): the instructions are parsed, the build context is worked out from .dockerignore's rules,
and the modules the image and the manifests run are imported the way ``bytewax.run`` would.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shlex
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.unit import k8s_render

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9,._-]+\])?==[A-Za-z0-9.+!-]+$")


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    logical, current = [], ""
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if current and line.lstrip().startswith("#"):
            continue
        if line.rstrip().endswith("\\"):
            current += line.rstrip()[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    assert not current, "the Dockerfile ends inside a continuation"
    return [(text.split(None, 1)[0].upper(), text.split(None, 1)[1].strip()) for text in logical]


def all_of(name: str) -> list[str]:
    return [args for instruction, args in instructions() if instruction == name]


def last(name: str) -> str:
    found = all_of(name)
    assert found, f"no {name} in the Dockerfile"
    return found[-1]


def exec_form(args: str) -> list[str]:
    value = json.loads(args)
    assert isinstance(value, list) and all(isinstance(item, str) for item in value), f"not exec form: {args}"
    return value


def env() -> dict[str, str]:
    values = {}
    for args in all_of("ENV"):
        for word in shlex.split(args):
            key, _, value = word.partition("=")
            values[key] = value
    return values


def copies() -> list[tuple[list[str], str]]:
    out = []
    for args in all_of("COPY"):
        words = [w for w in shlex.split(args) if not w.startswith("--")]
        out.append((words[:-1], words[-1]))
    return out


def test_base_image_is_python_311_slim_bookworm():
    assert all_of("FROM") == ["python:3.11-slim-bookworm"]
    # the same minor version as the venv the tests run in, which bytewax 0.21.1 has wheels for
    assert f"{sys.version_info.major}.{sys.version_info.minor}" in ("3.11", "3.12")


def test_runs_as_a_non_root_user():
    user = last("USER").split(":")[0]
    assert user not in ("root", "0")
    assert int(user) >= 1000  # numeric, so that Kubernetes' runAsNonRoot can verify it
    position = [i for i, (name, _) in enumerate(instructions()) if name == "USER"][-1]
    assert all(name not in ("RUN", "COPY", "ADD") for name, _ in instructions()[position + 1:]), \
        "everything after USER would belong to the user"
    statefulset = yaml.safe_load((ROOT / "k8s/base/statefulset.yaml").read_text())
    assert statefulset["spec"]["template"]["spec"]["securityContext"]["runAsUser"] == int(user)


def test_tini_is_pid_1_and_installed_from_debian():
    assert exec_form(last("ENTRYPOINT")) == ["/usr/bin/tini", "--"]
    assert any(re.search(r"apt-get install\b.*\btini\b", run) for run in all_of("RUN"))


def test_default_command_runs_a_job_with_bytewax():
    command = exec_form(last("CMD"))
    assert command[:3] == ["python", "-m", "bytewax.run"]
    assert command[3].startswith("flows.")


def test_ports_environment_and_writable_paths():
    exposed = {int(port.split("/")[0]) for args in all_of("EXPOSE") for port in args.split()}
    assert {3030, 8081, 9999} <= exposed
    values = env()
    assert values["PYTHONUNBUFFERED"] == "1"
    assert "BYTEWAX_DATAFLOW_API_ENABLED" in values and values["BYTEWAX_DATAFLOW_API_PORT"] == "3030"
    # bytewax stops at start when it cannot write dataflow.json there; /app is not writable by the user
    assert values["BYTEWAX_DATAFLOW_API_CACHE_PATH"] == "/tmp" and values["HOME"] == "/tmp"
    assert last("WORKDIR") == "/app"


def test_installs_the_pinned_runtime_requirements_only():
    assert (["requirements.txt"], "./") in copies()
    runs = " ".join(all_of("RUN"))
    assert re.search(r"pip install\b.*(-r|--requirement) requirements\.txt", runs)
    assert not [args for _, args in instructions() if "requirements-dev" in args]
    lines = [line.split("#")[0].strip() for line in (ROOT / "requirements.txt").read_text().splitlines()]
    requirements = [line for line in lines if line]
    assert "bytewax==0.21.1" in requirements
    unpinned = [line for line in requirements if not PIN.match(line)]
    assert not unpinned, f"not pinned with ==: {unpinned}"


def _first_party_imports(directory: Path) -> set[str]:
    names = set()
    for path in directory.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return {name for name in names if (ROOT / name).is_dir() or (ROOT / f"{name}.py").exists()}


def test_copies_every_package_the_jobs_import():
    copied = {source.rstrip("/") for sources, _ in copies() for source in sources}
    for source in copied:
        assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
    packages = {name for name in copied if (ROOT / name).is_dir()}
    assert "flows" in packages
    needed = set().union(*(_first_party_imports(ROOT / name) for name in packages))
    assert needed <= packages, f"imported but not copied into the image: {sorted(needed - packages)}"
    assert "sandbox" not in packages and "tests" not in packages


# --- .dockerignore -------------------------------------------------------------------------------

def _docker_pattern(pattern: str) -> re.Pattern:
    """One .dockerignore pattern (Go filepath.Match plus `**`) as a regular expression."""
    pattern = os.path.normpath(pattern.strip("/"))
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out += "(.*/)?"
            i += 3
        elif pattern.startswith("**", i):
            out += ".*"
            i += 2
        else:
            out += "[^/]*" if pattern[i] == "*" else "[^/]" if pattern[i] == "?" else re.escape(pattern[i])
            i += 1
    return re.compile(f"^{out}$")


def in_context(path: str) -> bool:
    """Whether the build context holds `path` (.dockerignore: the last matching rule wins, and a
    rule on a directory applies to everything under it)."""
    rules = []
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            negated = line.startswith("!")
            rules.append((negated, _docker_pattern(line.lstrip("!"))))
    parts = path.split("/")
    candidates = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    included = True
    for negated, pattern in rules:
        if any(pattern.match(candidate) for candidate in candidates):
            included = negated
    return included


@pytest.mark.parametrize("path", [".venv/bin/python", ".git/config", "tests/unit/test_k8s.py", "bench/results/x.json",
                                  ".pytest_cache/v", ".hypothesis/examples/x", "build/x", "dataflow.json",
                                  "k8s/overlays/user-delete/secrets.env", "flows/__pycache__/job.cpython-311.pyc",
                                  "sandbox/demo.py", "README.md"])
def test_build_context_leaves_out(path):
    assert not in_context(path)


def test_build_context_holds_what_the_dockerfile_copies():
    for sources, _ in copies():
        for source in sources:
            files = [source] if (ROOT / source).is_file() else \
                [str(p.relative_to(ROOT)) for p in (ROOT / source).rglob("*.py") if "__pycache__" not in p.parts]
            assert files, source
            for file in files:
                assert in_context(file), f"{file} is copied but left out of the build context"


# --- the modules the image runs ------------------------------------------------------------------

def job_modules() -> set[str]:
    """Every module the image's CMD and the Kubernetes overlays run with bytewax.run."""
    modules = {exec_form(last("CMD"))[3]}
    for overlay in (ROOT / "k8s" / "overlays").iterdir():
        for doc in k8s_render.build(overlay):
            if doc["kind"] == "StatefulSet":
                args = doc["spec"]["template"]["spec"]["containers"][0]["args"]
                assert args[:3] == ["python", "-m", "bytewax.run"]
                modules.add(args[3])
    return modules


def test_every_job_module_exists_and_builds_its_flow_lazily():
    modules = job_modules()
    assert modules == {"flows.user_delete", "flows.content_auto_creator", "flows.auto_creator_v2"}
    code = (
        "import importlib, sys\n"
        "for name in sys.argv[1:]:\n"
        "    module = importlib.import_module(name)\n"
        "    assert 'flow' not in vars(module), name + ' builds its flow at import'\n"
        "    assert callable(getattr(module, '__getattr__', None)), name + ' has no lazy flow'\n"
        "print('ok')\n"
    )
    # A fresh interpreter, as in the container: an unreadable JOB_CONFIG_FILE must not matter yet.
    environ = {**os.environ, "JOB_CONFIG_FILE": "/nonexistent/job.conf", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code, *sorted(modules)], cwd=ROOT, env=environ,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


# --- make image ----------------------------------------------------------------------------------

def _make_image(tmp_path: Path, engine: str) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "--no-print-directory", "image", f"CONTAINER_ENGINE={engine}", "VERSION=1.2.3"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_make_image_says_when_no_engine_is_installed(tmp_path):
    done = _make_image(tmp_path, "")
    assert done.returncode != 0
    assert "no container engine found" in done.stderr
    assert "docker build -t cokreat-jobs:1.2.3 ." in done.stderr


def test_make_image_says_when_the_engine_does_not_answer(tmp_path):
    fake = tmp_path / "docker"
    fake.write_text("#!/bin/sh\necho \"$@\" >> \"$(dirname \"$0\")/calls\"\n"
                    "[ \"$1\" = info ] && { echo 'Cannot connect to the Docker daemon' >&2; exit 1; }\nexit 0\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    done = _make_image(tmp_path, str(fake))
    assert done.returncode != 0
    assert "no container engine answers" in done.stderr
    assert (tmp_path / "calls").read_text().split() == ["info"]  # never got to `build`


def test_make_image_builds_with_the_version_tag(tmp_path):
    fake = tmp_path / "docker"
    fake.write_text("#!/bin/sh\necho \"$@\" >> \"$(dirname \"$0\")/calls\"\nexit 0\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    done = _make_image(tmp_path, str(fake))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "calls").read_text().splitlines() == ["info", "build -t cokreat-jobs:1.2.3 ."]


# --- waxctl --------------------------------------------------------------------------------------

def test_waxctl_files_import_the_jobs_flow():
    files = sorted((ROOT / "k8s" / "waxctl").glob("*.py"))
    assert {f"flows.{path.stem}" for path in files} == job_modules()
    for path in files:
        imports = [node for node in ast.parse(path.read_text()).body if isinstance(node, (ast.Import, ast.ImportFrom))]
        assert [(node.module, [alias.name for alias in node.names]) for node in imports] == \
            [(f"flows.{path.stem}", ["flow"])], path.name


def test_entrypoint_for_waxctl_runs_the_named_dataflow(tmp_path):
    """The image's entrypoint.sh (what waxctl's chart starts), written as the Dockerfile writes it,
    runs the file the chart names with bytewax.run from the chart's working directory."""
    (run,) = [args for args in all_of("RUN") if "entrypoint.sh" in args]
    write = run.split(" > entrypoint.sh")[0]
    script = subprocess.run(["sh", "-c", write], capture_output=True, text=True, check=True).stdout
    (tmp_path / "entrypoint.sh").write_text(script)
    workdir = tmp_path / "bytewax"
    workdir.mkdir()
    (workdir / "shipped.py").write_text(
        "from bytewax.dataflow import Dataflow\nimport bytewax.operators as op\n"
        "from bytewax.testing import TestingSource\nfrom bytewax.connectors.stdio import StdOutSink\n"
        "flow = Dataflow('shipped')\nop.output('out', op.input('in', flow, TestingSource(['ran'])), StdOutSink())\n")
    environ = {"PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "BYTEWAX_WORKDIR": str(workdir),
               "BYTEWAX_PYTHON_FILE_PATH": str(workdir / "shipped.py")}
    done = subprocess.run(["sh", str(tmp_path / "entrypoint.sh")], env=environ, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["ran"]
