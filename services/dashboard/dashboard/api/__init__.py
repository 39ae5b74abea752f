"""The dashboard's HTTP API: the page (``/`` and its static files, which hold no data),
the summary it shows (``/api/summary``, for readers: national coordination, préfectures,
viewers) and the open data (``/opendata/…``, for anyone, without a token)."""

from fastapi import APIRouter

from . import opendata, page, summary

__all__ = ["router"]

router = APIRouter()
for _module in (page, summary, opendata):
    router.include_router(_module.router)
