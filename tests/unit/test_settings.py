import pytest

from flows.runtime.settings import (CommonSettings, ConfigError, Reader, env_name, header_name, librdkafka_property,
                            load_config)
from flows.user_delete import DEFAULTS

BASE = 'kafka { broker-servers = "b:9092", groupId = "g", failed.topic = "f", client {} }\nhttp.headers {}\n' \
       'program-service-baseUrl = "http://x/program"\nhttp.max_in_flight = 32\nflag = true\nratio = 0.5'


def test_env_names_follow_the_contract():
    assert env_name("kafka.broker-servers") == "KAFKA_BROKER_SERVERS"
    assert env_name("program-service-baseUrl") == "PROGRAM_SERVICE_BASEURL"
    assert env_name("content_auto_creator.maxIteration") == "CONTENT_AUTO_CREATOR_MAXITERATION"


def test_file_overrides_defaults_and_include_is_relative_to_it(tmp_path):
    (tmp_path / "common.conf").write_text('kafka.groupId = "from-include"')
    conf = tmp_path / "job.conf"
    conf.write_text('include "common.conf"\nkafka.failed.topic = "from-file"')
    reader = Reader(load_config(BASE, {"JOB_CONFIG_FILE": str(conf)}))
    assert reader.text("kafka.groupId") == "from-include"
    assert reader.text("kafka.failed.topic") == "from-file"
    assert reader.text("kafka.broker-servers") == "b:9092"
    assert reader.origins == {"kafka.groupId": "file", "kafka.failed.topic": "file", "kafka.broker-servers": "default"}


def test_environment_overrides_with_the_types_of_the_reads():
    reader = Reader(load_config(BASE, {
        "KAFKA_BROKER_SERVERS": "b1:9092,b2:9092",
        "PROGRAM_SERVICE_BASEURL": "http://other/program",
        "HTTP_MAX_IN_FLIGHT": "8",
        "FLAG": "false",
        "RATIO": "2.5",
        "HTTP_HEADERS": '{"Authorization": "Bearer t"}',
    }))
    assert reader.text("kafka.broker-servers") == "b1:9092,b2:9092"
    assert reader.url("program-service-baseUrl") == "http://other/program"
    assert reader.integer("http.max_in_flight") == 8
    assert reader.boolean("flag") is False
    assert reader.number("ratio") == 2.5
    assert reader.text_map("http.headers") == {"Authorization": "Bearer t"}
    assert set(reader.origins.values()) == {"environment"}


def test_the_environment_sets_keys_that_neither_file_nor_defaults_have():
    reader = Reader(load_config("a = 1", {"KAFKA_INPUT_TOPIC": "rel7.delete.user", "SOME_LIMIT": "3"}))
    assert reader.text("kafka.input.topic") == "rel7.delete.user"
    assert reader.integer("some.limit", 1) == 3


def test_client_properties_and_headers_come_one_per_variable():
    """The README's ``KAFKA_CLIENT_SASL_PASSWORD=...`` with ``kafka.client {}``: librdkafka's names are lower
    case with dots, header names words with dashes; an entry the file has is replaced, whatever its spelling."""
    reader = Reader(load_config(BASE + '\nhttp.headers { x-channel-id = "from-file", "X-Kept" = "k" }', {
        "KAFKA_CLIENT_SASL_PASSWORD": "secret", "KAFKA_CLIENT_SECURITY_PROTOCOL": "SASL_SSL",
        "HTTP_HEADERS_AUTHORIZATION": "Bearer t", "HTTP_HEADERS_X_CHANNEL_ID": "from-env"}))
    assert reader.text_map("kafka.client", {}, entry_name=librdkafka_property) == {
        "sasl.password": "secret", "security.protocol": "SASL_SSL"}
    assert reader.text_map("http.headers", {}, entry_name=header_name) == {
        "x-channel-id": "from-env", "X-Kept": "k", "Authorization": "Bearer t"}
    settings = CommonSettings.read(Reader(load_config(DEFAULTS, {"KAFKA_CLIENT_SASL_USERNAME": "u"})))
    assert settings.kafka.client == {"sasl.username": "u"}


def test_variables_named_like_settings_that_no_read_took_are_named():
    environ = {"KAFKA_GROUPID": "g", "KAFKA_GROUP_ID": "typo", "KAFKA_CLIENT_SASL_PASSWORD": "p",
               "HTTP_READ_TIMEOUT": "typo", "TASK_PARALLELISM": "4", "PATH": "/bin", "JOB_CONFIG_FILE": "",
               "HOME": "/root", "KAFKA_BROKER_SERVERS": "b:1"}
    reader = Reader(load_config(DEFAULTS, environ))
    CommonSettings.read(reader)
    assert reader.unread_environment() == ["HTTP_READ_TIMEOUT", "KAFKA_GROUP_ID", "TASK_PARALLELISM"]


