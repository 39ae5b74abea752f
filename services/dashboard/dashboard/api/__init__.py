"""The dashboard's HTTP API: the page (``/`` and its static files, which hold no data) and
the summary it shows (``/api/summary``, for readers: national coordination, préfectures,
viewers)."""

from fastapi import APIRouter

from . import page, summary

__all__ = ["router"]

router = APIRouter()
for _module in (page, summary):
    router.include_router(_module.router)
