"""The labelling HTTP API: commands and queries, each route naming the roles it allows
(the runtime's edge answers domain errors and validation errors, ``cites_runtime.http``)."""

from fastapi import APIRouter

from . import candidatures, cites, imports, reviews, waves

__all__ = ["router"]

router = APIRouter()
for _module in (waves, candidatures, cites, imports, reviews):
    router.include_router(_module.router)
