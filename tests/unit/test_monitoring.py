"""k8s/monitoring: the Grafana dashboard, the PrometheusRule and their kustomization.

Offline checks: the files parse, have what Grafana, the Prometheus Operator and kustomize need, and
every PromQL expression only reads series that exist: the project's own (from the
``connectors.metrics`` registry objects, with the suffixes Prometheus adds), ``up``, the
``process_*`` series of prometheus_client's process collector, kafka-exporter's
``kafka_consumergroup_lag``, and the rule file's own recording rules. A small PromQL tokenizer
checks brackets, function names, label names and the ``outcome``/``job`` values matched.
When ``promtool`` is on PATH, the rules also go through Prometheus' own parser and unit tests.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.process_collector import ProcessCollector

from connectors import metrics
from flows.runtime.outcome import BAD_INPUT, FAILED, SKIPPED, SUCCESS

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "k8s" / "monitoring"
DASHBOARD = MONITORING / "grafana-dashboard.json"
RULES = MONITORING / "prometheusrule.yaml"
KUSTOMIZATION = MONITORING / "kustomization.yaml"
RULE_TESTS = MONITORING / "tests" / "prometheusrule-test.yaml"

OUTCOMES = {SUCCESS, SKIPPED, FAILED, BAD_INPUT}
JOB_NAMES = {re.search(r'^JOB_NAME = "([^"]+)"', (ROOT / "flows" / package / "__init__.py").read_text(), re.M).group(1)
             for package in ("user_delete", "content_auto_creator", "auto_creator_v2")}
# Labels Prometheus adds to every scraped series (PodMonitor targets); `job` is the job's name there.
TARGET_LABELS = {"job", "instance", "namespace", "pod", "container", "endpoint"}


# --- the series that exist -------------------------------------------------------------------

def project_series() -> dict[str, set[str]]:
    """Every series name the jobs export, with its label names."""
    series: dict[str, set[str]] = {}
    for value in vars(metrics).values():
        if not isinstance(value, MetricWrapperBase):
            continue
        (family,) = value.describe()
        labels = set(value._labelnames)
        if family.type == "counter":
            series[f"{family.name}_total"] = labels
            series[f"{family.name}_created"] = labels
        elif family.type == "histogram":
            series[f"{family.name}_bucket"] = labels | {"le"}
            for suffix in ("_sum", "_count", "_created"):
                series[f"{family.name}{suffix}"] = labels
        else:
            series[family.name] = labels
    return series


def process_series() -> dict[str, set[str]]:
    """The process_* series prometheus_client serves on Linux (bytewax serves its default registry)."""
    return {sample.name: set() for family in ProcessCollector(registry=None).collect() for sample in family.samples}


def recording_rules() -> dict[str, set[str]]:
    """The rule file's recording rules, with the labels of their ``sum by (...)``."""
    found = {}
    for group in load_rules()["spec"]["groups"]:
        for rule in group["rules"]:
            if "record" in rule:
                by = re.match(r"\s*(?:sum|max|min|avg|count)\s+by\s*\(([^)]*)\)", rule["expr"])
                found[rule["record"]] = {name.strip() for name in by.group(1).split(",")} if by else set()
    return found


def known_series() -> dict[str, set[str]]:
    return {**project_series(), **process_series(), **recording_rules(),
            "up": set(), "kafka_consumergroup_lag": {"consumergroup", "topic", "partition"}}


# --- a small PromQL reader ---------------------------------------------------------------------

FUNCTIONS = {
    # aggregations
    "sum", "min", "max", "avg", "count", "stddev", "stdvar", "topk", "bottomk", "quantile", "count_values", "group",
    # functions
    "abs", "absent", "absent_over_time", "ceil", "changes", "clamp", "clamp_max", "clamp_min", "deriv", "delta",
    "exp", "floor", "histogram_quantile", "idelta", "increase", "irate", "label_join", "label_replace", "ln",
    "log2", "log10", "predict_linear", "rate", "resets", "round", "scalar", "sort", "sort_desc", "sqrt", "time",
    "timestamp", "vector", "avg_over_time", "min_over_time", "max_over_time", "sum_over_time", "count_over_time",
    "last_over_time", "quantile_over_time", "stddev_over_time", "present_over_time",
}
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool",
            "offset", "atan2", "inf", "nan"}
