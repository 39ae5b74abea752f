"""The funding HTTP API: commands and queries, each route naming the roles it allows
(the runtime's edge answers domain errors and validation errors, ``cites_runtime.http``)."""

from fastapi import APIRouter

from . import cites, cofinancing, commitments, credits, envelopes, fonds, imports, reports

__all__ = ["router"]

router = APIRouter()
for _module in (credits, envelopes, cites, cofinancing, fonds, commitments, reports,
                imports):
    router.include_router(_module.router)
router.include_router(commitments.recoveries)
