"""One typed, validated settings object per job, from HOCON and the environment.

A job ships its defaults as HOCON in the original Flink job's keys. ``JOB_CONFIG_FILE``
names an operator's file in the same keys, merged over the defaults (``include`` is
resolved relative to that file). The environment comes first: when the job reads a key,
it takes the variable named after it if one is set, whether or not the file has the key.
The name is the key upper-cased with every run of characters other than ``A-Z``/``0-9``
replaced by ``_`` (``kafka.broker-servers`` -> ``KAFKA_BROKER_SERVERS``). Each typed read
converts the text: numbers, booleans, lists (``[...]`` as HOCON, or comma-separated) and
objects (``{...}`` as HOCON); a text setting keeps its text as it is. An object of strings
(``kafka.client``, ``http.headers``) also takes one entry per variable: ``KAFKA_CLIENT_SASL_PASSWORD``
is the librdkafka property ``sasl.password``, ``HTTP_HEADERS_X_CHANNEL_ID`` the header ``X-Channel-Id``.

Every read goes through :class:`Reader`, whose errors name the key, so a bad setting
can stop the job at start with one clear line. The reader keeps what was read and from
where, so the job can log its settings and name the variables it did not read (typos).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from pyhocon import ConfigFactory, ConfigTree

from connectors.address import without_userinfo
from connectors.http import HttpSettings
from connectors.retry import RetryPolicy

CONFIG_FILE_ENV = "JOB_CONFIG_FILE"
_NOT_NAME = re.compile(r"[^A-Z0-9]+")
_SUBSTITUTION = re.compile(r"\$\{\??\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}")  # ${NAME} or ${?NAME}
_COMMENT = re.compile(r'"(?:[^"\\\n]|\\.)*"|(#|//).*')  # a quoted string (kept), or a comment to its line's end
# Kubernetes service links (<SERVICE>_PORT, _PORT_9092_TCP_ADDR, _SERVICE_HOST, ...) and proxy variables.
_NOT_A_SETTING = re.compile(r"_(SERVICE_HOST|SERVICE_PORT\w*|PORT(_\d+_(TCP|UDP|SCTP)\w*)?)$|^(HTTPS?|NO)_PROXY$")
_SECRET_WORDS = ("pass", "secret", "token", "cred", "authorization", "key", "jaas", "oauthbearer",
                 "http.headers")
# librdkafka properties shown in the logged settings; any other (a PEM key, a JAAS or OAuth config, a
# property added later) is shown as ***.
_SHOWN_CLIENT_PROPERTIES = re.compile(
    r"client\.id|client\.rack|security\.protocol|sasl\.mechanisms?|sasl\.username|debug|compression\.type"
    r"|ssl\.endpoint\.identification\.algorithm|enable\.ssl\.certificate\.verification|broker\.address\.family"
    r"|ssl\.ca\.location|ssl\.certificate\.location|.*\.(ms|bytes|messages|kbytes)")
REDACTED = "***"
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}
# Keys every job has whatever its defaults file says, so a config file or the environment can set them.
SHARED_DEFAULTS = """
kafka.unavailable_timeout_s = 60   # brokers out of reach this long: the job stops (non-zero exit)
health {
  port = 8081              # GET /livez and /readyz; 0 turns the endpoint off
  stall_timeout_s = 600    # events pending and none reached an outcome for this long: /livez answers 503
}
"""


class ConfigError(Exception):
    """A setting is missing, unreadable or of the wrong type."""

    def __init__(self, key: str, problem: str):
        super().__init__(f"{key}: {problem}")
        self.key = key


def is_secret(key: str) -> bool:
    """Whether the key's value must never be shown (in logs, errors or a printed config)."""
    lowered = key.lower()
    return any(word in lowered for word in _SECRET_WORDS)


def _shown_value(value: Any) -> Any:
    if isinstance(value, str):
        return without_userinfo(value)
    if isinstance(value, list):
        return [_shown_value(item) for item in value]
    return value


def _shown(key: str, text: object) -> str:
    return REDACTED if is_secret(key) else repr(_shown_value(text))


def env_name(key: str) -> str:
    """The environment variable that overrides ``key``."""
    return _NOT_NAME.sub("_", key.replace('"', "").upper()).strip("_")


def librdkafka_property(name: str) -> str:
    """``SASL_PASSWORD`` -> ``sasl.password``: librdkafka's names are lower-case words joined by dots."""
    return name.lower().replace("_", ".")


