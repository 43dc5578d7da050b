"""Reconnect delays: exponential backoff with full jitter.

Full jitter (a uniform draw between 0 and the exponential ceiling) spreads thousands of
agents that lost the gateway at the same moment over the whole window, instead of
bringing them back in synchronized waves.
"""

from __future__ import annotations

import random


class Backoff:
    def __init__(self, base_seconds: float, max_seconds: float, rng: random.Random | None = None):
        self.base_seconds = base_seconds
        self.max_seconds = max_seconds
        self._rng = rng or random.Random()  # noqa: S311 (jitter, not cryptography)
        self.attempt = 0

    def ceiling(self) -> float:
        """The upper bound of the next delay: base·2^attempt, capped."""
        # Past 2^32 the cap has long been reached; the bound keeps the float finite.
        return min(self.max_seconds, self.base_seconds * 2 ** min(self.attempt, 32))

    def next_delay(self) -> float:
        delay = self._rng.uniform(0, self.ceiling())
        self.attempt += 1
        return delay

    def reset(self) -> None:
        self.attempt = 0