LABEL_LIST_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right"}
TOKEN = re.compile(r"""
    (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<var>\$\{?\w+\}?)
  | (?P<number>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?[smhdwy]?)
  | (?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)
  | (?P<op>=~|!~|!=|==|>=|<=|[-+*/%^<>=,(){}\[\]:@|])
  | (?P<space>\s+)
""", re.X)
PAIRS = {")": "(", "]": "[", "}": "{"}


@dataclass
class Selector:
    name: str
    matchers: dict[str, tuple[str, str]]  # label -> (operator, value)


def tokens(expr: str) -> list[tuple[str, str]]:
    found, at = [], 0
    while at < len(expr):
        match = TOKEN.match(expr, at)
        if match is None:
            raise ValueError(f"cannot read {expr[at:at + 20]!r} in {expr!r}")
        if match.lastgroup != "space":
            found.append((match.lastgroup, match.group()))
        at = match.end()
    return found


def balanced(expr: str) -> bool:
    stack = []
    for kind, text in tokens(expr):
        if kind != "op":
            continue
        if text in "([{":
            stack.append(text)
        elif text in ")]}":
            if not stack or stack.pop() != PAIRS[text]:
                return False
    return not stack


def read(expr: str) -> tuple[list[Selector], set[str]]:
    """The selectors and the function names of ``expr``; ``ValueError`` on what this reader does not know."""
    items = tokens(expr)
    selectors, functions = [], set()
    i = 0
    while i < len(items):
        kind, text = items[i]
        following = items[i + 1][1] if i + 1 < len(items) else None
        if text == "[":  # a range or subquery: durations and Grafana variables only
            i = items.index(("op", "]"), i) + 1
            continue
        if kind == "ident" and text in LABEL_LIST_KEYWORDS and following == "(":
            i = items.index(("op", ")"), i) + 1
            continue
        if kind == "ident" and text not in KEYWORDS and (following == "(" or following in ("by", "without")):
            functions.add(text)
        elif kind == "ident" and text not in KEYWORDS:
            selector = Selector(text, {})
            if following == "{":
                i += 2
                while items[i][1] != "}":
                    (label_kind, label), (_, operator), (value_kind, value) = items[i:i + 3]
                    if label_kind != "ident" or value_kind != "string" or operator not in ("=", "!=", "=~", "!~"):
                        raise ValueError(f"cannot read the matchers of {text} in {expr!r}")
                    selector.matchers[label] = (operator, value[1:-1])
                    i += 3
                    if items[i][1] == ",":
                        i += 1
            selectors.append(selector)
        elif text == "{":
            raise ValueError(f"a selector without a metric name in {expr!r}")
        i += 1
    return selectors, functions


def problems(expr: str, series: dict[str, set[str]]) -> list[str]:
    """What is wrong with one expression (empty: nothing)."""
    if not balanced(expr):
        return [f"unbalanced brackets: {expr}"]
    found = []
    selectors, functions = read(expr)
    if not selectors:
        found.append(f"reads no series: {expr}")
    found += [f"unknown function {name}() in {expr}" for name in functions - FUNCTIONS]
    for selector in selectors:
        if selector.name not in series:
            found.append(f"{selector.name} is not a series the jobs, Prometheus or kafka-exporter export")
            continue
        for label, (operator, value) in selector.matchers.items():
            if label not in series[selector.name] | TARGET_LABELS:
                found.append(f"{selector.name} has no label {label!r}")
            literal = value if operator in ("=", "!=") else None
            if operator in ("=~", "!~") and re.fullmatch(r"[\w-]+(\|[\w-]+)*", value):
                literal = value  # a plain alternation: each value must exist
            if literal is not None and label == "outcome" and set(literal.split("|")) - OUTCOMES:
                found.append(f"outcome {value!r} is not one of {sorted(OUTCOMES)}")
            if literal is not None and label == "job" and selector.name != "kafka_consumergroup_lag" \
                    and set(literal.split("|")) - JOB_NAMES:
                found.append(f"job {value!r} is not one of {sorted(JOB_NAMES)}")
    return found


# --- the files ---------------------------------------------------------------------------------

def load_dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def load_rules() -> dict:
    return yaml.safe_load(RULES.read_text())


def all_panels(panels: list[dict]) -> list[dict]:
    found = []
    for panel in panels:
        found.append(panel)
        found += all_panels(panel.get("panels", []))
    return found


