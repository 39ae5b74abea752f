"""The scheduled expiry check, run by every replica (``ServiceDefinition.background``).

Replicas need no leader: :func:`labelling.service.expire_due_labels` locks each due label
and re-checks it, so two replicas checking at once still expire a label exactly once.
"""

from __future__ import annotations

import asyncio

from cites_runtime.app import Runtime
from cites_runtime.logs import get_logger

from .service import expire_due_labels, settings_of

__all__ = ["expiry_check"]

log = get_logger(__name__)
RETRY_AFTER_FAILURE_S = 30.0


async def expiry_check(runtime: Runtime) -> None:
    """Expire due labels at start, then every ``expiry_check_interval_s``, until cancelled."""
    interval = settings_of(runtime).expiry_check_interval_s
    while True:
        try:
            expired = await expire_due_labels(runtime)
            if expired:
                log.info("labels expired", cites=expired)
            delay = interval
        except Exception as exc:  # database away: try again soon; the check must not die
            log.warning("expiry check failed", error=repr(exc))
            delay = min(interval, RETRY_AFTER_FAILURE_S)
        await asyncio.sleep(delay)