def test_the_keys_every_job_shares_can_be_set_from_the_environment():
    """Keys with no line in a job's defaults file still take environment overrides."""
    settings = CommonSettings.read(Reader(load_config(BASE, {"KAFKA_UNAVAILABLE_TIMEOUT_S": "5", "HEALTH_PORT": "9000"})))
    assert settings.kafka.unavailable_timeout_s == 5
    assert settings.health.port == 9000
    assert CommonSettings.read(Reader(load_config(BASE, {}))).health.stall_timeout_s == 600


def test_a_text_setting_from_the_environment_keeps_its_json_as_text():
    key = '{"type": "service_account", "private_key": "k"}'
    reader = Reader(load_config('content_auto_creator.g_service_acct_cred = ""',
                                {"CONTENT_AUTO_CREATOR_G_SERVICE_ACCT_CRED": key}))
    assert reader.optional_text("content_auto_creator.g_service_acct_cred") == key


def test_environment_lists_are_hocon():
    assert Reader(load_config('topics = ["a"]', {"TOPICS": '["a", "b"]'})).text_list("topics") == ["a", "b"]
    assert Reader(load_config('topics = ["a"]', {"TOPICS": "a, b"})).text_list("topics") == ["a", "b"]


def test_quoted_client_properties_are_overridable():
    config = load_config('kafka.client { "sasl.password" = "x" }', {"KAFKA_CLIENT_SASL_PASSWORD": "secret"})
    assert Reader(config).text_map("kafka.client", entry_name=librdkafka_property) == {"sasl.password": "secret"}


def test_a_wrong_type_in_the_environment_names_the_key():
    with pytest.raises(ConfigError, match="http.max_in_flight"):
        CommonSettings.read(Reader(load_config(BASE, {"HTTP_MAX_IN_FLIGHT": "many"})))


def test_an_unreadable_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="JOB_CONFIG_FILE"):
        load_config(BASE, {"JOB_CONFIG_FILE": str(tmp_path / "missing.conf")})
    broken = tmp_path / "broken.conf"
    broken.write_text('kafka { groupId = "unclosed')
    with pytest.raises(ConfigError, match="JOB_CONFIG_FILE"):
        load_config(BASE, {"JOB_CONFIG_FILE": str(broken)})


def test_common_settings_defaults_and_validation():
    settings = CommonSettings.read(Reader(load_config(DEFAULTS, {})))
    assert settings.kafka.group_id == "sunbirddev_cokreat_user_delete_group"
    assert settings.kafka.failed_topic == "sunbirddev.delete.user.failed"
    assert settings.kafka.auto_offset_reset == "latest"
    assert (settings.http.connect_timeout_s, settings.http.read_timeout_s) == (10, 60)
    assert (settings.retry.max_attempts, settings.retry.max_elapsed_s) == (5, 60)
    assert settings.shutdown_grace_s == 20
    with pytest.raises(ConfigError, match="kafka.auto.offset.reset"):
        CommonSettings.read(Reader(load_config(DEFAULTS, {"KAFKA_AUTO_OFFSET_RESET": "middle"})))
    with pytest.raises(ConfigError, match="retry.max_attempts"):
        CommonSettings.read(Reader(load_config(DEFAULTS, {"RETRY_MAX_ATTEMPTS": "0"})))


def test_missing_and_bad_urls_name_the_key():
    reader = Reader(load_config(BASE + "\nbad = \"ftp://x\"", {}))
    with pytest.raises(ConfigError, match="^nothing.here: missing"):
        reader.text("nothing.here")
    with pytest.raises(ConfigError, match="^bad: expected an http"):
        reader.url("bad")


def test_optional_text():
    reader = Reader(load_config('a = ""\nb = "x"\nc = [1]', {}))
    assert reader.optional_text("a") == "" and reader.optional_text("b") == "x" and reader.optional_text("z") == ""
    with pytest.raises(ConfigError, match="^c: expected a string"):
        reader.optional_text("c")


def test_secrets_are_redacted_and_never_echoed_in_errors():
    reader = Reader(load_config(BASE + '\nkafka.client { "sasl.password" = "p4ss", "client.id" = "me" }\n'
                                       'cloud_storage_secret = "s3cr3t"\nflag2 = true',
                                {"HTTP_HEADERS": '{"Authorization": "Bearer t0k"}'}))
    CommonSettings.read(reader)
    reader.text("cloud_storage_secret")
    shown = str(reader.shown())
    assert "p4ss" not in shown and "s3cr3t" not in shown and "t0k" not in shown and "'me'" in shown
    assert "'Authorization': '***'" in shown  # which headers are set shows; their values do not
    with pytest.raises(ConfigError) as raised:
        Reader(load_config("storage_secret {}", {"STORAGE_SECRET": "{unclosed s3cr3t"})).text_map("storage_secret")
    assert "s3cr3t" not in str(raised.value)
    password = Reader(load_config('kafka.client { "sasl.password" = "x" }', {"KAFKA_CLIENT_SASL_PASSWORD": "{s3cr3t"}))
    assert password.text_map("kafka.client", entry_name=librdkafka_property) == {"sasl.password": "{s3cr3t"}
    with pytest.raises(ConfigError) as raised:
        Reader(load_config("token_ttl = 5", {"TOKEN_TTL": "s3cr3t"})).integer("token_ttl")
    assert "s3cr3t" not in str(raised.value)


