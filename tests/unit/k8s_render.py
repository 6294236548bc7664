"""Render the kustomize overlays in ``k8s/``: with a real kustomize when one is installed, and with
a small stand-in for the part of kustomize the overlays use, so the manifest tests run anywhere.

``render(overlay)`` is :func:`kustomize_build` (``kustomize build``, or ``kubectl kustomize`` of a
kubectl that embeds kustomize v5) when :func:`real_kustomize` finds one, else :func:`build`.
``tests/unit/test_k8s.py`` renders with both where it can and requires the same manifests, so the
stand-in cannot drift from kustomize unnoticed.

The stand-in supports exactly this, and refuses any other ``kustomization.yaml`` field:

* ``resources``: YAML files and directories holding a ``kustomization.yaml`` (built first, as
  kustomize does for a base);
* ``configMapGenerator`` with ``files`` (``key=path`` or ``path``) and ``literals``: the ConfigMap
  gets kustomize's content-hash suffix (the same hash: sha256 of the Go JSON encoding of
  ``{"data", "kind", "name": ""}``, first 10 hex digits, with 0/1/3/a/e mapped to g/h/k/m/t);
* ``patches`` with ``path``: strategic-merge patches on the resource of the patch's kind and name.
  Maps merge; the lists of pod specs merge by key (containers and initContainers by ``name``,
  env and volumes by ``name``, volumeMounts by ``mountPath``, ports by ``containerPort``), patch
  items first, then the other items in their order, as kustomize does; every other list is replaced;
* ``namePrefix`` / ``nameSuffix``: on every resource, and the references to a renamed ConfigMap,
  Secret, Service or ServiceAccount in pod templates and in a StatefulSet's ``serviceName``;
* ``labels`` with ``pairs``, ``includeSelectors`` and ``fields`` (``kind``, ``path``, ``create``):
  ``metadata.labels`` everywhere; with ``includeSelectors``, kustomize's selector and template
  fields of Service, StatefulSet and PodDisruptionBudget (a pod template with affinity, or any
  other workload kind, is refused rather than guessed);
* ``images`` with ``name``, ``newName``, ``newTag``: containers and init containers.

Order, as kustomize's: a base is built completely; then generators, patches, name prefix/suffix,
labels, images; then the hash suffixes and the name references.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

SUPPORTED_FIELDS = {"apiVersion", "kind", "resources", "configMapGenerator", "patches", "namePrefix",
                    "nameSuffix", "labels", "images"}
MERGE_KEYS = {"containers": "name", "initContainers": "name", "env": "name", "volumes": "name",
              "volumeMounts": "mountPath", "ports": "containerPort"}
# kustomize's commonLabels field specs for the kinds the overlays have: (kind, path, create).
SELECTOR_FIELDS = [
    ("Service", "spec/selector", True),
    ("StatefulSet", "spec/selector/matchLabels", True),
    ("StatefulSet", "spec/template/metadata/labels", True),
    ("StatefulSet", "spec/volumeClaimTemplates[]/metadata/labels", True),
    ("PodDisruptionBudget", "spec/selector/matchLabels", False),
]
KNOWN_KINDS = {"Service", "StatefulSet", "PodDisruptionBudget", "ConfigMap", "Secret", "PodMonitor",
               "ServiceAccount"}
HASH_KINDS = ("ConfigMap", "Secret")


class Unsupported(Exception):
    """The kustomization uses something this stand-in does not implement."""


# --- the real thing ------------------------------------------------------------------------------

def real_kustomize() -> list[str] | None:
    """The command that runs a real kustomize v5 (``[..., DIR]`` to be appended), or None.

    ``COKREAT_KUSTOMIZE=none`` in the environment makes it None: the tests then use the stand-in
    alone, as on a machine without kustomize.
    """
    if os.environ.get("COKREAT_KUSTOMIZE") == "none":
        return None
    if shutil.which("kustomize"):
        version = _run(["kustomize", "version"])
        if version and re.search(r"v?([5-9]|\d\d+)\.", version):
            return ["kustomize", "build"]
    if shutil.which("kubectl"):
        version = _run(["kubectl", "version", "--client"])
        match = re.search(r"Kustomize Version: v(\d+)\.", version or "")
        if match and int(match.group(1)) >= 5:
            return ["kubectl", "kustomize"]
    return None


def _run(command: list[str]) -> str | None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def kustomize_build(command: list[str], directory: Path) -> list[dict]:
    done = subprocess.run([*command, str(directory)], capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} {directory} failed: {done.stderr.strip()}")
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def render(directory: Path) -> list[dict]:
    """The overlay's manifests, from a real kustomize if there is one, else from :func:`build`."""
    command = real_kustomize()
    return kustomize_build(command, directory) if command else build(directory)


