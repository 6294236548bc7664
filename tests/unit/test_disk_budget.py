"""The bytes downloads may keep on disk at once: taken in one step, waited for in turn, given back."""

import asyncio

import pytest
from prometheus_client import REGISTRY

from connectors.disk_budget import DiskBudget


def test_a_reservation_within_the_budget_is_taken_at_once_and_given_back():
    async def scenario():
        budget = DiskBudget(100)
        assert await budget.reserve(60) == 60 and budget.free == 40
        budget.release(60)
        assert budget.free == 100

    asyncio.run(scenario())


def test_past_the_budget_a_reservation_waits_for_a_release_first_come_first_served():
    async def scenario():
        budget = DiskBudget(100)
        await budget.reserve(70)
        order = []

        async def wants(size, name):
            await budget.reserve(size)
            order.append(name)

        big = asyncio.create_task(wants(50, "big"))
        await asyncio.sleep(0)
        small = asyncio.create_task(wants(10, "small"))  # fits now, but the big one came first
        await asyncio.sleep(0.01)
        assert order == [] and budget.free == 30
        budget.release(70)
        await asyncio.gather(big, small)
        assert order == ["big", "small"] and budget.free == 40

    asyncio.run(scenario())


def test_a_reservation_larger_than_the_budget_takes_the_whole_budget():
    async def scenario():
        budget = DiskBudget(100)
        assert await budget.reserve(10**12) == 100 and budget.free == 0

    asyncio.run(scenario())


def test_a_cancelled_wait_holds_nothing_and_lets_those_behind_it_in():
    async def scenario():
        budget = DiskBudget(100)
        await budget.reserve(90)
        blocked = asyncio.create_task(budget.reserve(50))
        await asyncio.sleep(0)
        behind = asyncio.create_task(budget.reserve(10))
        await asyncio.sleep(0.01)
        assert not behind.done()
        blocked.cancel()
        assert await behind == 10 and budget.free == 0
        with pytest.raises(asyncio.CancelledError):
            await blocked

    asyncio.run(scenario())


def test_a_wait_cancelled_just_as_it_was_granted_gives_its_bytes_back():
    async def scenario():
        budget = DiskBudget(100)
        await budget.reserve(100)
        waiting = asyncio.create_task(budget.reserve(40))
        await asyncio.sleep(0)
        budget.release(100)  # granted ...
        waiting.cancel()  # ... and cancelled before it ran again
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert budget.free == 100

    asyncio.run(scenario())


def test_a_wait_cancelled_before_a_release_in_the_same_turn_takes_nothing():
    """A download's deadline fires while it waits, and in the same turn of the loop another download gives its
    room back: the release must neither hand the room to the cancelled wait (lost for good) nor fail."""
    async def scenario():
        budget = DiskBudget(100)
        held = await budget.reserve(100)
        waiting = asyncio.create_task(budget.reserve(40))
        await asyncio.sleep(0)
        waiting.cancel()
        budget.release(held)  # before the cancelled task runs again
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert budget.free == 100

    asyncio.run(scenario())


def test_a_deadline_due_with_a_release_leaves_the_budget_whole():
    async def scenario():
        loop = asyncio.get_running_loop()
        budget = DiskBudget(100)
        held = await budget.reserve(100)
        due = loop.time() + 0.05
        errors = []
        loop.set_exception_handler(lambda _loop, context: errors.append(context.get("exception")))

        async def download():
            async with asyncio.timeout_at(due):
                await budget.reserve(40)

        task = asyncio.create_task(download())
        await asyncio.sleep(0)
        loop.call_at(due, budget.release, held)
        with pytest.raises(TimeoutError):
            await task
        assert errors == [] and budget.free == 100

    asyncio.run(scenario())


def test_the_bytes_reserved_and_the_waits_are_exported_for_the_job():
    """What operators size ``/tmp`` and the budget by: the bytes reserved now, and how often a download waited."""
    def sample(name):
        return REGISTRY.get_sample_value(name, {"job": "budget-metrics-test"}) or 0

    async def scenario():
        budget = DiskBudget(100, job="budget-metrics-test")
        held = await budget.reserve(70)
        assert sample("cokreat_download_disk_reserved_bytes") == 70
        waiting = asyncio.create_task(budget.reserve(50))
        await asyncio.sleep(0)
        assert sample("cokreat_download_disk_waits_total") == 1
        budget.release(held)
        assert await waiting == 50 and sample("cokreat_download_disk_reserved_bytes") == 50
        budget.release(50)
        assert sample("cokreat_download_disk_reserved_bytes") == 0

    asyncio.run(scenario())