def header_name(name: str) -> str:
    """``X_CHANNEL_ID`` -> ``X-Channel-Id`` (header names are case-insensitive words joined by dashes)."""
    return "-".join(word.capitalize() for word in name.split("_"))


@dataclass(frozen=True)
class Config:
    """Where a job's settings come from, first to last: the environment, the operator's file, the defaults."""

    tree: ConfigTree  # the shared and the job's defaults, with the operator's file merged over them
    from_file: ConfigTree  # the operator's file alone: which values the operator set
    environ: Mapping[str, str]
    substituted: frozenset[str] = frozenset()  # variables the operator's file reads itself, as ${?NAME}


def load_config(defaults: str, environ: Mapping[str, str] | None = None) -> Config:
    """The shared and the job's defaults, the file named by ``JOB_CONFIG_FILE``, and the environment."""
    environ = dict(os.environ if environ is None else environ)
    tree = ConfigTree.merge_configs(ConfigFactory.parse_string(SHARED_DEFAULTS), ConfigFactory.parse_string(defaults))
    from_file, substituted = ConfigTree(), frozenset()
    path = environ.get(CONFIG_FILE_ENV)
    if path:
        try:
            from_file = ConfigFactory.parse_file(path, required=True)
            substituted = frozenset(_SUBSTITUTION.findall(_without_comments(Path(path).read_text(errors="replace"))))
        except Exception as err:  # pyparsing's errors are not ConfigException
            raise ConfigError(CONFIG_FILE_ENV, f"cannot read {path}: {err}") from err
        tree = ConfigTree.merge_configs(tree, from_file, copy_trees=True)
    return Config(tree, from_file, environ, substituted)


def _without_comments(text: str) -> str:
    """HOCON text without its ``#`` and ``//`` comments (a commented-out ``${?NAME}`` reads nothing)."""
    return _COMMENT.sub(lambda match: "" if match.group(1) else match.group(0), text)


def _hocon(key: str, text: str) -> Any:
    """A list or an object given in the environment as HOCON."""
    try:
        return ConfigFactory.parse_string(f"value = {text}")["value"]
    except Exception as err:  # where, never what: the value may hold a credential whatever its key
        column = getattr(err, "col", None)
        where = f" (column {column})" if isinstance(column, int) else ""
        raise ConfigError(key, f"environment value {env_name(key)} is not HOCON{where}") from None


def _to_bool(key: str, text: str) -> bool:
    word = text.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ConfigError(key, f"expected a boolean, got {_shown(key, text)}")


def _to_number(key: str, text: str, kind: type) -> Any:
    try:
        return kind(text.strip())
    except ValueError:
        expected = "whole number" if kind is int else "number"
        raise ConfigError(key, f"expected a {expected}, got {_shown(key, text)}") from None


