"""HTTP API of the partners service: the registry (partners, contacts), alliances and
their chefs de projet."""

from fastapi import APIRouter

from . import alliances, chef_de_projet, registry

__all__ = ["router"]

router = APIRouter()
router.include_router(registry.router)
router.include_router(alliances.router)
router.include_router(chef_de_projet.router)
