"""AsyncAPI document of a service: the public description of what it publishes and
consumes, for outside consumers — its part of the platform document
(:func:`cites_contracts.asyncapi.service_document`): one message per event type and
version, with envelope, headers, key and example; its topics with their configuration."""

from __future__ import annotations

from typing import Any

from cites_contracts.asyncapi import service_document

from .app import ServiceDefinition
from .settings import ServiceSettings

__all__ = ["asyncapi_document"]


def asyncapi_document(definition: ServiceDefinition, settings: ServiceSettings) -> Any:
    """The AsyncAPI 3.0 document (JSON-ready) of ``definition``, as configured."""
    consumer = definition.consumer
    return service_document(
        definition.name,
        title=f"{definition.title or definition.name} events",
        version=definition.version,
        produces=list(definition.produces),
        consumes=sorted((model.spec for model in consumer.handlers),
                        key=lambda s: (s.type, s.version)) if consumer else [],
        prefix=settings.topic_prefix,
        bootstrap=settings.kafka_bootstrap_servers,
        tombstones=sorted(consumer.tombstone_handlers, key=lambda t: t.name)
        if consumer else (),
    )