def dashboard_expressions() -> list[tuple[str, str]]:
    return [(panel["title"], target["expr"]) for panel in all_panels(load_dashboard()["panels"])
            for target in panel.get("targets", [])]


def alert_rules() -> list[dict]:
    return [rule for group in load_rules()["spec"]["groups"] for rule in group["rules"] if "alert" in rule]


# --- the reader itself -------------------------------------------------------------------------

def test_the_reader_finds_names_labels_and_functions():
    selectors, functions = read('histogram_quantile(0.99, sum by (job, le) (rate(cokreat_http_request_seconds_bucket'
                                '{job=~"$job", service!="x"}[$__rate_interval]))) / on (job) group_left up offset 5m')
    assert [s.name for s in selectors] == ["cokreat_http_request_seconds_bucket", "up"]
    assert selectors[0].matchers == {"job": ("=~", "$job"), "service": ("!=", "x")}
    assert functions == {"histogram_quantile", "sum", "rate"}


@pytest.mark.parametrize("expr, complaint", [
    ("sum(rate(cokreat_event_total[5m]))", "cokreat_event_total is not a series"),
    ("rate(cokreat_http_request_seconds[5m])", "cokreat_http_request_seconds is not a series"),
    ('sum(rate(cokreat_events_total{outcome="bad-input"}[5m]))', "outcome 'bad-input'"),
    ('up{job="user_delete"}', "job 'user_delete'"),
    ('cokreat_in_flight{service="x"}', "has no label 'service'"),
    ("rat(cokreat_retries_total[5m])", "unknown function rat()"),
    ("sum(rate(cokreat_retries_total[5m])", "unbalanced"),
    ("sum(rate(cokreat_retries_total[5m)))", "unbalanced"),
])
def test_the_checks_catch_mistakes(expr, complaint):
    assert any(complaint in problem for problem in problems(expr, known_series()))


def test_the_known_series_follow_the_registry():
    series = known_series()
    assert series["cokreat_events_total"] == {"job", "outcome"}
    assert series["cokreat_http_request_seconds_bucket"] == {"job", "service", "le"}
    assert "cokreat_in_flight" in series and "cokreat_events" not in series
    assert {"process_cpu_seconds_total", "process_resident_memory_bytes"} <= set(series)


# --- the dashboard -----------------------------------------------------------------------------

def test_the_dashboard_has_unique_panel_ids_and_a_stable_uid():
    dashboard = load_dashboard()
    ids = [panel["id"] for panel in all_panels(dashboard["panels"])]
    assert len(ids) == len(set(ids)) and all(isinstance(i, int) for i in ids)
    assert dashboard["uid"] == "cokreat-jobs" and dashboard["title"]


