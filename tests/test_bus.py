from __future__ import annotations

from ishowtts_live.bus import EventBus
from tests.kit import wait


async def test_subscribers_get_events_in_order():
    """Every subscriber sees each event, numbered, in order."""
    bus = EventBus()
    a, b = bus.subscribe(), bus.subscribe()
    bus.publish("queued", text="x")
    bus.publish("spoken", text="x")
    for sub in (a, b):
        first, second = await wait(sub.__anext__()), await wait(sub.__anext__())
        assert (first["type"], second["type"]) == ("queued", "spoken") and second["seq"] == first["seq"] + 1


async def test_slow_subscriber_loses_oldest_not_the_publisher():
    """A full subscriber queue drops its oldest events and counts them; publish never blocks."""
    bus = EventBus()
    sub = bus.subscribe(maxsize=3)
    for i in range(10):
        bus.publish("queued", n=i)
    got = [(await wait(sub.__anext__()))["n"] for _ in range(3)]
    assert got == [7, 8, 9] and sub.lost == 7


def test_closed_subscription_stops_receiving():
    bus = EventBus()
    sub = bus.subscribe()
    sub.close()
    bus.publish("x")
    assert bus.subscribers == 0 and len(bus.recent) == 1
