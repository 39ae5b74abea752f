"""The labelling HTTP API: commands and queries, roles enforced, errors mapped (errors.py)."""

from fastapi import APIRouter

from . import candidatures, cites, opendata, waves

__all__ = ["router"]

router = APIRouter()
for _module in (waves, candidatures, cites, opendata):
    router.include_router(_module.router)
