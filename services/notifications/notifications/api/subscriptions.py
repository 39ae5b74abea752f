"""Webhook subscriptions, managed by the national coordination: an outside system that
does not read Kafka gives a URL and the event types it wants, and gets each such event
POSTed to it, signed (Standard Webhooks: ``notifications.domain.webhooks``). The secret is
shown once, when the subscription is created or its secret rotated."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from fastapi import APIRouter, Response
from pydantic import Field

from cites_contracts.types import EventTypeName
from cites_runtime.errors import NotFound
from cites_runtime.http import Input, National, Page, Paging

from .. import service, store
from ..domain.webhooks import SUBSCRIBABLE, DeliveryStatus
from ..secret_box import box_of
from .views import DeliveryView, SecretView, SubscriptionCreatedView, SubscriptionView

__all__ = ["router"]

router = APIRouter(prefix="/webhooks", tags=["webhooks"])

Url = str  # checked by the domain (scheme, host, no credentials, private addresses)


class SubscriptionIn(Input):
    url: Url = Field(max_length=2000, examples=["https://si.partenaire.example/webhooks"])
    event_types: list[EventTypeName] = Field(
        min_length=1, max_length=len(SUBSCRIBABLE),
        description="Events to deliver, e.g. labelling.TerritoryLabelled: those of the rules "
        "table (GET /rules)")
    description: str = Field("", max_length=500)
    secret: str | None = Field(
        None, max_length=200, description="whsec_<base64 of a 24–64-byte key>; generated "
        "when not given")


class SubscriptionChangeIn(Input):
    url: Url | None = Field(None, max_length=2000)
    event_types: list[EventTypeName] | None = Field(None, min_length=1,
                                                    max_length=len(SUBSCRIBABLE))
    description: str | None = Field(None, max_length=500)
    active: bool | None = Field(None, description="false pauses deliveries (they wait); "
                                "true resumes them")


@router.post("", status_code=201, response_model=SubscriptionCreatedView,
             summary="Subscribe a URL to event types (national coordination)")
async def subscribe(body: SubscriptionIn, caller: National) -> SubscriptionCreatedView:
    async with caller.unit_of_work() as uow:
        created, secret = await service.subscribe(
            uow, body.url, list(body.event_types), body.description, body.secret,
            caller.runtime.settings.webhook_allow_private_hosts_for_tests,
            box_of(caller.runtime.settings))
    return SubscriptionCreatedView.created(created, secret)


@router.get("", response_model=Page[SubscriptionView], summary="The live subscriptions")
async def subscriptions(caller: National, paging: Paging) -> Page[SubscriptionView]:
    after = paging.after(datetime.fromisoformat, UUID)
    rows = await store.subscriptions(caller.pool, (after[0], after[1]) if after else None,
                                     paging.fetch)
    return paging.page([SubscriptionView.of(s) for s in rows],
                       lambda s: (s.created_at, s.subscription_id))


async def _live(caller: National, subscription_id: UUID) -> store.Subscription:
    found = await store.get_subscription(caller.pool, subscription_id)
    if found is None or found.deleted_at is not None:
        raise NotFound.of("webhook subscription", subscription_id)
    return found


@router.get("/{subscription_id}", response_model=SubscriptionView,
            summary="One subscription (without its secret)")
async def subscription(subscription_id: UUID, caller: National) -> SubscriptionView:
    return SubscriptionView.of(await _live(caller, subscription_id))


@router.patch("/{subscription_id}", response_model=SubscriptionView,
              summary="Change its URL, event types or description; pause or resume it")
async def update(subscription_id: UUID, body: SubscriptionChangeIn, caller: National
                 ) -> SubscriptionView:
    async with caller.unit_of_work() as uow:
        changed = await service.update_subscription(
            uow, subscription_id, url=body.url,
            event_types=list(body.event_types) if body.event_types is not None else None,
            description=body.description, active=body.active,
            allow_private_for_tests=(
                caller.runtime.settings.webhook_allow_private_hosts_for_tests))
    return SubscriptionView.of(changed)


@router.post("/{subscription_id}/rotate-secret", response_model=SecretView,
             summary="A new secret; the previous one still signs for a while")
async def rotate(subscription_id: UUID, caller: National) -> SecretView:
    overlap = caller.runtime.settings.webhook_secret_overlap_s
    async with caller.unit_of_work() as uow:
        secret = await service.rotate_secret(uow, subscription_id, overlap,
                                             box_of(caller.runtime.settings))
    found = await _live(caller, subscription_id)
    assert found.previous_expires_at is not None
    return SecretView(secret=secret, previous_secret_until=found.previous_expires_at)


@router.delete("/{subscription_id}", status_code=204, response_model=None,
               summary="Deliver nothing more to it (deliveries still waiting are failed; "
               "its log is kept)")
async def delete(subscription_id: UUID, caller: National) -> Response:
    async with caller.unit_of_work() as uow:
        await service.delete_subscription(uow, subscription_id)
    return Response(status_code=204)


@router.get("/{subscription_id}/deliveries", response_model=Page[DeliveryView],
            summary="The subscription's delivery log")
async def deliveries(subscription_id: UUID, caller: National, paging: Paging,
                     status: DeliveryStatus | None = None) -> Page[DeliveryView]:
    found = await store.get_subscription(caller.pool, subscription_id)
    if found is None:
        raise NotFound.of("webhook subscription", subscription_id)
    after = paging.after(datetime.fromisoformat, UUID)
    rows = await store.deliveries(caller.pool, subscription_id,
                                  (after[0], after[1]) if after else None, paging.fetch,
                                  status)
    return paging.page([DeliveryView.of(r) for r in rows],
                       lambda d: (d.created_at, d.delivery_id))


@router.post("/deliveries/{delivery_id}/resend", status_code=202,
             response_model=DeliveryView,
             summary="Deliver a failed delivery again (same webhook-id, same body)")
async def resend(delivery_id: UUID, caller: National) -> DeliveryView:
    async with caller.unit_of_work() as uow:
        await service.resend_delivery(uow, delivery_id)
        row = await store.get_delivery(uow.conn, delivery_id)
    assert row is not None
    return DeliveryView.of(row)