def test_the_logged_settings_show_no_credential_of_any_form():
    reader = Reader(load_config(BASE + '''
kafka.client {
  "ssl.key.pem" = "-----BEGIN PRIVATE KEY-----K3Y"
  "sasl.oauthbearer.config" = "clientId=c clientSecret=0auth"
  "sasl.jaas.config" = "org.apache.kafka.common.security.plain.PlainLoginModule required password=\\"j4as\\";"
  "ssl.keystore.password" = "k3ystore"
  "some.future.property" = "unkn0wn"
  "client.id" = "me"
  "security.protocol" = "SASL_SSL"
  sasl.password = "n3sted"
}
program-service-baseUrl = "http://svc:pa55@program:8080/x"
hosts = ["https://u:l1st@h/", "http://plain/"]
''', {}))
    CommonSettings.read(reader)
    reader.text_list("hosts"), reader.url("program-service-baseUrl")
    shown = str(reader.shown())
    for secret in ("n3sted", "K3Y", "0auth", "j4as", "k3ystore", "unkn0wn", "pa55", "l1st"):
        assert secret not in shown, secret
    assert "'me'" in shown and "SASL_SSL" in shown and "http://program:8080/x" in shown and "http://plain/" in shown


def test_a_refused_url_setting_is_echoed_without_its_user_info():
    reader = Reader(load_config('program-service-baseUrl = "htp://svc:pa55@program:8080/x"', {}))
    with pytest.raises(ConfigError) as raised:
        reader.url("program-service-baseUrl")
    assert "pa55" not in str(raised.value) and "program:8080" in str(raised.value)


def test_an_objects_variable_sets_the_keys_it_names():
    """``RETRY={max_attempts = 2}`` (HOCON) sets retry.max_attempts; the other retry keys keep their values."""
    reader = Reader(load_config(DEFAULTS, {"RETRY": "{ max_attempts = 2 }", "KAFKA_INPUT": '{ topic = "t7" }'}))
    settings = CommonSettings.read(reader)
    assert settings.retry.max_attempts == 2 and settings.retry.initial_backoff_s == 0.5
    assert reader.text("kafka.input.topic") == "t7" and reader.origins["kafka.input.topic"] == "environment"
    assert "RETRY" not in reader.unread_environment() and "KAFKA_INPUT" not in reader.unread_environment()
    with pytest.raises(ConfigError, match="^retry: environment value RETRY is not HOCON"):
        CommonSettings.read(Reader(load_config(DEFAULTS, {"RETRY": "{ unclosed"})))
    # A variable of an object's name that is not an object is someone else's: it changes nothing.
    settings = CommonSettings.read(Reader(load_config(DEFAULTS, {"KAFKA": "kafka:9092", "HTTP": "on", "RETRY": "[1]"})))
    assert settings.retry.max_attempts == 5 and settings.kafka.brokers == "localhost:9092"


def test_variables_that_are_not_settings_and_commented_substitutions(tmp_path):
    """Service links and proxies are not typos; a ``${?NAME}`` in a comment reads nothing, so its variable is named."""
    conf = tmp_path / "job.conf"
    conf.write_text('kafka.client {\n  # sasl.password = ${?KAFKA_SASL_PASSWORD}\n}\n'
                    'http.headers { Authorization = ${?HTTP_AUTHORIZATION} }  // not ${?HTTP_OTHER}\n')
    environ = {"JOB_CONFIG_FILE": str(conf), "KAFKA_SASL_PASSWORD": "p", "HTTP_AUTHORIZATION": "a",
               "HTTP_OTHER": "o", "KAFKA_PORT": "tcp://10.0.0.1:9092", "KAFKA_SERVICE_HOST": "10.0.0.1",
               "KAFKA_PORT_9092_TCP_ADDR": "10.0.0.1", "HTTP_PROXY": "http://proxy:3128", "RETRY": "{}",
               "HEALTH": "{}", "KAFKA": "{}"}
    reader = Reader(load_config(DEFAULTS, environ))
    CommonSettings.read(reader)
    assert reader.unread_environment() == ["HTTP_OTHER", "KAFKA_SASL_PASSWORD"]
