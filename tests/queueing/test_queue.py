"""The speech queue on its own: order, caps, eviction, TTL, moderation, views."""

from __future__ import annotations

import asyncio

import msgspec
import pytest

from ishowtts_live.queueing import ANNOUNCEMENT, CHAT, PAID, SpeechQueue, priority_class
from tests.kit import wait
from tests.queueing.kit import Clock, announcement, cfg, paid, utt


def drain(q: SpeechQueue) -> list[str]:
    out = []
    while (u := q.get_nowait()) is not None:
        out.append(u.text)
    return out


@pytest.mark.parametrize(("make", "expected"), [
    (lambda: utt(kind="chat"), CHAT),
    (lambda: utt(kind="superchat", amount=30), PAID),
    (lambda: utt(kind="gift", amount=1), PAID),
    (lambda: utt(kind="member", amount=198), PAID),
    (lambda: utt(kind="gift", amount=0), CHAT),  # a free gift is not paid
    (lambda: announcement(), ANNOUNCEMENT),
    (lambda: utt(kind="system", platform="bilibili"), CHAT),  # only the control API announces
    (lambda: utt(event=False), CHAT),
])
def test_priority_class_table(make, expected):
    """Each kind of utterance falls into its priority class."""
    assert priority_class(make()) == expected


def test_paid_before_announcement_before_chat():
    """Paid messages are spoken first, then announcements, then chat, whatever the arrival order."""
    q = SpeechQueue(cfg(), clock=Clock())
    for u in (utt("c1"), announcement("a1"), paid("p1", user="bob"), utt("c2", user="carol"), paid("p2", user="dan"),
              announcement("a2")):
        assert q.put(u).kept
    assert drain(q) == ["p1", "p2", "a1", "a2", "c1", "c2"]


def test_fifo_within_a_class_for_distinct_users():
    """Within a class, items from different users leave in arrival order."""
    q = SpeechQueue(cfg(), clock=Clock())
    for i in range(10):
        q.put(utt(f"c{i}", user=f"user{i}"))
    assert drain(q) == [f"c{i}" for i in range(10)]


def test_fair_share_interleaves_a_chatty_user():
    """A user with several items waiting takes turns with everyone else instead of blocking them."""
    q = SpeechQueue(cfg(), clock=Clock())
    for i in range(4):
        q.put(utt(f"spam{i}", user="spammer"))
    q.put(utt("hi", user="alice"))
    q.put(utt("yo", user="bob"))
    assert drain(q) == ["spam0", "hi", "yo", "spam1", "spam2", "spam3"]


def test_peek_shows_what_get_gives_next_and_leaves_it():
    """Playback synthesizes ahead what peek shows: the next items in speaking
    order (fair share and priority included), none while paused, nothing removed."""
    clock = Clock()
    q = SpeechQueue(cfg(ttl_chat_s=20.0), clock=clock)
    for i in range(3):
        q.put(utt(f"spam{i}", user="spammer"))
    q.put(utt("hi", user="alice"))
    assert [u.text for u in q.peek(3)] == ["spam0", "hi", "spam1"]
    q.put(paid("thanks", user="bob"))
    assert [u.text for u in q.peek(2)] == ["thanks", "spam0"] and len(q) == 5
    q.pause()
    assert q.peek(3) == []
    q.resume()
    clock.advance(30.0)  # the chat went stale: peek does not show it
    assert [u.text for u in q.peek(5)] == ["thanks"]
    assert drain(q) == ["thanks"]


def test_fair_share_counts_a_user_by_id_and_by_name_case_insensitively():
    """The same user id, or the same name in another case or width, counts as one user."""
    q = SpeechQueue(cfg(max_per_user=2), clock=Clock())
    assert q.put(utt("1", user="Alice", uid="42")).kept
    assert q.put(utt("2", user="renamed", uid="42")).kept
    assert q.put(utt("3", user="x", uid="42")).reason == "user_queue_full"
    assert q.put(utt("4", user="ＢＯＢ")).kept
    assert q.put(utt("5", user="bob")).kept
    assert q.put(utt("6", user=" Bob ")).reason == "user_queue_full"
    # Bilibili's uid 0 (not logged in) is nobody's id: names decide.
    assert q.put(utt("7", user="carol", uid="0")).kept
    assert q.put(utt("8", user="dave", uid="0")).kept


