"""Public event contracts of the Cités éducatives platform.

``import cites_contracts`` registers every event: ``registry`` is then complete.
Value types live in :mod:`cites_contracts.types`, topics in :mod:`cites_contracts.topics`,
events by producer in :mod:`cites_contracts.events`.
"""

from . import events
from .codec import (
    DecodeError,
    EncodedRecord,
    InvalidEnvelope,
    InvalidPayload,
    MalformedRecord,
    UnknownEvent,
    decode,
    encode,
    headers_dict,
)
from .envelope import Envelope, Event, EventSpec, Topic, Upcaster, event, registry, upcasts
from .events import *  # noqa: F403 - the catalogue is the package's public API
from .topics import ALL_TOPICS, dlq_topic
from .types import (
    Cents,
    ContractModel,
    Departement,
    Email,
    InseeCode,
    LabelPeriod,
    QpvCode,
    Siren,
    Siret,
    Uai,
    UtcDateTime,
)

__all__ = [
    "ALL_TOPICS",
    "Cents",
    "ContractModel",
    "DecodeError",
    "Departement",
    "Email",
    "EncodedRecord",
    "Envelope",
    "Event",
    "EventSpec",
    "InseeCode",
    "InvalidEnvelope",
    "InvalidPayload",
    "LabelPeriod",
    "MalformedRecord",
    "QpvCode",
    "Siren",
    "Siret",
    "Topic",
    "Uai",
    "UnknownEvent",
    "Upcaster",
    "UtcDateTime",
    "decode",
    "dlq_topic",
    "encode",
    "event",
    "events",
    "headers_dict",
    "registry",
    "upcasts",
    *events.__all__,
]
