"""The offset committer against a real broker: a commit is sent without waiting for its answer, and an offset
counts as committed only once the broker has confirmed it."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from connectors.kafka import BrokerWatch, OffsetCommitter
from sandbox.kafka_tools import committed
from tests.conftest import wait_for


def _committer(broker, group: str) -> OffsetCommitter:
    return OffsetCommitter({"bootstrap.servers": broker.bootstrap}, group, BrokerWatch(timeout_s=10.0))


@contextmanager
def committing(broker, names, partitions: int = 1) -> Iterator[tuple[str, str, OffsetCommitter]]:
    """A fresh topic and group, and a committer for them, closed afterwards."""
    topic, group = names("commits"), names("g")
    broker.create_topics([topic], partitions=partitions)
    committer = _committer(broker, group)
    try:
        yield topic, group, committer
    finally:
        committer.close()


def test_a_commit_returns_before_its_answer_and_its_offsets_stay_pending_until_confirmed(broker, names):
    """Waiting for the broker's answer after every batch took 7 % of the skipped path's time."""
    with committing(broker, names) as (topic, group, committer):
        committer.done(topic, 0, 4)
        committer.commit()
        assert committer.pending() == {(topic, 0): 5}  # sent, not yet confirmed
        wait_for(lambda: committed(broker.bootstrap, group, topic) == [5], 30, "the commit stored")
        wait_for(lambda: (committer.commit(), committer.pending())[1] == {}, 30, "the answer read")


def test_an_answer_confirms_only_the_offsets_its_commit_carried(broker, names):
    """Offsets done after a commit was sent stay pending when its answer comes, and go with the next one."""
    with committing(broker, names, partitions=2) as (topic, group, committer):
        committer.done(topic, 0, 4)
        committer.commit()
        committer.done(topic, 0, 9)
        committer.done(topic, 1, 2)
        wait_for(lambda: committed(broker.bootstrap, group, topic, partitions=2) == [5, -1001], 30,
                 "the first commit stored")
        assert committer.pending() == {(topic, 0): 10, (topic, 1): 3}
        wait_for(lambda: (committer.commit(), committer.pending())[1] == {}, 30, "the second commit confirmed")
        assert committed(broker.bootstrap, group, topic, partitions=2) == [10, 3]


def test_offsets_done_while_a_commit_is_unanswered_are_sent_by_the_next_call(broker, names):
    """The last batch before a quiet spell must not leave its offsets pending until the next batch (or the
    stop): the next call waits for the earlier answer, then sends them."""
    with committing(broker, names) as (topic, group, committer):
        committer.done(topic, 0, 4)
        committer.commit()
        committer.done(topic, 0, 9)
        committer.commit()  # the first commit's answer may not have come yet
        wait_for(lambda: committed(broker.bootstrap, group, topic) == [10], 30, "the second batch's offset stored")


def test_close_sends_what_is_pending_and_waits_for_its_answer(broker, names):
    topic, group = names("commits"), names("g")
    broker.create_topics([topic])
    committer = _committer(broker, group)
    committer.done(topic, 0, 4)
    committer.commit()
    committer.done(topic, 0, 7)  # the first commit may still be unanswered
    committer.close()
    assert committer.pending() == {}
    assert committed(broker.bootstrap, group, topic) == [8]
