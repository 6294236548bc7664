"""The Kubernetes manifests in k8s/: each overlay rendered, validated against the Kubernetes schemas,
and checked against what the jobs need (module, config, secrets, probes, metrics, cluster wiring).

Rendering: a real kustomize v5 (``kustomize build`` or ``kubectl kustomize``) when one is on PATH,
else the stand-in in tests/unit/k8s_render.py; where both exist, they must agree exactly.
Schemas: kubernetes-validate (strict: unknown fields are errors) for the built-in kinds, at the
oldest (1.27) and newest Kubernetes versions the overlays are meant for. PodMonitor is a custom
resource kubernetes-validate has no schema for: it is checked against PODMONITOR_SCHEMA below, the
fields used here transcribed from the prometheus-operator CRD (monitoring.coreos.com/v1), with
unknown fields rejected as in strict mode.
"""

from __future__ import annotations

import copy
import importlib
import os
import re
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml
from pyhocon import ConfigFactory, ConfigTree

from flows.runtime.settings import CommonSettings, Config, Reader, is_secret, load_config
from tests.unit import k8s_render

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "k8s"
JOBS = {"user-delete": "flows.user_delete", "content-auto-creator": "flows.content_auto_creator",
        "auto-creator-v2": "flows.auto_creator_v2"}
KUBERNETES_VERSIONS = ("1.27.0", "1.37.0")
HEALTH_PORT, METRICS_PORT, CLUSTER_PORT = 8081, 3030, 9999
SUBSTITUTION = re.compile(r"^\s*[^#\s][^=#]*=\s*\$\{\?([A-Za-z_][A-Za-z0-9_]*)\}", re.MULTILINE)

DURATION = r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"
LABELS = {"type": "object", "additionalProperties": {"type": "string"}}
PODMONITOR_SCHEMA = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "PodMonitor"},
        "metadata": {
            "type": "object", "required": ["name"],
            "properties": {"name": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
                                    "maxLength": 253},
                           "labels": LABELS, "annotations": LABELS},
        },
        "spec": {
            "type": "object", "required": ["selector", "podMetricsEndpoints"], "additionalProperties": False,
            "properties": {
                "jobLabel": {"type": "string"},
                "podTargetLabels": {"type": "array", "items": {"type": "string"}},
                "namespaceSelector": {"type": "object", "additionalProperties": False,
                                      "properties": {"any": {"type": "boolean"},
                                                     "matchNames": {"type": "array", "items": {"type": "string"}}}},
                "selector": {"type": "object", "additionalProperties": False, "minProperties": 1,
                             "properties": {"matchLabels": LABELS, "matchExpressions": {"type": "array"}}},
                "podMetricsEndpoints": {
                    "type": "array", "minItems": 1,
                    "items": {
                        "type": "object", "additionalProperties": False,
                        "properties": {
                            "port": {"type": "string"},
                            "portNumber": {"type": "integer", "minimum": 1, "maximum": 65535},
                            "path": {"type": "string", "pattern": "^/"},
                            "scheme": {"enum": ["http", "https", "HTTP", "HTTPS"]},
                            "interval": {"type": "string", "pattern": DURATION},
                            "scrapeTimeout": {"type": "string", "pattern": DURATION},
                            "honorLabels": {"type": "boolean"},
                            "honorTimestamps": {"type": "boolean"},
                        },
                    },
                },
            },
        },
    },
}


# --- rendering -----------------------------------------------------------------------------------

@lru_cache(maxsize=None)
def _real_command() -> tuple[str, ...] | None:
    command = k8s_render.real_kustomize()
    return tuple(command) if command else None


@lru_cache(maxsize=None)
def _rendered(job: str) -> tuple[dict, ...]:
    command = _real_command()
    overlay = K8S / "overlays" / job
    docs = k8s_render.kustomize_build(list(command), overlay) if command else k8s_render.build(overlay)
    return tuple(docs)


def manifests(job: str) -> list[dict]:
    """The overlay's manifests (a copy, so a test may change them)."""
    return copy.deepcopy(list(_rendered(job)))