def test_per_user_cap_applies_to_chat_only_and_frees_up():
    """max_per_user caps waiting chat per user; paid and announcements are never capped; a served item frees a slot."""
    q = SpeechQueue(cfg(max_per_user=1), clock=Clock())
    assert q.put(utt("c1", user="bob")).kept
    assert q.put(utt("c2", user="bob")).reason == "user_queue_full"
    assert q.put(paid("p1", user="bob")).kept
    assert q.put(paid("p2", user="bob")).kept
    assert q.put(announcement("a1")).kept
    assert q.put(announcement("a2")).kept
    assert q.drops == {"user_queue_full": 1}
    assert drain(q)[-1] == "c1"
    assert q.put(utt("c3", user="bob")).kept


@pytest.mark.parametrize(("full_of", "newcomer", "kept", "left"), [
    ("chat", "chat", False, "c0 c1 c2"),
    ("chat", "announcement", True, "new c1 c2"),
    ("chat", "paid", True, "new c1 c2"),
    ("announcement", "chat", False, "a0 a1 a2"),
    ("announcement", "announcement", False, "a0 a1 a2"),
    ("announcement", "paid", True, "new a1 a2"),
    ("paid", "chat", False, "p0 p1 p2"),
    ("paid", "announcement", False, "p0 p1 p2"),
    ("paid", "paid", False, "p0 p1 p2"),
])
def test_full_queue_evicts_only_a_lower_class(full_of, newcomer, kept, left):
    """When full, a newcomer evicts the oldest item of a lower class, else it is dropped (queue_full)."""
    make = {"chat": lambda t, i: utt(t, user=f"u{i}"), "announcement": lambda t, i: announcement(t),
            "paid": lambda t, i: paid(t, user=f"u{i}")}
    q = SpeechQueue(cfg(max_items=3), clock=Clock())
    for i in range(3):
        assert q.put(make[full_of](f"{full_of[0]}{i}", i)).kept
    verdict = q.put(make[newcomer]("new", 9))
    assert verdict.kept == kept
    assert len(q) == 3
    assert sorted(drain(q)) == sorted(left.split())
    assert q.drops == ({"evicted": 1} if kept else {"queue_full": 1})


def test_eviction_takes_the_lowest_class_first_and_oldest_within_it():
    """A paid newcomer evicts chat before announcements, and the oldest chat first."""
    q = SpeechQueue(cfg(max_items=4), clock=Clock())
    for u in (announcement("a0"), utt("c0", user="x"), utt("c1", user="y"), announcement("a1")):
        q.put(u)
    removed = []
    q.listeners.append(lambda action, u, reason: removed.append((action, u.text, reason)))
    q.put(paid("p0"))
    q.put(paid("p1"))
    q.put(paid("p2"))
    assert [r for r in removed if r[0] == "evicted"] == [("evicted", "c0", "evicted"), ("evicted", "c1", "evicted"),
                                                         ("evicted", "a0", "evicted")]
    assert drain(q) == ["p0", "p1", "p2", "a1"]


@pytest.mark.parametrize(("klass", "ttl_key", "make"), [
    ("chat", "ttl_chat_s", lambda: utt("x")),
    ("announcement", "ttl_announcement_s", lambda: announcement("x")),
    ("paid", "ttl_paid_s", lambda: paid("x")),
])
def test_ttl_per_class_on_the_event_clock(klass, ttl_key, make):
    """An item waiting longer than its class's TTL on the queue's clock is dropped as stale; 0 means never."""
    clock = Clock()
    q = SpeechQueue(cfg(**{ttl_key: 10.0}), clock=clock)
    seen = []
    q.listeners.append(lambda action, u, reason: seen.append((action, reason)))
    q.put(make())
    clock.advance(9.9)
    assert len(q) == 1 and q.oldest_wait() == pytest.approx(9.9)
    clock.advance(0.1)
    assert q.get_nowait() is None
    assert q.drops == {"stale": 1} and len(q) == 0
    assert seen == [("queued", ""), ("stale", "stale")]
    # The other classes' TTLs are 0 here: they never go stale.
    q2 = SpeechQueue(cfg(), clock=clock)
    q2.put(make())
    clock.advance(1e6)
    assert q2.get_nowait() is not None


def test_ttl_defaults_keep_paid_and_drop_stale_chat():
    """With the shipped defaults, chat goes stale after 30 s but paid messages wait."""
    clock = Clock()
    q = SpeechQueue(msgspec.convert({}, type=type(cfg())), clock=clock)
    q.put(utt("chat"))
    q.put(paid("paid"))
    clock.advance(3600)
    assert [s.text for s in q.snapshot()] == ["paid"]
    assert q.drops["stale"] == 1


