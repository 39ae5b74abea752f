"""HTTP API of the partners service: the registry (partners, contacts) and alliances."""

from fastapi import APIRouter

from . import alliances, registry

__all__ = ["router"]

router = APIRouter()
router.include_router(registry.router)
router.include_router(alliances.router)