def test_the_dashboard_has_the_datasource_and_job_variables():
    variables = {v["name"]: v for v in load_dashboard()["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    assert variables["job"]["type"] == "query" and "cokreat_events_total" in variables["job"]["definition"]
    for panel in all_panels(load_dashboard()["panels"]):
        if panel["type"] != "row":
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
            assert all(t["datasource"]["uid"] == "${datasource}" for t in panel["targets"]), panel["title"]


def test_every_dashboard_query_reads_existing_series_and_follows_the_job_variable():
    series = known_series()
    expressions = dashboard_expressions()
    assert len(expressions) >= 12
    for title, expr in expressions:
        assert problems(expr, series) == [], title
        if "cokreat_" in expr or "process_" in expr:
            assert 'job=~"$job"' in expr, title


def test_the_dashboard_shows_what_operators_need():
    everything = " ".join(expr for _, expr in dashboard_expressions())
    for needed in ("cokreat_events_total", 'outcome=~"failed|bad_input"', "cokreat_http_requests_total",
                   "histogram_quantile(0.5,", "histogram_quantile(0.99,", "cokreat_http_request_seconds_bucket",
                   "cokreat_retries_total", "cokreat_in_flight", "kafka_consumergroup_lag",
                   "process_cpu_seconds_total", "process_resident_memory_bytes"):
        assert needed in everything, needed


def test_the_dashboard_fits_in_a_configmap_applied_by_kubectl():
    # kubectl apply keeps the whole object in an annotation limited to 256 KiB.
    assert DASHBOARD.stat().st_size < 200_000


# --- the PrometheusRule ------------------------------------------------------------------------

def test_the_rule_file_is_a_prometheusrule():
    rules = load_rules()
    assert rules["apiVersion"] == "monitoring.coreos.com/v1" and rules["kind"] == "PrometheusRule"
    assert rules["metadata"]["name"]
    assert all(group["name"] and group["rules"] for group in rules["spec"]["groups"])


def test_every_alert_has_what_an_on_call_person_needs():
    alerts = alert_rules()
    names = [rule["alert"] for rule in alerts]
    assert len(names) == len(set(names))
    for rule in alerts:
        assert re.fullmatch(r"\d+[smh]", rule["for"]), rule["alert"]
        assert rule["labels"]["severity"] in ("critical", "warning", "info"), rule["alert"]
        for annotation in ("summary", "description", "runbook"):
            assert rule["annotations"][annotation].strip(), (rule["alert"], annotation)


def test_the_alerts_cover_lag_failures_progress_retries_and_down():
    exprs = {rule["alert"]: rule["expr"] for rule in alert_rules()}
    assert "deriv(job_consumergroup_topic:kafka_consumergroup_lag:sum" in exprs["CokreatConsumerLagGrowing"]
    assert 'outcome=~"failed|bad_input"' in exprs["CokreatFailedRecords"]
    assert "increase(cokreat_events_total" in exprs["CokreatNoProgress"]
    assert "kafka_consumergroup_lag" in exprs["CokreatNoProgress"]
    assert "cokreat_retries_total" in exprs["CokreatRetryStorm"]
    assert "cokreat_http_requests_total" in exprs["CokreatRetryStorm"]
    assert exprs["CokreatJobDown"].startswith("up{")
    assert all(f'absent(cokreat_events_total{{job="{job}"}})' in exprs["CokreatJobAbsent"] for job in JOB_NAMES)


def test_every_rule_expression_reads_existing_series():
    series = known_series()
    rules = [rule for group in load_rules()["spec"]["groups"] for rule in group["rules"]]
    assert len(rules) >= 6
    for rule in rules:
        assert problems(rule["expr"], series) == [], rule.get("alert") or rule.get("record")


def test_recording_rules_are_named_level_metric_operation():
    records = recording_rules()
    assert records
    for name, labels in records.items():
        assert re.fullmatch(r"[a-z_]+:[a-z_]+:[a-z_]+", name) and "job" in labels, name


# --- kustomize ---------------------------------------------------------------------------------

def test_the_kustomization_names_existing_files_and_labels_the_dashboard_for_the_sidecar():
    kustomization = yaml.safe_load(KUSTOMIZATION.read_text())
    assert kustomization["kind"] == "Kustomization"
    for resource in kustomization["resources"]:
        assert (MONITORING / resource).is_file(), resource
    (generator,) = kustomization["configMapGenerator"]
    files = [entry.split("=", 1)[-1] for entry in generator["files"]]
    assert files == ["grafana-dashboard.json"] and (MONITORING / files[0]).is_file()
    assert generator["options"]["labels"] == {"grafana_dashboard": "1"}
    assert generator["options"]["disableNameSuffixHash"] is True


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kubectl_kustomize_renders_the_dashboard_configmap_and_the_rule():
    rendered = subprocess.run(["kubectl", "kustomize", str(MONITORING)], capture_output=True, text=True, timeout=60)
    assert rendered.returncode == 0, rendered.stderr
    objects = {(o["kind"], o["metadata"]["name"]): o for o in yaml.safe_load_all(rendered.stdout)}
    configmap = objects[("ConfigMap", "cokreat-jobs-dashboard")]
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(configmap["data"]["cokreat-jobs.json"]) == load_dashboard()
    assert objects[("PrometheusRule", "cokreat-jobs")]["spec"] == load_rules()["spec"]


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Prometheus) is not installed")
def test_promtool_parses_the_rules_and_their_unit_tests_pass(tmp_path):
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": load_rules()["spec"]["groups"]}))
    (tmp_path / "test.yaml").write_text(RULE_TESTS.read_text())
    checked = subprocess.run(["promtool", "check", "rules", "rules.yaml"], cwd=tmp_path, capture_output=True,
                             text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = subprocess.run(["promtool", "test", "rules", "test.yaml"], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120)
    assert tested.returncode == 0, tested.stdout + tested.stderr