def test_deadline_on_the_utterance_also_expires_it():
    """An utterance's own deadline (event clock) ends its wait even when its class TTL is longer."""
    clock = Clock(100.0)
    q = SpeechQueue(cfg(ttl_chat_s=60), clock=clock)
    assert q.put(utt("late", deadline=99.0)).reason == "stale"
    q.put(utt("soon", deadline=105.0))
    clock.advance(5)
    assert q.get_nowait() is None
    assert q.drops["stale"] == 2


@pytest.mark.parametrize(("criteria", "purged"), [
    ({"user_name": "ALICE"}, ["a1", "a3"]),
    ({"user_name": "ａｌｉｃｅ"}, ["a1", "a3"]),
    ({"user_id": "7"}, ["b1"]),
    ({"user_id": "twitch:7"}, ["b1"]),
    ({"user_id": "7", "user_name": "alice"}, ["a1", "b1", "a3"]),
    ({"msg_id": "m-a3"}, ["a3"]),
    ({"msg_id": "id-b1"}, ["b1"]),  # the utterance id works too
    ({"platform": "twitch"}, ["b1", "c1"]),
    ({"user_name": "alice", "platform": "twitch"}, []),
    ({"user_name": "nobody"}, []),
])
def test_purge_table(criteria, purged):
    """purge removes what matches every criterion given (user id or name, case-insensitive), and nothing else."""
    q = SpeechQueue(cfg(), clock=Clock())
    items = [utt("a1", user="Alice", msg_id="m-a1"), utt("b1", user="bob", uid="7", platform="twitch", id="id-b1"),
             utt("a3", user="alice", msg_id="m-a3"), utt("c1", user="carol", platform="twitch")]
    for u in items:
        q.put(u)
    seen = []
    q.listeners.append(lambda action, u, reason: seen.append((action, u.text, reason)))
    assert [u.text for u in q.purge(**criteria)] == purged
    assert seen == [("purged", t, "purged") for t in purged]
    assert len(q) == 4 - len(purged)
    assert q.drops["purged"] == len(purged)
    assert sorted(drain(q)) == sorted(t for t in ("a1", "b1", "a3", "c1") if t not in purged)


def test_purge_without_criteria_is_refused():
    """A purge with no criterion would empty the queue by mistake: it raises instead."""
    q = SpeechQueue(cfg(), clock=Clock())
    q.put(utt())
    with pytest.raises(ValueError):
        q.purge()
    assert len(q) == 1


def test_clear_removes_everything_and_counts_it():
    """clear empties the queue, paid items included, and reports what it removed in queue order."""
    q = SpeechQueue(cfg(), clock=Clock())
    q.put(utt("c"))
    q.put(paid("p"))
    assert [u.text for u in q.clear()] == ["c", "p"]
    assert len(q) == 0 and q.get_nowait() is None
    assert q.drops == {"cleared": 2}


def test_duplicate_ids_are_refused():
    """The same utterance id is not queued twice, nor while it is playing."""
    q = SpeechQueue(cfg(), clock=Clock())
    u = utt("x", id="same")
    assert q.put(u).kept
    assert q.put(u).reason == "duplicate"
    got = q.get_nowait()
    q.started(got)
    assert q.put(u).reason == "duplicate"
    q.finished(got, spoken=True)
    assert q.put(u).kept  # chat is not journaled: a later re-send is new chat


def test_snapshot_is_in_speaking_order_and_encodes():
    """snapshot lists the waiting items in the order they will be spoken, with age, class and user, as JSON."""
    clock = Clock()
    q = SpeechQueue(cfg(), clock=clock)
    q.put(utt("chat", user="alice"))
    clock.advance(2)
    q.put(paid("paid", user="bob", amount=50))
    clock.advance(1)
    snap = q.snapshot()
    assert [(s.text, s.priority, s.user_name, s.kind, s.amount) for s in snap] == [
        ("paid", "paid", "bob", "superchat", 50.0), ("chat", "chat", "alice", "chat", 0.0)]
    assert [s.waited_s for s in snap] == [pytest.approx(1.0), pytest.approx(3.0)]
    decoded = msgspec.json.decode(msgspec.json.encode(snap))
    assert set(decoded[0]) == {"id", "msg_id", "user_name", "user_id", "platform", "kind", "amount", "text",
                               "priority", "waited_s", "voice"}
    assert decoded[0]["id"] == snap[0].id and decoded[0]["platform"] == "bilibili"
    assert snap[0].utterance.text == "paid" and snap[0].msg_id == snap[0].utterance.event.msg_id
    assert q.oldest_wait() == pytest.approx(3.0)
    assert len(q) == 2  # a snapshot removes nothing fresh


