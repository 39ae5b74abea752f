"""The notifications HTTP API: the delivery log (who was told of what, by reference) and
resending a failed mail; the rules table; webhook subscriptions and their deliveries. Each
route names the roles it allows (the runtime's edge answers domain and validation errors,
``cites_runtime.http``)."""

from fastapi import APIRouter

from . import log, subscriptions

__all__ = ["router"]

router = APIRouter()
for _module in (log, subscriptions):
    router.include_router(_module.router)
