"""The HTTP edge every service shares: who calls and why, roles, paging, errors → answers.

A route names who may call it with a role alias and gets a :class:`Caller`: the acting
:class:`~cites_runtime.actor.Actor`, the request's :class:`~cites_runtime.uow.Cause` and
the runtime. A command opens its unit of work from it, so the events it causes carry the
caller's correlation id and trace without any parameter threaded by hand::

    @router.post("/cites/{cite_id}/suspension")
    async def suspend(cite_id: CiteId, body: MotiveIn, caller: National) -> CiteView:
        async with caller.unit_of_work() as uow:
            label = await service.suspend_label(uow, cite_id, body.motive, caller.actor)
        return CiteView.of(label)

:func:`install` (called by the app factory) answers domain errors
(:mod:`cites_runtime.errors`) and validation errors the same way in every service, and
before any route (or authentication) sees a request refuses a body larger than
``http_max_body_bytes`` (413, read no further), JSON nested deeper than
:data:`MAX_JSON_DEPTH` (422) and text PostgreSQL cannot store (422).

=====================  ===================================================================
module                 what it holds
=====================  ===================================================================
:mod:`.caller`         the request edge: ``Caller``, ``cause_of``, the role aliases
                       (``National``, ``Prefecture``, ``Preparer``,
                       ``RectoratOrCommune``, ``Operator``, ``OperatorOrPartner``,
                       ``Reader``, ``Anyone``), ``Input``
:mod:`.paging`         ``Paging``, ``PageRequest``, ``Page``: keyset cursors
:mod:`.guards`         ``GuardBodies``: body size, JSON depth, unstorable text in the URL
                       or the body, refused before routing and authentication
:mod:`.observe`        ``ObserveRequests``: correlation id in logs and answers, metrics
:mod:`.answers`        errors → answers (domain errors, validation, the database away,
                       a lost race); ``install``
=====================  ===================================================================
"""

from .answers import install
from .caller import (
    CORRELATION_NAMESPACE,
    Anyone,
    Caller,
    Input,
    National,
    Operator,
    OperatorOrPartner,
    Prefecture,
    Preparer,
    Reader,
    RectoratOrCommune,
    caller,
    cause_of,
)
from .guards import MAX_JSON_DEPTH, GuardBodies
from .observe import ObserveRequests
from .paging import Page, PageRequest, Paging

__all__ = [
    "CORRELATION_NAMESPACE",
    "MAX_JSON_DEPTH",
    "Anyone",
    "Caller",
    "GuardBodies",
    "Input",
    "National",
    "ObserveRequests",
    "Operator",
    "OperatorOrPartner",
    "Page",
    "PageRequest",
    "Paging",
    "Prefecture",
    "Preparer",
    "Reader",
    "RectoratOrCommune",
    "caller",
    "cause_of",
    "install",
]