def one(docs: list[dict], kind: str) -> dict:
    found = [doc for doc in docs if doc["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def pod_spec(docs: list[dict]) -> dict:
    return one(docs, "StatefulSet")["spec"]["template"]["spec"]


def container(docs: list[dict], name: str = "job", init: bool = False) -> dict:
    containers = pod_spec(docs)["initContainers" if init else "containers"]
    found = [c for c in containers if c["name"] == name]
    assert len(found) == 1, f"expected one container {name}"
    return found[0]


def env_of(c: dict) -> dict[str, dict]:
    return {item["name"]: item for item in c.get("env", [])}


def port_number(c: dict, port: int | str) -> int:
    if isinstance(port, int):
        return port
    numbers = [p["containerPort"] for p in c.get("ports", []) if p.get("name") == port]
    assert numbers, f"no container port named {port!r}"
    return numbers[0]


def config_map(docs: list[dict]) -> tuple[str, str]:
    """The path JOB_CONFIG_FILE names and the text of that file in the ConfigMap mounted there."""
    job = container(docs)
    path = Path(env_of(job)["JOB_CONFIG_FILE"]["value"])
    mounts = [m for m in job["volumeMounts"] if Path(m["mountPath"]) == path.parent and "subPath" not in m]
    assert len(mounts) == 1, f"no volume mounted at {path.parent}"
    volume = next(v for v in pod_spec(docs)["volumes"] if v["name"] == mounts[0]["name"])
    name = volume["configMap"]["name"]
    maps = [doc for doc in docs if doc["kind"] == "ConfigMap" and doc["metadata"]["name"] == name]
    assert len(maps) == 1, f"ConfigMap {name} (mounted at {path.parent}) is not in the overlay"
    assert path.name in maps[0]["data"], f"ConfigMap {name} has no key {path.name}"
    return str(path), maps[0]["data"][path.name]


def flat(tree: ConfigTree, prefix: str = "") -> dict[str, object]:
    out = {}
    for key, value in tree.items():
        name = f"{prefix}{key.strip(chr(34))}"
        if isinstance(value, ConfigTree) and len(value):
            out.update(flat(value, f"{name}."))
        else:
            out[name] = value
    return out


def job_config(job: str, text: str, tmp_path: Path, monkeypatch, environ: dict[str, str]) -> Config:
    """The settings the job's process gets from this config file and only these variables."""
    conf = tmp_path / "job.conf"
    conf.write_text(text)
    for name in list(os.environ):
        if name not in ("PATH", "HOME", "TMPDIR", "LANG"):
            monkeypatch.delenv(name)
    for name, value in {"JOB_CONFIG_FILE": str(conf), **environ}.items():
        monkeypatch.setenv(name, value)
    return load_config(importlib.import_module(JOBS[job]).DEFAULTS)


@pytest.fixture(params=list(JOBS))
def job(request) -> str:
    return request.param


def secrets_example(job: str) -> str:
    return (K8S / "overlays" / job / "secrets.env.example").read_text()


# --- rendering and schemas -----------------------------------------------------------------------

def test_every_overlay_directory_is_a_job():
    assert sorted(p.name for p in (K8S / "overlays").iterdir() if p.is_dir()) == sorted(JOBS)


def test_stand_in_renderer_agrees_with_kustomize(job):
    command = _real_command()
    if command is None:
        pytest.skip("no kustomize v5 (kustomize or kubectl) on PATH: the stand-in renderer is used unchecked")
    key = lambda doc: (doc["kind"], doc["metadata"]["name"])  # noqa: E731 (kustomize sorts by kind)
    real = {key(doc): doc for doc in k8s_render.kustomize_build(list(command), K8S / "overlays" / job)}
    stand_in = {key(doc): doc for doc in k8s_render.build(K8S / "overlays" / job)}
    assert sorted(stand_in) == sorted(real)
    for name, doc in real.items():
        assert stand_in[name] == doc, f"{name} differs between {' '.join(command)} and k8s_render.build"


def test_stand_in_renderer_refuses_what_it_does_not_implement(tmp_path):
    (tmp_path / "kustomization.yaml").write_text("resources: []\nreplicas: [{name: x, count: 2}]\n")
    with pytest.raises(k8s_render.Unsupported, match="replicas"):
        k8s_render.build(tmp_path)


def test_config_map_hash_is_kustomizes():
    # kustomize v5.5 names a generated ConfigMap with data {"a": "b"} x-4h2mbtbbt6.
    assert k8s_render.config_hash({"kind": "ConfigMap", "data": {"a": "b"}}) == "4h2mbtbbt6"


def test_overlay_renders_the_expected_resources(job):
    kinds = sorted(doc["kind"] for doc in manifests(job))
    assert kinds == ["ConfigMap", "PodDisruptionBudget", "PodMonitor", "Service", "StatefulSet"]
    names = {doc["metadata"]["name"] for doc in manifests(job) if doc["kind"] != "ConfigMap"}
    assert names == {f"cokreat-{job}"}


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_manifests_are_valid_kubernetes_objects(job, version):
    checked = 0
    for doc in manifests(job):
        if doc["kind"] == "PodMonitor":
            continue
        kubernetes_validate.validate(doc, version, strict=True)
        checked += 1
    assert checked == 4


def test_schema_validation_catches_a_misspelled_field(job):
    statefulset = one(manifests(job), "StatefulSet")
    statefulset["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(statefulset, KUBERNETES_VERSIONS[-1], strict=True)


def test_pod_monitor_matches_the_crd_fields(job):
    monitor = one(manifests(job), "PodMonitor")
    jsonschema.validate(monitor, PODMONITOR_SCHEMA)
    broken = copy.deepcopy(monitor)
    broken["spec"]["podMetricsEndpoints"][0]["interval"] = "30 seconds"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, PODMONITOR_SCHEMA)


# --- the job each overlay runs -------------------------------------------------------------------

def test_overlay_runs_its_module_through_tini(job):
    c = container(manifests(job))
    assert c["command"] == ["/usr/bin/tini", "--"]
    assert c["args"][:4] == ["python", "-m", "bytewax.run", JOBS[job]]
    workers = c["args"][c["args"].index("-w") + 1]
    assert int(workers) >= 1
    module = importlib.import_module(JOBS[job])
    assert module.JOB_NAME == job


def test_all_containers_run_the_one_image(job):
    base = yaml.safe_load((K8S / "base" / "kustomization.yaml").read_text())
    image = base["images"][0]
    expected = f"{image['newName']}:{image['newTag']}"
    spec = pod_spec(manifests(job))
    assert {c["image"] for c in spec["initContainers"] + spec["containers"]} == {expected}


def started(job: str, text: str, tmp_path: Path, monkeypatch, environ: dict[str, str]):
    """The job's own settings code over this config file and only these variables: reader, settings, job."""
    module = importlib.import_module(JOBS[job])
    reader = Reader(job_config(job, text, tmp_path, monkeypatch, environ))
    settings = CommonSettings.read(reader)
    return reader, settings, module.make_job(reader, settings)


def test_config_map_is_the_jobs_config_in_the_original_keys(job, tmp_path, monkeypatch):
    docs = manifests(job)
    path, text = config_map(docs)
    assert path == "/etc/cokreat/job.conf"
    reader, _, _ = started(job, text, tmp_path, monkeypatch, {"STORAGE_KEY": "account", "STORAGE_SECRET": "c2VjcmV0"})
    for key in ("kafka.groupId", "kafka.broker-servers"):
        assert reader.origins[key] == "file", f"{key} missing from the ConfigMap"
    # Every key is one the job reads (a misspelled key would be ignored without a word).
    config = flat(ConfigFactory.parse_string(text))  # no variables set: ${?NAME} lines drop out
    objects = tuple(f"{key}." for key, value in reader.values.items() if isinstance(value, dict))
    unknown = [key for key in config if key not in reader.values and not key.startswith(objects)]
    assert not unknown, f"keys the job does not read: {unknown}"


def test_config_map_starts_the_job(job, tmp_path, monkeypatch):
    """The job's own settings code accepts the file: every key of the right type, every rule met."""
    _, text = config_map(manifests(job))
    reader, settings, made = started(job, text, tmp_path, monkeypatch, {
        "HTTP_AUTHORIZATION": "Bearer t0ken", "STORAGE_KEY": "account", "STORAGE_SECRET": "c2VjcmV0"})
    inputs = [value for key, value in flat(ConfigFactory.parse_string(text)).items() if key.startswith("kafka.input")]
    assert sorted(made.topics) == sorted(inputs)
    assert settings.kafka.group_id == flat(ConfigFactory.parse_string(text))["kafka.groupId"]
    assert settings.http.headers == {"Authorization": "Bearer t0ken"}
    assert reader.unread_environment() == []  # the variables the file substitutes (${?NAME}) are read


# --- secrets -------------------------------------------------------------------------------------

def test_no_secret_objects_or_values_in_the_manifests(job, tmp_path, monkeypatch):
    docs = manifests(job)
    assert not [doc for doc in docs if doc["kind"] == "Secret"], "Secrets are created by hand, never rendered"
    _, text = config_map(docs)
    config = flat(job_config(job, text, tmp_path, monkeypatch, {}).tree)
    secret_keys = {key: value for key, value in config.items() if is_secret(key)}
    assert secret_keys, "expected credential keys (http.headers, cloud_storage_*) in the job's settings"
    for key, value in secret_keys.items():
        assert value in ("", None) or (isinstance(value, ConfigTree) and not len(value)), \
            f"{key} has a value in the ConfigMap: credentials belong in the Secret"
    for doc in docs:
        if doc["kind"] == "ConfigMap":
            for pattern in (r"Bearer [A-Za-z0-9]", r"-----BEGIN", r"AccountKey=", r"\"private_key\""):
                assert not re.search(pattern, yaml.safe_dump(doc)), f"{pattern} in ConfigMap"


def test_secret_variables_reach_secret_keys(job, tmp_path, monkeypatch):
    _, text = config_map(manifests(job))
    names = SUBSTITUTION.findall(text)
    assert "HTTP_AUTHORIZATION" in names
    sentinels = {name: f'{{"type": "service_account", "n": "{name.lower()}"}}' for name in names}
    config = flat(job_config(job, text, tmp_path, monkeypatch, sentinels).tree)
    for name, value in sentinels.items():
        keys = [key for key, v in config.items() if v == value]  # JSON arrives as the same text
        assert len(keys) == 1 and is_secret(keys[0]), f"${{?{name}}} should set one credential key, got {keys}"


def test_secret_is_named_and_documented(job):
    c = container(manifests(job))
    statefulset = one(manifests(job), "StatefulSet")["metadata"]["name"]
    refs = [item["secretRef"] for item in c.get("envFrom", []) if "secretRef" in item]
    assert refs == [{"name": f"{statefulset}-secrets"}], "the job's credentials come from its own Secret"
    example = secrets_example(job)
    assert f"kubectl create secret generic {statefulset}-secrets" in example
    _, text = config_map(manifests(job))
    for name in SUBSTITUTION.findall(text):
        assert re.search(rf"^#?\s*{name}=", example, re.MULTILINE), f"{name} is not in secrets.env.example"


# --- probes, metrics, cluster wiring -------------------------------------------------------------

def test_probes_use_the_health_endpoint(job):
    c = container(manifests(job))
    probes = {kind: c[kind]["httpGet"] for kind in ("livenessProbe", "readinessProbe", "startupProbe")}
    assert probes["livenessProbe"]["path"] == "/livez"
    assert probes["startupProbe"]["path"] == "/livez"
    assert probes["readinessProbe"]["path"] == "/readyz"
    for probe in probes.values():
        assert port_number(c, probe["port"]) == HEALTH_PORT
    assert env_of(c)["HEALTH_PORT"]["value"] == str(HEALTH_PORT)


def test_metrics_are_served_and_scraped(job):
    docs = manifests(job)
    c = container(docs)
    env = env_of(c)
    assert "BYTEWAX_DATAFLOW_API_ENABLED" in env
    assert env["BYTEWAX_DATAFLOW_API_PORT"]["value"] == str(METRICS_PORT)
    monitor = one(docs, "PodMonitor")
    endpoint = monitor["spec"]["podMetricsEndpoints"][0]
    assert endpoint["path"] == "/metrics" and port_number(c, endpoint["port"]) == METRICS_PORT
    labels = one(docs, "StatefulSet")["spec"]["template"]["metadata"]["labels"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert labels[monitor["spec"]["jobLabel"]] == job  # Prometheus' job label = the cokreat_* series' job


def test_selectors_pick_this_jobs_pods_and_no_other(job):
    docs = manifests(job)
    statefulset = one(docs, "StatefulSet")
    labels = statefulset["spec"]["template"]["metadata"]["labels"]
    selectors = {"StatefulSet": statefulset["spec"]["selector"]["matchLabels"],
                 "Service": one(docs, "Service")["spec"]["selector"],
                 "PodDisruptionBudget": one(docs, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"],
                 "PodMonitor": one(docs, "PodMonitor")["spec"]["selector"]["matchLabels"]}
    for kind, selector in selectors.items():
        assert selector.items() <= labels.items(), f"the {kind} does not select the job's pods"
        for other in JOBS:
            if other != job:
                other_labels = one(manifests(other), "StatefulSet")["spec"]["template"]["metadata"]["labels"]
                assert not selector.items() <= other_labels.items(), f"the {kind} also selects {other}'s pods"


def test_headless_service_lets_the_processes_find_each_other(job):
    docs = manifests(job)
    statefulset, service = one(docs, "StatefulSet"), one(docs, "Service")
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["publishNotReadyAddresses"] is True  # peers connect before any is Ready
    assert statefulset["spec"]["serviceName"] == service["metadata"]["name"] == statefulset["metadata"]["name"]
    (port,) = service["spec"]["ports"]
    assert port["port"] == CLUSTER_PORT and port_number(container(docs), port["targetPort"]) == CLUSTER_PORT
    assert statefulset["spec"]["podManagementPolicy"] == "Parallel"
    assert statefulset["spec"]["updateStrategy"] == {"type": "OnDelete"}


def test_cluster_identity_matches_the_statefulset(job):
    docs = manifests(job)
    statefulset = one(docs, "StatefulSet")
    main, init = env_of(container(docs)), env_of(container(docs, "hostfile", init=True))
    assert main["BYTEWAX_STATEFULSET_NAME"]["value"] == statefulset["metadata"]["name"]
    assert main["BYTEWAX_POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert init["BYTEWAX_REPLICAS"]["value"] == str(statefulset["spec"]["replicas"])
    assert init["BYTEWAX_HOSTFILE_PATH"]["value"] == main["BYTEWAX_HOSTFILE_PATH"]["value"]


def test_hostfile_gives_bytewax_its_index_and_peers(job, tmp_path, monkeypatch):
    """The init container's script, run here for 3 replicas, and bytewax.run's own argument parsing."""
    docs = manifests(job)
    init, main = container(docs, "hostfile", init=True), container(docs)
    name = one(docs, "StatefulSet")["metadata"]["name"]
    hostfile = tmp_path / "hostfile.txt"
    env = {"PATH": os.environ["PATH"], "POD_NAME": f"{name}-2", "POD_NAMESPACE": "sunbird",
           "BYTEWAX_REPLICAS": "3", "BYTEWAX_HOSTFILE_PATH": str(hostfile), "CLUSTER_DOMAIN": "cluster.local"}
    assert {"POD_NAME", "POD_NAMESPACE", "CLUSTER_DOMAIN"} <= env_of(init).keys()
    subprocess.run([*init["command"], *init["args"]], env=env, check=True, capture_output=True, timeout=10)
    peers = [f"{name}-{i}.{name}.sunbird.svc.cluster.local:{CLUSTER_PORT}" for i in range(3)]
    assert hostfile.read_text().split() == peers

    import bytewax.run
    for variable in [v for v in os.environ if v.startswith("BYTEWAX_")]:
        monkeypatch.delenv(variable)
    monkeypatch.setenv("BYTEWAX_POD_NAME", f"{name}-2")
    monkeypatch.setenv("BYTEWAX_STATEFULSET_NAME", env_of(main)["BYTEWAX_STATEFULSET_NAME"]["value"])
    monkeypatch.setenv("BYTEWAX_HOSTFILE_PATH", str(hostfile))
    monkeypatch.setattr("sys.argv", ["bytewax.run", *main["args"][3:]])
    args = bytewax.run._parse_args()
    assert args.process_id == 2
    assert args.addresses == ";".join(peers)
    assert args.import_str == JOBS[job]
    assert args.workers_per_process == int(main["args"][main["args"].index("-w") + 1])


# --- running safely ------------------------------------------------------------------------------

def test_pods_run_as_non_root_on_a_read_only_root(job):
    spec = pod_spec(manifests(job))
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] != 0
    assert spec["automountServiceAccountToken"] is False
    for c in spec["initContainers"] + spec["containers"]:
        assert c["securityContext"]["readOnlyRootFilesystem"] is True, c["name"]
        assert c["securityContext"]["allowPrivilegeEscalation"] is False, c["name"]
        assert c["securityContext"]["capabilities"]["drop"] == ["ALL"], c["name"]


def test_every_path_the_job_writes_is_a_writable_volume(job, tmp_path, monkeypatch):
    docs = manifests(job)
    spec, c = pod_spec(docs), container(docs)
    empty_dirs = {v["name"] for v in spec["volumes"] if "emptyDir" in v}
    writable = [Path(m["mountPath"]) for m in c["volumeMounts"] if m["name"] in empty_dirs and not m.get("readOnly")]
    env = env_of(c)
    _, text = config_map(docs)
    config = flat(job_config(job, text, tmp_path, monkeypatch, {}).tree)
    paths = [env["BYTEWAX_DATAFLOW_API_CACHE_PATH"]["value"], env["HOME"]["value"]]
    paths += [value for key, value in config.items() if key.endswith("temp_file_location")]
    assert len(paths) == (2 if job == "user-delete" else 3)
    for path in paths:
        assert any(Path(path) == mount or mount in Path(path).parents for mount in writable), \
            f"{path} is not on a writable volume"
    init = container(docs, "hostfile", init=True)
    hostfile_dir = Path(env_of(init)["BYTEWAX_HOSTFILE_PATH"]["value"]).parent
    assert any(Path(m["mountPath"]) == hostfile_dir and m["name"] in empty_dirs and not m.get("readOnly")
               for m in init["volumeMounts"])


def _quantity(text: str | int) -> float:
    units = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
    match = re.fullmatch(r"([0-9.]+)(m|Ki|Mi|Gi)?", str(text))
    assert match, f"quantity {text!r}"
    return float(match.group(1)) * units.get(match.group(2) or "", 1)


def test_every_container_has_requests_and_limits(job):
    spec = pod_spec(manifests(job))
    for c in spec["initContainers"] + spec["containers"]:
        for resource in ("cpu", "memory"):
            request, limit = c["resources"]["requests"][resource], c["resources"]["limits"][resource]
            assert _quantity(request) <= _quantity(limit), f"{c['name']} {resource}"


def test_grace_period_covers_the_jobs_clean_stop(job, tmp_path, monkeypatch):
    docs = manifests(job)
    _, text = config_map(docs)
    grace_s = Reader(job_config(job, text, tmp_path, monkeypatch, {})).number("shutdown.grace_s")
    assert pod_spec(docs)["terminationGracePeriodSeconds"] >= grace_s + 10


def test_disruption_budget_allows_one_pod_at_a_time(job):
    budget = one(manifests(job), "PodDisruptionBudget")["spec"]
    assert budget["maxUnavailable"] == 1
    assert budget["unhealthyPodEvictionPolicy"] == "AlwaysAllow"


def test_the_preflight_init_container_is_off_by_default_and_checks_the_jobs_config_when_on(job, tmp_path):
    assert "preflight" not in [c["name"] for c in pod_spec(manifests(job))["initContainers"]]
    shutil.copytree(K8S, tmp_path / "k8s")
    kustomization = tmp_path / "k8s" / "overlays" / job / "kustomization.yaml"
    text = kustomization.read_text()
    assert "  # - path: preflight.yaml" in text
    kustomization.write_text(text.replace("  # - path: preflight.yaml", "  - path: preflight.yaml"))
    command = _real_command()
    overlay = tmp_path / "k8s" / "overlays" / job
    docs = k8s_render.kustomize_build(list(command), overlay) if command else k8s_render.build(overlay)
    statefulset = one(docs, "StatefulSet")
    kubernetes_validate.validate(statefulset, KUBERNETES_VERSIONS[-1], strict=True)
    preflight, main = container(docs, "preflight", init=True), container(docs)
    assert preflight["command"] == ["python", "-m", "tools.preflight", JOBS[job]] and JOBS[job] in main["args"]
    assert preflight["image"] == main["image"] and preflight["envFrom"] == main["envFrom"]
    assert env_of(preflight)["JOB_CONFIG_FILE"] == env_of(main)["JOB_CONFIG_FILE"]
    mounts = {m["mountPath"]: m["name"] for m in preflight["volumeMounts"]}
    assert mounts["/etc/cokreat"] == "config" and mounts["/tmp"] == "tmp"