class Reader:
    """Typed reads, the environment first; every error names the key. ``values`` and ``origins`` keep
    what each read key gave the job and where it came from (environment, file or default)."""

    _MISSING = object()

    def __init__(self, config: Config):
        self.config = config
        self.values: dict[str, Any] = {}
        self.origins: dict[str, str] = {}

    def _get(self, key: str, default: Any) -> Any:
        value = self._from_environment(key)
        if value is not self._MISSING:
            self.origins[key] = "environment"
            return value
        value = self.config.tree.get(key, self._MISSING)
        if value is self._MISSING or value is None:
            if default is self._MISSING:
                raise ConfigError(key, "missing")
            self.origins[key] = "default"
            return default
        self.origins[key] = "file" if self.config.from_file.get(key, None) is not None else "default"
        return value

    def _from_environment(self, key: str) -> Any:
        """The key's own variable, else the key inside the variable of an object holding it
        (``RETRY={max_attempts = 2}`` sets ``retry.max_attempts``). A variable of an object's name that
        is not ``{...}`` is someone else's (``SOURCE=...``, ``IMAGE=...``) and is left alone."""
        environ, parts = self.config.environ, key.split(".")
        if env_name(key) in environ:
            return environ[env_name(key)]
        for end in range(len(parts) - 1, 0, -1):
            parent = ".".join(parts[:end])
            text = environ.get(env_name(parent), "")
            if text.lstrip().startswith("{"):
                value = _hocon(parent, text).get(".".join(parts[end:]), self._MISSING)
                if value is not self._MISSING:
                    return value
        return self._MISSING

    def is_set(self, key: str) -> bool:
        """Whether the environment or the operator's file gives ``key`` a value (not a read: nothing kept)."""
        return self._from_environment(key) is not self._MISSING or self.config.from_file.get(key, None) is not None

    def _kept(self, key: str, value: Any) -> Any:
        self.values[key] = value
        return value

    def text(self, key: str, default: Any = _MISSING) -> str:
        value = self._get(key, default)
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ConfigError(key, f"expected a string, got {type(value).__name__}")
        value = str(value).strip()
        if not value:
            raise ConfigError(key, "must not be empty")
        return self._kept(key, value)

    def optional_text(self, key: str) -> str:
        """A string that may be missing or empty ("")."""
        value = self._get(key, "")
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ConfigError(key, f"expected a string, got {type(value).__name__}")
        return self._kept(key, str(value).strip())

    def url(self, key: str, default: Any = _MISSING) -> str:
        """An http(s) base URL."""
        value = self.text(key, default)
        if not value.startswith(("http://", "https://")):
            raise ConfigError(key, f"expected an http:// or https:// URL, got {_shown(key, value)}")
        return value

    def choice(self, key: str, allowed: tuple[str, ...], default: Any = _MISSING) -> str:
        value = self.text(key, default)
        if value not in allowed:
            raise ConfigError(key, f"expected one of {', '.join(allowed)}, got {_shown(key, value)}")
        return value

    def number(self, key: str, default: Any = _MISSING, minimum: float = 0.0) -> float:
        value = self._get(key, default)
        if isinstance(value, str):
            value = _to_number(key, value, float)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(key, f"expected a number, got {type(value).__name__}")
        if value < minimum:
            raise ConfigError(key, f"must be at least {minimum}, got {_shown(key, value)}")
        return self._kept(key, float(value))

    def integer(self, key: str, default: Any = _MISSING, minimum: int = 0, maximum: int | None = None) -> int:
        value = self._get(key, default)
        if isinstance(value, str):
            value = _to_number(key, value, int)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(key, f"expected a whole number, got {_shown(key, value)}")
        if value < minimum:
            raise ConfigError(key, f"must be at least {minimum}, got {_shown(key, value)}")
        if maximum is not None and value > maximum:
            raise ConfigError(key, f"must be at most {maximum}, got {_shown(key, value)}")
        return self._kept(key, value)

    def boolean(self, key: str, default: Any = _MISSING) -> bool:
        value = self._get(key, default)
        if isinstance(value, str):
            value = _to_bool(key, value)
        if not isinstance(value, bool):
            raise ConfigError(key, f"expected a boolean, got {_shown(key, value)}")
        return self._kept(key, value)

    def text_list(self, key: str, default: Any = _MISSING) -> list[str]:
        """A list of strings, given as a HOCON list or as one comma-separated string."""
        value = self._get(key, default)
        if isinstance(value, str):
            value = _hocon(key, value) if value.lstrip().startswith("[") else value.split(",")
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise ConfigError(key, "expected a list of strings or a comma-separated string")
        return self._kept(key, [item.strip() for item in value if item.strip()])

    def text_map(self, key: str, default: Any = _MISSING,
                 entry_name: Callable[[str], str] | None = None) -> dict[str, str]:
        """An object of string values (headers, librdkafka properties). With ``entry_name``, each variable
        ``<KEY>_<NAME>`` sets one entry: the one whose name gives the same variable, else ``entry_name(NAME)``."""
        value = self._get(key, default)
        if isinstance(value, str):
            value = _hocon(key, value) if value.lstrip().startswith("{") else value
        if not isinstance(value, Mapping):
            raise ConfigError(key, f"expected an object, got {type(value).__name__}")
        plain = value.as_plain_ordered_dict() if isinstance(value, ConfigTree) else value
        entries = {name: _scalar_text(f"{key}.{name}", item) for name, item in _flatten(plain)}
        if entry_name is not None:
            prefix = f"{env_name(key)}_"
            for variable, text in sorted(self.config.environ.items()):
                if variable.startswith(prefix) and len(variable) > len(prefix):
                    tail = variable[len(prefix):]
                    same = [name for name in entries if env_name(name) == tail]
                    entries[same[0] if same else entry_name(tail)] = text
                    self.origins[key] = "environment"
        return self._kept(key, entries)

    def unread_environment(self) -> list[str]:
        """Variables named like this job's settings (a top-level key's name, or its first word and more)
        that no read took: a typo, or a key the job does not use. Their values are never looked at.
        Kubernetes' service links (``KAFKA_PORT``, ``..._SERVICE_HOST``) and proxy variables are not settings."""
        tops = {env_name(key.split(".")[0]) for key in (*self.config.tree, *self.values)}
        words = tuple({f"{top.split('_')[0]}_" for top in tops})
        taken = {env_name(".".join(key.split(".")[:end])) for key in self.origins
                 for end in range(1, key.count(".") + 2)} | self.config.substituted
        entries = tuple(f"{env_name(key)}_" for key, value in self.values.items() if isinstance(value, dict))
        return sorted(name for name in self.config.environ
                      if (name in tops or name.startswith(words)) and name not in taken
                      and not name.startswith(entries) and not _NOT_A_SETTING.search(name))

    def shown(self) -> dict[str, Any]:
        """Every key read, with the value the job got, safe to log: secrets as ``***``, each ``kafka.client``
        property not known to be harmless too, every header's value, and the user info of every URL."""
        return {key: _shown_setting(key, value) for key, value in sorted(self.values.items())}


