"""How often a failed attempt (a mail, a webhook delivery) is tried again, and when."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

__all__ = ["Retries"]


@dataclass(frozen=True, slots=True)
class Retries:
    """Exponential backoff: ``base_s`` after the first attempt, doubling, at most ``max_s``
    (or what the receiver asked, if later); ``max_attempts`` attempts in all."""

    base_s: float
    max_s: float
    max_attempts: int

    def delay(self, attempts: int, asked_s: float | None = None) -> timedelta:
        """How long to wait after the ``attempts``-th attempt."""
        wait = self.base_s * 2 ** (attempts - 1)
        return timedelta(seconds=min(self.max_s, max(wait, asked_s or 0.0)))

    def exhausted(self, attempts: int) -> bool:
        return attempts >= self.max_attempts
