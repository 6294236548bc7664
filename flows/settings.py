"""One typed, validated settings object per job, from HOCON and the environment.

A job ships its defaults as HOCON in the original Flink job's keys. ``JOB_CONFIG_FILE``
names an operator's file in the same keys, merged over the defaults (``include`` is
resolved relative to that file). Then any key can be overridden from the environment:
upper-case the key and replace every run of characters other than ``A-Z``/``0-9`` with
``_`` (``kafka.broker-servers`` -> ``KAFKA_BROKER_SERVERS``). A value starting with ``[``
or ``{`` is parsed as HOCON; any other value is the plain string, converted to the type
the key already has where that is a number or a boolean.

Every read goes through :class:`Reader`, whose errors name the key, so a bad setting
can stop the job at start with one clear line.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any, Iterator, Mapping

from pyhocon import ConfigFactory, ConfigTree

from connectors.address import without_userinfo

CONFIG_FILE_ENV = "JOB_CONFIG_FILE"
_NOT_NAME = re.compile(r"[^A-Z0-9]+")
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


def redacted(tree: ConfigTree, prefix: str = "") -> dict:
    """The settings as plain data, safe to log: every secret value replaced by ``***``, every
    ``kafka.client`` property not known to be harmless too, and the user info of every URL."""
    plain: dict = {}
    for raw_key, value in tree.items():
        key, name = f"{prefix}{raw_key}", raw_key.strip('"')
        if prefix.startswith("kafka.client.") and not isinstance(value, ConfigTree):
            hidden = not _SHOWN_CLIENT_PROPERTIES.fullmatch(key.removeprefix("kafka.client.").replace('"', ""))
        else:
            hidden = is_secret(key)
        if hidden:
            plain[name] = REDACTED
        elif isinstance(value, ConfigTree):
            plain[name] = redacted(value, f"{key}.")
        else:
            plain[name] = _shown_value(value)
    return plain


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


def load_config(defaults: str, environ: Mapping[str, str] | None = None) -> ConfigTree:
    """The shared and the job's defaults, then the file named by ``JOB_CONFIG_FILE``, then the environment."""
    environ = os.environ if environ is None else environ
    config = ConfigTree.merge_configs(ConfigFactory.parse_string(SHARED_DEFAULTS),
                                      ConfigFactory.parse_string(defaults))
    path = environ.get(CONFIG_FILE_ENV)
    if path:
        try:
            operator_file = ConfigFactory.parse_file(path, required=True)
        except Exception as err:  # pyparsing's errors are not ConfigException
            raise ConfigError(CONFIG_FILE_ENV, f"cannot read {path}: {err}") from err
        config = ConfigTree.merge_configs(config, operator_file)
    _apply_environment(config, "", environ)
    return config


def _apply_environment(tree: ConfigTree, prefix: str, environ: Mapping[str, str]) -> None:
    for raw_key in list(tree.keys()):
        key = f"{prefix}{raw_key}"
        override = environ.get(env_name(key))
        if override is not None:
            tree[raw_key] = _env_value(key, override, tree[raw_key])
        if isinstance(tree[raw_key], ConfigTree):
            _apply_environment(tree[raw_key], f"{key}.", environ)


def _env_value(key: str, text: str, current: Any) -> Any:
    if isinstance(current, str):  # a text setting keeps its text, even JSON (a service-account key)
        return text
    if text.lstrip().startswith(("[", "{")):
        try:
            return ConfigFactory.parse_string(f"value = {text}")["value"]
        except Exception as err:  # where, never what: the value may hold a credential whatever its key
            column = getattr(err, "col", None)
            where = f" (column {column})" if isinstance(column, int) else ""
            raise ConfigError(key, f"environment value {env_name(key)} is not HOCON{where}") from None
    if isinstance(current, bool):
        return _to_bool(key, text)
    if isinstance(current, (int, float)):  # "0.5" for a key whose default is 1 is still a number
        try:
            return int(text.strip())
        except ValueError:
            return _to_number(key, text, float)
    return text


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
        raise ConfigError(key, f"expected a {'whole number' if kind is int else 'number'}, got {_shown(key, text)}") from None