def _shown_setting(key: str, value: Any) -> Any:
    if isinstance(value, dict):
        return {name: _shown_value(item) if key == "kafka.client" and _SHOWN_CLIENT_PROPERTIES.fullmatch(name)
                else REDACTED for name, item in value.items()}
    return REDACTED if is_secret(key) else _shown_value(value)


def _flatten(mapping: Mapping, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """``{"sasl": {"mechanism": "PLAIN"}}`` -> ``("sasl.mechanism", "PLAIN")``."""
    for name, item in mapping.items():
        if isinstance(item, Mapping):
            yield from _flatten(item, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", item


def _scalar_text(key: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    raise ConfigError(key, f"expected a string, got {type(value).__name__}")


@dataclass(frozen=True)
class KafkaSettings:
    brokers: str
    group_id: str
    failed_topic: str
    auto_offset_reset: str
    batch_size: int
    client: dict[str, str]
    unavailable_timeout_s: float


@dataclass(frozen=True)
class HealthSettings:
    port: int  # 0: no health endpoint
    stall_timeout_s: float


@dataclass(frozen=True)
class CommonSettings:
    """What the shared pipeline needs from any job's configuration."""

    kafka: KafkaSettings
    http: HttpSettings
    retry: RetryPolicy
    shutdown_grace_s: float
    health: HealthSettings

    @classmethod
    def read(cls, r: Reader) -> "CommonSettings":
        return cls(
            kafka=KafkaSettings(
                brokers=r.text("kafka.broker-servers"),
                group_id=r.text("kafka.groupId"),
                failed_topic=r.text("kafka.failed.topic"),
                auto_offset_reset=r.choice("kafka.auto.offset.reset", ("earliest", "latest"), "latest"),
                batch_size=r.integer("kafka.batch_size", 500, minimum=1),
                client=r.text_map("kafka.client", {}, entry_name=librdkafka_property),
                unavailable_timeout_s=r.number("kafka.unavailable_timeout_s", minimum=1.0),  # in SHARED_DEFAULTS
            ),
            http=HttpSettings(
                connect_timeout_s=r.number("http.connect_timeout_s", 10.0, minimum=0.001),
                read_timeout_s=r.number("http.read_timeout_s", 60.0, minimum=0.001),
                max_in_flight=r.integer("http.max_in_flight", 32, minimum=1),
                headers=r.text_map("http.headers", {}, entry_name=header_name),
                call_deadline_s=r.number("http.call_deadline_s", 120.0, minimum=0.001),
                max_answer_bytes=r.integer("http.max_answer_bytes", 32 * 2**20, minimum=1),
            ),
            retry=RetryPolicy(
                max_attempts=r.integer("retry.max_attempts", 5, minimum=1),
                max_elapsed_s=r.number("retry.max_elapsed_s", 60.0),
                initial_backoff_s=r.number("retry.initial_backoff_s", 0.5),
                max_backoff_s=r.number("retry.max_backoff_s", 5.0, minimum=0.01),
            ),
            shutdown_grace_s=r.number("shutdown.grace_s", 20.0),
            health=HealthSettings(  # defaults in SHARED_DEFAULTS
                port=r.integer("health.port", minimum=0, maximum=65535),
                stall_timeout_s=r.number("health.stall_timeout_s", minimum=1.0),
            ),
        )