# --- the stand-in --------------------------------------------------------------------------------

class _Resource:
    def __init__(self, body: dict, generated: bool = False):
        self.body = body
        self.generated = generated  # gets the hash suffix at the end
        self.original_name = body["metadata"]["name"]

    @property
    def kind(self) -> str:
        return self.body["kind"]

    @property
    def name(self) -> str:
        return self.body["metadata"]["name"]


def build(directory: Path) -> list[dict]:
    """``kustomize build DIR`` for the subset described in the module docstring."""
    resources = _build(Path(directory))
    renames = {}
    for resource in resources:
        if resource.generated:
            old = resource.name
            resource.body["metadata"]["name"] = f"{old}-{config_hash(resource.body)}"
            renames[(resource.kind, old)] = resource.name
    for resource in resources:
        _fix_references(resource.body, renames)
    return [resource.body for resource in resources]


def _build(directory: Path) -> list[_Resource]:
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unknown = set(kustomization) - SUPPORTED_FIELDS
    if unknown:
        raise Unsupported(f"{directory}/kustomization.yaml: {', '.join(sorted(unknown))}")
    resources: list[_Resource] = []
    for entry in kustomization.get("resources", []):
        path = directory / entry
        if path.is_dir():
            resources += _build(path)
        else:
            resources += [_Resource(doc) for doc in yaml.safe_load_all(path.read_text()) if doc]
    for generator in kustomization.get("configMapGenerator", []):
        resources.append(_Resource(_config_map(directory, generator), generated=True))
    for patch in kustomization.get("patches", []):
        if set(patch) != {"path"}:
            raise Unsupported(f"patch {patch}: only `path` (a strategic-merge patch file)")
        for body in yaml.safe_load_all((directory / patch["path"]).read_text()):
            target = _find(resources, body["kind"], body["metadata"]["name"])
            merge(target.body, body)
    renames = {}
    prefix, suffix = kustomization.get("namePrefix", ""), kustomization.get("nameSuffix", "")
    if prefix or suffix:
        for resource in resources:
            old = resource.name
            resource.body["metadata"]["name"] = f"{prefix}{old}{suffix}"
            renames[(resource.kind, old)] = resource.name
    for labels in kustomization.get("labels", []):
        _add_labels(resources, labels)
    for image in kustomization.get("images", []):
        for resource in resources:
            _set_image(resource.body, image)
    for resource in resources:
        _fix_references(resource.body, renames)
    return resources


def _find(resources: list[_Resource], kind: str, name: str) -> _Resource:
    found = [r for r in resources if r.kind == kind and r.name == name]
    if len(found) != 1:
        raise Unsupported(f"patch target {kind}/{name}: {len(found)} matches")
    return found[0]


def _config_map(directory: Path, generator: dict) -> dict:
    unknown = set(generator) - {"name", "files", "literals"}
    if unknown:
        raise Unsupported(f"configMapGenerator {generator['name']}: {', '.join(sorted(unknown))}")
    data = {}
    for entry in generator.get("files", []):
        key, _, path = entry.rpartition("=")
        data[key or Path(path).name] = (directory / path).read_text()
    for entry in generator.get("literals", []):
        key, _, value = entry.partition("=")
        data[key] = value
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": generator["name"]}, "data": data}


def config_hash(body: dict) -> str:
    """kustomize's name suffix for a generated ConfigMap (api/hasher: its `name` is always "")."""
    encoded = {"kind": body["kind"], "name": "", "data": body.get("data", {})}
    if body["kind"] != "ConfigMap":
        raise Unsupported("hash of a generated Secret")
    digest = hashlib.sha256(_go_json(encoded).encode()).hexdigest()
    return digest[:10].translate(str.maketrans("013ae", "ghkmt"))


def _go_json(value: Any) -> str:
    """Go's json.Marshal: sorted keys, no spaces, HTML characters and U+2028/9 escaped."""
    text = json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    for plain, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"),
                           ("\u2029", "\\u2029"), ("\\b", "\\u0008"), ("\\f", "\\u000c")):
        text = text.replace(plain, escaped)
    return text


