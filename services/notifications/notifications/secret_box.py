"""Webhook signing secrets at rest: sealed with Fernet (``cryptography``: AES-128-CBC and
HMAC-SHA256, authenticated) under ``webhook_secret_keys``, so the table holds no secret in
clear and a database dump signs nothing.

Rotation: keys are listed newest first; the first seals, any opens. After adding a key in
front, every replica re-seals what an older key sealed (and seals a secret still in clear,
from before this module) at start and then hourly: :func:`reseal_secrets`. Once that has
run everywhere, the old key can be removed."""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from cites_runtime.app import Runtime, periodic

from . import store
from .domain.webhooks import SECRET_PREFIX
from .settings import NotificationsSettings

__all__ = ["SecretBox", "box_of", "reseal_secrets", "secret_resealer"]

RESEAL_INTERVAL_S = 3600.0


class SecretBox:
    """Seals and opens signing secrets with the keys given, newest first."""

    def __init__(self, keys: list[str]):
        if not keys:
            raise ValueError("at least one key seals the webhook secrets")
        self._newest = Fernet(keys[0])
        self._any = MultiFernet([Fernet(k) for k in keys])

    def seal(self, secret: str) -> str:
        return self._any.encrypt(secret.encode()).decode()

    def open(self, sealed: str) -> str:
        """The secret; raises ``InvalidToken`` when no key opens it (a key removed too
        early). One still in clear (before the resealer's first round) is returned as is."""
        if sealed.startswith(SECRET_PREFIX):
            return sealed
        return self._any.decrypt(sealed.encode()).decode()

    def reseal(self, stored: str) -> str | None:
        """What to store instead of ``stored``: sealed under the newest key when it is in
        clear or sealed under an older key; None when it is already right."""
        if stored.startswith(SECRET_PREFIX):
            return self.seal(stored)
        try:
            self._newest.decrypt(stored.encode())
        except InvalidToken:
            return self._any.rotate(stored.encode()).decode()
        return None


def box_of(settings: NotificationsSettings) -> SecretBox:
    return SecretBox(settings.webhook_secret_key_list())


async def reseal_secrets(runtime: Runtime[NotificationsSettings]) -> int:
    """Seal under the newest key every secret in clear or under an older key; return how
    many were rewritten. Safe on every replica at once: a row is rewritten only if it still
    holds what was read."""
    box = box_of(runtime.settings)
    async with runtime.unit_of_work() as uow:
        stored = await store.stored_secrets(uow.conn)
        changed = 0
        for subscription_id, column, value in stored:
            if (new := box.reseal(value)) is not None:
                changed += await store.replace_secret(uow.conn, subscription_id, column,
                                                      value, new)
    return changed


secret_resealer = periodic("webhook secrets resealing", reseal_secrets,
                           lambda s: RESEAL_INTERVAL_S)
"""Reseals at start, then hourly (a key added, a replica of an older version)."""
