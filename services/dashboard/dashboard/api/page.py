"""The page: one HTML file, its script and style, and Chart.js (vendored, see
``static/VENDORED.md``). They hold no figure: the script asks ``/api/summary`` with the
reader's token (given once in the address, ``/#token=…``, kept in the tab's session
storage; never sent but as a bearer header), so they are served to anyone."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

from cites_runtime.errors import NotFound

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

STATIC = Path(__file__).resolve().parent.parent / "static"
FILES = {"dashboard.js": "text/javascript", "dashboard.css": "text/css",
         "chart.umd.min.js": "text/javascript", "favicon.svg": "image/svg+xml"}
"""The static files served, by name: nothing else of the folder is reachable."""
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
                               "style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


@router.get("/")
async def index() -> FileResponse:
    return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8",
                        headers={**HEADERS, "Cache-Control": "no-cache"})


@router.get("/static/{name}")
async def static(name: str) -> FileResponse:
    if name not in FILES:
        raise NotFound(f"no static file {name!r}")
    return FileResponse(STATIC / name, media_type=FILES[name],
                        headers={**HEADERS, "Cache-Control": "public, max-age=300"})
