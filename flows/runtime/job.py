"""What a job plugs into the shared pipeline: its rules as a :class:`Job`, and the result
its handler returns for one event."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Awaitable, Callable, Union

from flows.runtime.logs import short_hash


@dataclass(frozen=True)
class Done:
    """The job did its work; ``status`` is the last HTTP answer's, for the log."""

    status: int | None = None


@dataclass(frozen=True)
class Skip:
    """Nothing to do for this event; ``reason`` is logged."""

    reason: str
    status: int | None = None


@dataclass(frozen=True)
class Fail:
    """The work cannot be done; the event goes to the failed topic."""

    error: str
    status: int | None = None


@dataclass(frozen=True)
class Link:
    """The work is done but for linking ``identifier`` into collection units, which the pipeline does
    one add at a time per collection (:mod:`flows.runtime.linking`)."""

    identifier: str
    units: dict[str, list[str]]  # collection id -> its unit ids


Result = Union[Done, Skip, Fail, Link]


@dataclass(frozen=True)
class Job:
    """One job's rules, plugged into the shared pipeline.

    ``entity``, ``validate`` and ``handle`` take ``(topic, event)``. ``validate`` returns
    a skip reason or None; ``entity`` and ``validate`` may raise
    :class:`~flows.runtime.event.BadValue` for a value of the wrong type (the event fails).
    ``handle`` is a coroutine function: events run on the process's event loop
    (:class:`~flows.runtime.in_flight.CoroutinePool`); what blocks, it runs on threads it awaits.
    """

    name: str
    topics: tuple[str, ...]
    entity: Callable[[str, dict], str | None]
    validate: Callable[[str, dict], str | None]
    handle: Callable[[str, dict], Awaitable[Result]]
    personal_entity: bool = False
    # For a handler that returns Link: a coroutine function that links identifiers into one collection's units,
    # all in one go (collection id, [(identifier, its unit ids)]); it returns the identifiers it could not link,
    # with why, and raises an expected failure when none could be.
    link: Callable[[str, list[tuple[str, list[str]]]], Awaitable[dict[str, str]]] | None = None
    # The failures ``handle`` and ``link`` may raise that end the event as a failed record, without a
    # traceback (a service's refusal, retries used up, ...); anything else is logged as a bug.
    expected: tuple[type[Exception], ...] = ()

    def loggable(self, entity: str | None) -> str | None:
        """The entity as it may appear in logs: hashed when it identifies a person."""
        return short_hash(entity) if self.personal_entity else entity