def test_oldest_wait_is_zero_when_empty():
    """oldest_wait is 0 for an empty queue and follows the longest-waiting item."""
    clock = Clock()
    q = SpeechQueue(cfg(), clock=clock)
    assert q.oldest_wait() == 0.0
    q.put(utt("a"))
    clock.advance(4)
    q.put(paid("b"))
    assert q.oldest_wait() == pytest.approx(4.0)
    q.get_nowait()  # the paid one
    assert q.oldest_wait() == pytest.approx(4.0)
    q.get_nowait()
    assert q.oldest_wait() == 0.0


def test_listeners_see_every_change_and_a_broken_one_is_contained():
    """Listeners hear queued, dropped, evicted, stale and purged; one that raises does not break the queue."""
    clock = Clock()
    q = SpeechQueue(cfg(max_items=2, ttl_chat_s=5), clock=clock)
    seen = []
    q.listeners.append(lambda *a: 1 / 0)
    q.listeners.append(lambda action, u, reason: seen.append((action, u.text, reason)))
    q.put(utt("a", user="a"))
    q.put(announcement("b"))
    q.put(utt("c", user="c"))  # full
    q.put(paid("d"))  # evicts a
    clock.advance(10)
    q.purge(platform="control")
    assert seen == [("queued", "a", ""), ("queued", "b", ""), ("dropped", "c", "queue_full"), ("evicted", "a", "evicted"),
                    ("queued", "d", ""), ("purged", "b", "purged")]
    assert q.drops == {"queue_full": 1, "evicted": 1, "purged": 1}


async def test_get_waits_for_an_item():
    """get() waits while the queue is empty and returns as soon as something is put."""
    q = SpeechQueue(cfg(), clock=Clock())
    getter = asyncio.create_task(q.get())
    await asyncio.sleep(0)
    assert not getter.done()
    q.put(utt("now"))
    assert (await wait(getter, 5)).text == "now"


async def test_pause_holds_get_until_resume():
    """While paused, an awaiting get() receives nothing, items keep queueing, and resume releases them in order."""
    q = SpeechQueue(cfg(), clock=Clock())
    q.pause()
    assert q.paused
    getter = asyncio.create_task(q.get())
    q.put(utt("chat"))
    q.put(paid("paid"))
    for _ in range(5):
        await asyncio.sleep(0)
    assert not getter.done() and len(q) == 2
    q.resume()
    assert not q.paused
    assert (await wait(getter, 5)).text == "paid"
    assert (await wait(q.get(), 5)).text == "chat"


async def test_get_skips_stale_items():
    """get() drops items that went stale while waiting and hands out the next fresh one."""
    clock = Clock()
    q = SpeechQueue(cfg(ttl_chat_s=5), clock=clock)
    q.put(utt("old", user="a"))
    clock.advance(6)
    q.put(utt("new", user="b"))
    assert (await wait(q.get(), 5)).text == "new"
    assert q.drops == {"stale": 1}


def test_many_operations_keep_internal_structures_bounded():
    """Lazy deletion is compacted: after many puts and removals the queue holds only what is waiting."""
    q = SpeechQueue(cfg(max_items=50), clock=Clock())
    for i in range(2000):
        q.put(utt(str(i), user=f"u{i % 7}"))
        if i % 3 == 0:
            q.get_nowait()
        if i % 11 == 0:
            q.purge(user_name=f"u{i % 7}")
    assert len(q) <= 50
    assert len(q._heap) <= 2 * len(q) + 130
    assert all(len(d) <= 2 * len(q) + 130 for d in q._arrivals)


def test_waiting_while_paused_is_not_a_backlog():
    """Time spent paused does not count as waiting: after a long pause the
    backlog stays off (no faster speech at the NFE floor), and it still
    switches on when messages then wait too long with the queue running."""
    from ishowtts_live.pipeline import Backlog

    clock = Clock()
    q = SpeechQueue(cfg(), clock=clock)
    backlog = Backlog(threshold_s=20, recover_s=5, speed=1.3, nfe_floor=5, compact=True)
    q.put(utt("before the pause"))
    clock.advance(3)
    q.pause()
    q.put(announcement("after the break"))
    clock.advance(60)
    assert q.oldest_wait() == 3.0
    assert not backlog.update(q.oldest_wait())
    q.resume()
    assert not backlog.update(q.oldest_wait())
    assert backlog.synth_args(None, 7) == {"nfe_step": None}
    clock.advance(18)
    assert q.oldest_wait() == 21.0 and backlog.update(q.oldest_wait())
    q.pause()
    clock.advance(100)
    q.resume()
    assert q.get_nowait().text == "after the break"
    assert q.oldest_wait() == 21.0  # the chat: 3 s before the first pause, 18 s between the pauses
