"""Realistic events for the benchmarks: catalogue events with plausible sizes."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

from cites_contracts.events.labelling import TerritoryLabelled


def territory_labelled(i: int) -> TerritoryLabelled:
    """A cité with 2 communes, 3 QPVs and 12 schools (~1.5 KB of JSON)."""
    dep = f"{(i % 95) + 1:02d}" if (i % 95) + 1 != 20 else "21"
    communes = [{"insee_code": f"{dep}{(i + k) % 900 + 100:03d}", "name": f"Commune {i}-{k}"}
                for k in range(2)]
    qpvs = [{"code": f"QN0{dep}{k:02d}M", "name": f"Quartier {i}-{k}", "population": 4200 + k}
            for k in range(3)]
    schools = [{"uai": f"{dep}{(i * 12 + k) % 100000:05d}A", "kind": "college" if k == 0 else
                "ecole", "name": f"École {i}-{k}", "education_priority": "rep_plus"}
               for k in range(12)]
    data: dict[str, Any] = {
        "cite_id": _cite_id(i),
        "candidature_id": str(uuid.uuid4()),
        "name": f"Cité éducative {i}",
        "wave": {"id": "2024-rolling", "year": 2024},
        "departement": dep,
        "perimeter": {"communes": communes, "qpvs": qpvs, "schools": schools},
        "lead_college_uai": schools[0]["uai"],
        "label_period": {"start": date(2025, 1, 1), "end": date(2027, 12, 31)},
        "decided_by": "national_coordination",
        "labelled_at": datetime.now(UTC),
    }
    return TerritoryLabelled.model_validate(data)


def _cite_id(i: int) -> Any:
    field = TerritoryLabelled.model_fields["cite_id"]
    return str(uuid.UUID(int=i + 1)) if field.annotation is uuid.UUID else f"cite-{i + 1:03d}"
