"""The server's answer slots: ``server.concurrency`` answers or dose checks at once, shared by
both, handed out in arrival order.

    slots = Slots(total=2)
    with slots:                  # an answer (the API's or the chat's)
        ...
    with slots.hold("check"):    # a dose check (/api/check)
        ...

A dose check of a long answer costs ten times an answer or more (the guard's time grows with
the square of the doses), so dose checks may hold at most ``check_cap`` slots *or places in
the line* at once (default: half the slots, at least one). A stream of large checks then
delays each waiting answer by at most one check per round instead of queueing a check per
client ahead of it, and every check still gets its turn: a check that reaches the line is
served in arrival order like an answer, never starved by later answers.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Literal

Kind = Literal["answer", "check"]


class Slots:
    """A first-come, first-served semaphore with a cap on the slots dose checks take."""

    def __init__(self, total: int, check_cap: int | None = None) -> None:
        if total < 1:
            raise ValueError("total must be at least 1")
        self.total = total
        self.check_cap = max(1, min(total, check_cap if check_cap else total // 2))
        self._cond = threading.Condition()
        self._free = total
        self._line: deque[object] = deque()
        self._checks = 0  # checks holding a slot or a place in the line

    @contextmanager
    def hold(self, kind: Kind) -> Iterator[None]:
        self._acquire(kind)
        try:
            yield
        finally:
            self._release(kind)

    def __enter__(self) -> None:
        self._acquire("answer")

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._release("answer")

    def waiting(self) -> int:
        with self._cond:
            return len(self._line)

    def _acquire(self, kind: Kind) -> None:
        me = object()
        with self._cond:
            if kind == "check":
                while self._checks >= self.check_cap:
                    self._cond.wait()
                self._checks += 1
            self._line.append(me)
            try:
                while self._line[0] is not me or self._free == 0:
                    self._cond.wait()
            except BaseException:  # never leave a place in the line that nobody takes
                self._line.remove(me)
                if kind == "check":
                    self._checks -= 1
                self._cond.notify_all()
                raise
            self._line.popleft()
            self._free -= 1
            self._cond.notify_all()  # the next in line may find a slot free too

    def _release(self, kind: Kind) -> None:
        with self._cond:
            self._free += 1
            if kind == "check":
                self._checks -= 1
            self._cond.notify_all()
