"""The AWS IoT Device Shadow MQTT topic layout.

Request topics ``$aws/things/THING/shadow[/name/NAME]/{update,get,delete}``; the service
answers on ``.../accepted`` and ``.../rejected`` under each, and publishes
``.../update/delta`` and ``.../update/documents``.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["OPERATIONS", "SERVICE_SUBSCRIPTIONS", "ShadowTopic", "parse_request_topic",
           "shadow_topic"]

OPERATIONS = ("update", "get", "delete")
_PREFIX = "$aws/things/"

#: what the cloud-side service subscribes to: every request topic, classic and named
SERVICE_SUBSCRIPTIONS = tuple(
    [f"{_PREFIX}+/shadow/{op}" for op in OPERATIONS]
    + [f"{_PREFIX}+/shadow/name/+/{op}" for op in OPERATIONS])


class ShadowTopic(NamedTuple):
    """A parsed request topic: the thing, the shadow name (``None``: classic), the operation."""

    thing: str
    name: str | None
    operation: str


def shadow_topic(thing: str, operation: str, suffix: str | None = None, *,
                 name: str | None = None) -> str:
    """``$aws/things/THING/shadow[/name/NAME]/OPERATION[/SUFFIX]``, e.g.
    ``shadow_topic("pump-1", "update", "accepted")``."""
    base = f"{_PREFIX}{thing}/shadow" + (f"/name/{name}" if name is not None else "")
    return f"{base}/{operation}" + (f"/{suffix}" if suffix else "")


def parse_request_topic(topic: str) -> ShadowTopic | None:
    """The (thing, name, operation) of a request topic, or ``None`` for any other topic."""
    if not topic.startswith(_PREFIX):
        return None
    parts = topic[len(_PREFIX):].split("/")
    if len(parts) == 3 and parts[1] == "shadow" and parts[2] in OPERATIONS and parts[0]:
        return ShadowTopic(parts[0], None, parts[2])
    if (len(parts) == 5 and parts[1] == "shadow" and parts[2] == "name"
            and parts[4] in OPERATIONS and parts[0] and parts[3]):
        return ShadowTopic(parts[0], parts[3], parts[4])
    return None
