"""The page: one HTML file, its script and style, and Chart.js (vendored, see
``static/VENDORED.md``). They hold no figure, so they are served to anyone: the script
asks ``/api/summary`` with the reader's access token as a bearer header.

How the page gets that token, ``/sign-in.json`` tells it: with ``auth_mode`` oidc the
page signs in at the identity provider itself — authorization code with PKCE (S256),
the code coming back in the address's fragment, so it never reaches a server log — and
keeps the tokens in the tab's session storage; in development and tests with static
tokens it asks for one in a form. A browser-side public client was chosen over a
server-side session because the dashboard's API already takes bearer tokens like every
service's, and it keeps the dashboard free of sessions, cookies and CSRF. No token ever
travels in an address. The strict Content-Security-Policy lets the script reach this
origin and the identity provider's only.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse

from cites_runtime.errors import NotFound
from cites_runtime.settings import ServiceSettings

from ..settings import DashboardSettings
from .views import SignInView

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

STATIC = Path(__file__).resolve().parent.parent / "static"
FILES = {"dashboard.js": "text/javascript", "dashboard.css": "text/css",
         "chart.umd.min.js": "text/javascript", "favicon.svg": "image/svg+xml"}
"""The static files served, by name: nothing else of the folder is reachable."""


def headers(settings: ServiceSettings) -> dict[str, str]:
    """The page's security headers; the script may connect to this origin and, signing
    in through a provider, to the provider's origin (discovery, token endpoint)."""
    connect = "'self'"
    if settings.auth_mode == "oidc" and settings.oidc_issuer:
        issuer = urlsplit(settings.oidc_issuer)
        connect += f" {issuer.scheme}://{issuer.netloc}"
    return {
        "Content-Security-Policy": f"default-src 'self'; connect-src {connect}; "
                                   "img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
                                   "frame-ancestors 'none'; form-action 'self'",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }


@router.get("/", response_class=FileResponse, response_model=None,
            summary="The page (no figure in it: it asks /api/summary)")
async def index(request: Request) -> FileResponse:
    return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8",
                        headers={**headers(request.app.state.settings),
                                 "Cache-Control": "no-cache"})


@router.get("/sign-in.json", response_model=SignInView,
            summary="How the page signs in: at the identity provider, or with a token")
async def sign_in(request: Request) -> JSONResponse:
    """``{"mode": "oidc", "issuer", "client_id"}`` (the page reads the provider's endpoints
    from the issuer's discovery document), or ``{"mode": "static"}`` (a token typed in,
    development and tests)."""
    settings: DashboardSettings = request.app.state.settings
    found = SignInView(mode=settings.auth_mode)
    if settings.auth_mode == "oidc":
        found = SignInView(mode=settings.auth_mode, issuer=settings.oidc_issuer,
                           client_id=settings.oidc_client_id)
    return JSONResponse(found.model_dump(exclude_unset=True),
                        headers={**headers(settings), "Cache-Control": "no-cache"})


@router.get("/static/{name}", response_class=FileResponse, response_model=None,
            summary="One of the page's static files (script, style, Chart.js, icon)")
async def static(request: Request, name: str) -> FileResponse:
    if name not in FILES:
        raise NotFound.of("static file", name)
    return FileResponse(STATIC / name, media_type=FILES[name],
                        headers={**headers(request.app.state.settings),
                                 "Cache-Control": "public, max-age=300"})