class Reader:
    """Typed reads from a config tree; every error names the key."""

    _MISSING = object()

    def __init__(self, config: ConfigTree):
        self.config = config

    def _get(self, key: str, default: Any) -> Any:
        value = self.config.get(key, self._MISSING)
        if value is self._MISSING or value is None:
            if default is self._MISSING:
                raise ConfigError(key, "missing")
            return default
        return value

    def text(self, key: str, default: Any = _MISSING) -> str:
        value = self._get(key, default)
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ConfigError(key, f"expected a string, got {type(value).__name__}")
        value = str(value).strip()
        if not value:
            raise ConfigError(key, "must not be empty")
        return value

    def optional_text(self, key: str) -> str:
        """A string that may be missing or empty ("")."""
        value = self._get(key, "")
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ConfigError(key, f"expected a string, got {type(value).__name__}")
        return str(value).strip()

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
        return float(value)

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
        return value

    def boolean(self, key: str, default: Any = _MISSING) -> bool:
        value = self._get(key, default)
        if isinstance(value, str):
            return _to_bool(key, value)
        if not isinstance(value, bool):
            raise ConfigError(key, f"expected a boolean, got {_shown(key, value)}")
        return value

    def texts(self, key: str, default: Any = _MISSING) -> list[str]:
        """A list of strings, given as a HOCON list or as one comma-separated string."""
        value = self._get(key, default)
        if isinstance(value, str):
            value = value.split(",")
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise ConfigError(key, "expected a list of strings or a comma-separated string")
        return [item.strip() for item in value if item.strip()]

    def strings(self, key: str, default: Any = _MISSING) -> dict[str, str]:
        """An object of string values (headers, librdkafka properties)."""
        value = self._get(key, default)
        if not isinstance(value, Mapping):
            raise ConfigError(key, f"expected an object, got {type(value).__name__}")
        plain = value.as_plain_ordered_dict() if isinstance(value, ConfigTree) else value
        return {name: _scalar_text(f"{key}.{name}", item) for name, item in _flatten(plain)}


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
class HttpSettings:
    connect_timeout_s: float
    read_timeout_s: float
    max_in_flight: int
    headers: dict[str, str]
    call_deadline_s: float = 120.0  # one exchange (request and whole answer), whatever the host's pace
    max_answer_bytes: int = 32 * 2**20  # a service answer, once decoded


@dataclass(frozen=True)
class RetrySettings:
    max_attempts: int
    max_elapsed_s: float
    initial_backoff_s: float
    max_backoff_s: float = 5.0


@dataclass(frozen=True)
class HealthSettings:
    port: int  # 0: no health endpoint
    stall_timeout_s: float


@dataclass(frozen=True)
class CommonSettings:
    """What the shared pipeline needs from any job's configuration."""

    kafka: KafkaSettings
    http: HttpSettings
    retry: RetrySettings
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
                client=r.strings("kafka.client", {}),
                unavailable_timeout_s=r.number("kafka.unavailable_timeout_s", minimum=1.0),  # in SHARED_DEFAULTS
            ),
            http=HttpSettings(
                connect_timeout_s=r.number("http.connect_timeout_s", 10.0, minimum=0.001),
                read_timeout_s=r.number("http.read_timeout_s", 60.0, minimum=0.001),
                max_in_flight=r.integer("http.max_in_flight", 32, minimum=1),
                headers=r.strings("http.headers", {}),
                call_deadline_s=r.number("http.call_deadline_s", 120.0, minimum=0.001),
                max_answer_bytes=r.integer("http.max_answer_bytes", 32 * 2**20, minimum=1),
            ),
            retry=RetrySettings(
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

