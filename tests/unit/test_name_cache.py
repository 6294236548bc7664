"""Names' answers kept a few seconds: dropped when too old, the oldest first when too many."""

from connectors.name_cache import NameCache


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_answers_are_kept_until_they_are_too_old():
    clock = Clock()
    names = NameCache(ttl_s=10, clock=clock)
    names.put("svc.test", 443, ["a"])
    clock.now += 9.9
    assert names.get("svc.test", 443) == ["a"]
    clock.now += 0.1
    assert names.get("svc.test", 443) is None


def test_answers_are_by_name_and_port():
    names = NameCache()
    names.put("svc.test", 443, ["a"])
    assert names.get("svc.test", 80) is None and names.get("other.test", 443) is None


def test_many_names_keep_only_the_newest():
    """Events naming a new host each cannot grow the cache."""
    names = NameCache(size=3)
    for index in range(1000):
        names.put(f"h{index}.test", 80, [index])
    assert [names.get(f"h{index}.test", 80) for index in (996, 997, 998, 999)] == [None, [997], [998], [999]]


def test_a_name_forgotten_is_looked_up_again():
    names = NameCache()
    names.put("svc.test", 80, ["a"])
    names.forget("svc.test", 80)
    names.forget("never.test", 80)
    assert names.get("svc.test", 80) is None


def test_a_long_answer_is_not_kept():
    """A hostile name's DNS chooses how many addresses it has: kept, 256 such names could hold hundreds
    of megabytes."""
    names = NameCache()
    names.put("many.test", 80, list(range(33)))
    names.put("some.test", 80, list(range(32)))
    assert names.get("many.test", 80) is None and names.get("some.test", 80) == list(range(32))
