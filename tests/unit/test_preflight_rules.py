"""The pre-flight check's account of where a job starts on a partition (tools/preflight.py)."""

from confluent_kafka import TopicPartition

from tools.preflight import Check, _start


def test_where_the_job_starts_on_a_partition():
    assert _start(TopicPartition("t", 0, 120), 0, 150, "latest") == "[0] committed 120, end 150, lag 30"
    assert _start(TopicPartition("t", 1, -1001), 7, 150, "earliest") == \
        "[1] none: starts at the earliest offset (7; kafka.auto.offset.reset)"
    assert _start(TopicPartition("t", 1, -1001), 7, 150, "latest") == \
        "[1] none: starts at the latest offset (150; kafka.auto.offset.reset)"
    assert _start(TopicPartition("t", 2, 216), 0, 1, "latest") == \
        "[2] committed 216 (the broker gives its end as 1: lag unknown)"  # never a negative lag
    assert _start(TopicPartition("t", 3, 5), 40, 90, "earliest") == \
        "[3] committed 5, below the earliest offset 40 (removed by retention): starts at the earliest offset " \
        "(kafka.auto.offset.reset)"


def test_a_check_is_one_line_ok_or_failed():
    assert Check("kafka", True, "the brokers answer").line() == "ok     kafka: the brokers answer"
    assert Check("storage", False, "no container 'x' (cloud_storage_container)").line() == \
        "FAILED storage: no container 'x' (cloud_storage_container)"
