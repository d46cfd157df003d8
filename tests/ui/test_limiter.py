"""The answer slots (``ui.limiter.Slots``): arrival order, and the cap on dose checks."""

from __future__ import annotations

import threading
import time
from typing import Any

from ui.limiter import Slots


def _start(slots: Slots, kind: str, log: list[str], name: str, hold: threading.Event) -> Any:
    def run() -> None:
        with slots.hold(kind):  # type: ignore[arg-type]
            log.append(name)
            hold.wait(10)

    th = threading.Thread(target=run, daemon=True)
    th.start()
    return th


def _wait_in_line(slots: Slots, n: int) -> None:
    deadline = time.monotonic() + 10
    while slots.waiting() < n:
        assert time.monotonic() < deadline, f"{n} waiters never lined up"
        time.sleep(0.005)


def test_slots_are_granted_in_arrival_order() -> None:
    slots = Slots(1)
    log: list[str] = []
    go = threading.Event()
    with slots:  # the only slot is busy while the line forms
        threads = []
        for i, kind in enumerate(["answer", "check", "answer", "answer"]):
            threads.append(_start(slots, kind, log, f"{kind}{i}", go))
            _wait_in_line(slots, i + 1)
    go.set()
    for th in threads:
        th.join(10)
    assert log == ["answer0", "check1", "answer2", "answer3"]


def test_checks_take_one_place_in_the_line_at_a_time() -> None:
    """Three checks and then two answers wait: the answers go after the first check, not
    after all three."""
    slots = Slots(1)
    log: list[str] = []
    go = threading.Event()
    with slots:
        threads = [_start(slots, "check", log, "check-a", go)]
        _wait_in_line(slots, 1)
        threads += [_start(slots, "check", log, f"check-{x}", go) for x in "bc"]
        time.sleep(0.2)  # they wait for the check cap, outside the line
        assert slots.waiting() == 1
        for n, x in enumerate("de", start=2):
            threads.append(_start(slots, "answer", log, f"answer-{x}", go))
            _wait_in_line(slots, n)
    go.set()
    for th in threads:
        th.join(10)
    assert log[:3] == ["check-a", "answer-d", "answer-e"]
    assert sorted(log[3:]) == ["check-b", "check-c"]


def test_answers_keep_half_the_slots() -> None:
    slots = Slots(4)
    assert slots.check_cap == 2
    held = [slots.hold("check") for _ in range(2)]
    for h in held:
        h.__enter__()
    got = threading.Event()

    def third_check() -> None:
        with slots.hold("check"):
            got.set()

    threading.Thread(target=third_check, daemon=True).start()
    assert not got.wait(0.3), "a third check took a slot with a cap of two"
    with slots, slots:  # the two other slots are free for answers
        pass
    held[0].__exit__(None, None, None)
    assert got.wait(5)
    held[1].__exit__(None, None, None)


def test_one_slot_is_shared_by_answers_and_checks() -> None:
    slots = Slots(1)
    assert slots.check_cap == 1
    log: list[str] = []
    go = threading.Event()
    go.set()
    with slots:
        th = _start(slots, "check", log, "check", go)
        _wait_in_line(slots, 1)
        time.sleep(0.2)
        assert log == [], "a check ran while the only slot was held by an answer"
    th.join(10)
    assert log == ["check"]