def merge(target: dict, patch: dict) -> None:
    """A strategic-merge patch, for maps and the keyed lists of pod specs (see MERGE_KEYS)."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            merge(target[key], value)
        elif isinstance(value, list) and key in MERGE_KEYS and isinstance(target.get(key), list):
            target[key] = _merge_list(target[key], value, MERGE_KEYS[key])
        else:
            target[key] = copy.deepcopy(value)


def _merge_list(items: list[dict], patch_items: list[dict], key: str) -> list[dict]:
    by_key = {item[key]: item for item in items}
    merged = []
    for patch_item in patch_items:
        item = copy.deepcopy(by_key.get(patch_item[key], {}))
        merge(item, patch_item)
        merged.append(item)
    patched = {patch_item[key] for patch_item in patch_items}
    return merged + [item for item in items if item[key] not in patched]


def _add_labels(resources: list[_Resource], spec: dict) -> None:
    unknown = set(spec) - {"pairs", "includeSelectors", "fields"}
    if unknown or spec.get("includeTemplates"):
        raise Unsupported(f"labels: {', '.join(sorted(unknown))}")
    pairs = spec["pairs"]
    fields = [(f["kind"], f["path"], f.get("create", False)) for f in spec.get("fields", [])]
    if spec.get("includeSelectors"):
        fields += SELECTOR_FIELDS
    for resource in resources:
        if resource.kind not in KNOWN_KINDS:
            raise Unsupported(f"labels on a {resource.kind}")
        if spec.get("includeSelectors") and resource.kind == "StatefulSet" \
                and "affinity" in resource.body["spec"]["template"].get("spec", {}):
            raise Unsupported("labels with includeSelectors on a pod template with affinity")
        _set_labels(resource.body, ["metadata", "labels"], pairs, create=True)
        for kind, path, create in fields:
            if kind == resource.kind:
                _set_labels(resource.body, path.split("/"), pairs, create)


def _set_labels(node: Any, path: list[str], pairs: dict, create: bool) -> None:
    head, rest = path[0], path[1:]
    if head.endswith("[]"):
        for item in node.get(head[:-2], []) if isinstance(node, dict) else []:
            _set_labels(item, rest, pairs, create)
        return
    if not rest:
        if head not in node:
            if not create:
                return
            node[head] = {}
        node[head].update(pairs)
        return
    if head not in node:
        if not create:
            return
        node[head] = {}
    _set_labels(node[head], rest, pairs, create)


def _pod_spec(body: dict) -> dict | None:
    if body["kind"] == "StatefulSet":
        return body["spec"]["template"]["spec"]
    return None


def _containers(body: dict) -> list[dict]:
    pod = _pod_spec(body)
    return [] if pod is None else pod.get("initContainers", []) + pod.get("containers", [])


def _set_image(body: dict, image: dict) -> None:
    unknown = set(image) - {"name", "newName", "newTag"}
    if unknown:
        raise Unsupported(f"images: {', '.join(sorted(unknown))}")
    for container in _containers(body):
        name, _, tag = container["image"].partition(":")
        if name == image["name"]:
            new_tag = image.get("newTag", tag)
            container["image"] = image.get("newName", name) + (f":{new_tag}" if new_tag else "")


def _fix_references(body: dict, renames: dict[tuple[str, str], str]) -> None:
    def renamed(kind: str, name: str) -> str:
        return renames.get((kind, name), name)

    if body["kind"] == "StatefulSet" and "serviceName" in body["spec"]:
        body["spec"]["serviceName"] = renamed("Service", body["spec"]["serviceName"])
    pod = _pod_spec(body)
    if pod is None:
        return
    if "serviceAccountName" in pod:
        pod["serviceAccountName"] = renamed("ServiceAccount", pod["serviceAccountName"])
    for volume in pod.get("volumes", []):
        if "configMap" in volume:
            volume["configMap"]["name"] = renamed("ConfigMap", volume["configMap"]["name"])
        if "secret" in volume:
            volume["secret"]["secretName"] = renamed("Secret", volume["secret"]["secretName"])
    for container in _containers(body):
        for env in container.get("env", []):
            source = env.get("valueFrom", {})
            for field, kind in (("configMapKeyRef", "ConfigMap"), ("secretKeyRef", "Secret")):
                if field in source:
                    source[field]["name"] = renamed(kind, source[field]["name"])
        for env_from in container.get("envFrom", []):
            for field, kind in (("configMapRef", "ConfigMap"), ("secretRef", "Secret")):
                if field in env_from:
                    env_from[field]["name"] = renamed(kind, env_from[field]["name"])
