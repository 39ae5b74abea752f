"""What partners' routes take from a request besides its body: the path parameters they
share. Everything else of the HTTP edge — who calls (role aliases), paging, domain errors
as answers — is the runtime's (:mod:`cites_runtime.http`)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import Path

from cites_contracts.types import CiteId

__all__ = ["CitePath", "ContactId", "PartnerId"]

PartnerId = Annotated[UUID, Path(description="The partner's id in the registry")]
ContactId = Annotated[UUID, Path(description="The contact's id")]
CitePath = Annotated[CiteId, Path(description="The cité's id, e.g. cite-001")]
