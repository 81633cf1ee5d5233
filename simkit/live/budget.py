"""The hard budget cap: reserve each attempt's worst case before sending, settle at the end.

Amounts are kept in integer nano-dollars (reservations and charges rounded *up*), so the cap
check ``spent + reserved + amount <= cap`` is exact: no float drift can let a request through
that would overspend. The cap holds under any concurrency because, on one event loop, a
reservation is checked and taken in one step, with no ``await`` in between.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass, field

__all__ = ["Budget", "nano_usd"]


def nano_usd(usd: float) -> int:
    """US dollars as integer nano-dollars, rounded up (a charge is never under-counted)."""
    if not math.isfinite(usd) or usd < 0:
        raise ValueError(f"an amount must be a finite number >= 0, got {usd!r}")
    return math.ceil(round(usd * 1e9, 6))


@dataclass
class Budget:
    """Spend so far and money reserved by attempts in flight, against a hard cap.

    Parameters
    ----------
    cap_usd : float
        The most the recording may spend.
    spent_usd : float
        Spend already recorded (a resumed run starts from it).
    """

    cap_usd: float
    spent_usd: float = 0.0
    _cap: int = field(init=False, repr=False)
    _spent: int = field(init=False, repr=False)
    _reserved: int = field(init=False, default=0, repr=False)
    _in_flight: int = field(init=False, default=0, repr=False)
    _changed: asyncio.Event | None = field(init=False, default=None, repr=False)

    def __post_init__(self) -> None:
        self._cap = nano_usd(self.cap_usd)
        self._spent = nano_usd(self.spent_usd)

    @property
    def reserved_usd(self) -> float:
        """Money held by attempts in flight."""
        return self._reserved / 1e9

    @property
    def charged_usd(self) -> float:
        """Spend as the cap sees it (rounded up to nano-dollars)."""
        return self._spent / 1e9

    @property
    def left_usd(self) -> float:
        """What may still be reserved."""
        return (self._cap - self._spent - self._reserved) / 1e9

    @property
    def in_flight(self) -> int:
        """Attempts holding a reservation."""
        return self._in_flight

    def fits(self, amount_usd: float) -> bool:
        """Whether a reservation of ``amount_usd`` could ever be taken, even with nothing in flight."""
        return self._spent + nano_usd(amount_usd) <= self._cap

    def try_reserve(self, amount_usd: float) -> int | None:
        """Take a reservation now if it fits under the cap; return its handle (nano-dollars)."""
        amount = nano_usd(amount_usd)
        if self._spent + self._reserved + amount > self._cap:
            return None
        self._reserved += amount
        self._in_flight += 1
        return amount

    async def reserve(self, amount_usd: float) -> int | None:
        """Wait until ``amount_usd`` fits, then reserve it; None when it never can.

        It never can when it does not fit with nothing else in flight: spend only grows.
        """
        while True:
            held = self.try_reserve(amount_usd)
            if held is not None:
                return held
            if self._in_flight == 0 or not self.fits(amount_usd):
                return None
            if self._changed is None:
                self._changed = asyncio.Event()
            self._changed.clear()
            await self._changed.wait()

    def settle(self, held: int, actual_usd: float) -> None:
        """Release a reservation and charge what the attempt actually cost.

        An actual cost above the reservation (a server counting more prompt tokens than the
        reserved ``prompt_token_factor`` allows) is charged in full; the recorder flags it.
        """
        self._reserved -= held
        self._in_flight -= 1
        self._spent += nano_usd(actual_usd)
        self.spent_usd += actual_usd
        if self._changed is not None:
            self._changed.set()

    def overspent(self) -> bool:
        """Whether the charges exceed the cap (only possible when a server overran a reservation)."""
        return self._spent > self._cap
