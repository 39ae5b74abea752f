"""Domain refusals → HTTP: 404 unknown id, 403 not yours, 409 wrong state, 422 rule broken.

Routers use :class:`DomainRoute`, so a route only calls the use case: any DomainError it
raises becomes the matching response. A 422 has FastAPI's shape (``detail`` is a list of
``loc``/``type``/``msg``): ``loc`` names the field, ``type`` the rule, ``msg`` says what
is wrong and what the rule requires.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from ..domain import DomainError, Forbidden, Ineligible, NotFound, RuleBroken

__all__ = ["DomainRoute", "error_response", "validation_response"]


def validation_response(exc: RequestValidationError) -> JSONResponse:
    # Lone surrogates, which would make the echoed input unrenderable, are refused before
    # validation by the runtime (RejectUnstorableText).
    return JSONResponse({"detail": jsonable_encoder(exc.errors())}, status_code=422)


def error_response(exc: DomainError) -> JSONResponse:
    if isinstance(exc, RuleBroken):
        where = "dossier" if isinstance(exc, Ineligible) else "body"
        body: dict[str, Any] = {"detail": [
            {"loc": [where, f.field], "type": f.rule, "msg": f.message} for f in exc.failures]}
        if isinstance(exc, Ineligible):
            body["rule_set"] = exc.rule_set
            body["message"] = exc.message
        return JSONResponse(body, status_code=422)
    status = (404 if isinstance(exc, NotFound) else 403 if isinstance(exc, Forbidden)
              else 409)  # Conflict, and any other refusal of the current state
    return JSONResponse({"detail": exc.message}, status_code=status)


class DomainRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except DomainError as exc:
                return error_response(exc)
            except RequestValidationError as exc:
                return validation_response(exc)

        return route
