"""An eligible candidature, as a préfecture files it: the OpenAPI example of
``POST /candidatures``, and the starting point of tests, end-to-end runs and benchmarks
(change one thing from it); and ``territory_labelled(i)``, the i-th of as many distinct
plausible labels as a test or a benchmark needs."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

from cites_contracts.events.labelling import TerritoryLabelled

__all__ = ["CRITERIA_2024_SCORES", "eligible_candidature", "territory_labelled"]

CRITERIA_2024_SCORES = {c: {"score": 4, "comment": ""} for c in (
    "perimeter", "diagnostic", "objectives", "governance", "steering", "action_plan",
    "means", "identity", "quality_approach")}
"""A review body scoring every criterion of the 2024 grid (``PUT .../review``)."""


def eligible_candidature(*, wave_id: str = "2024-generalisation", departement: str = "69",
                         **overrides: Any) -> dict[str, Any]:
    """The JSON of a candidature of the Rhône eligible under every rule set (2019, 2021,
    2024); ``overrides`` replace top-level fields."""
    body: dict[str, Any] = {
        "wave_id": wave_id,
        "departement": departement,
        "territory_name": "Vaulx-en-Velin",
        "communes": [{"insee_code": "69256", "name": "Vaulx-en-Velin"}],
        "qpvs": [{"code": "QN06901M", "name": "Grande Île", "population": 5200}],
        "schools": [
            {"uai": "0691234A", "kind": "college", "name": "Collège Aimé Césaire",
             "education_priority": "rep_plus"},
            {"uai": "0695678B", "kind": "ecole", "name": "École Jean Vilar",
             "education_priority": "rep"}],
        "lead_college_uai": "0691234A",
        "troika": [{"role": "prefet", "email": "prefet@rhone.gouv.fr"},
                   {"role": "recteur", "email": "recteur@ac-lyon.fr"},
                   {"role": "maire", "email": "cabinet@mairie-vaulxenvelin.fr"}],
        "npnru_project": "national",
        "reconquest_zone": True,
        "diagnostic": "Un quart des jeunes de 16 à 25 ans sans diplôme ni emploi.",
        "objectives": {"school_role": "Conforter le rôle de l'école",
                       "educational_continuity": "Continuité éducative de 0 à 25 ans",
                       "opportunities": "Ouvrir le champ des possibles"},
        "governance": "Troïka, comité de pilotage trimestriel, chef de projet opérationnel.",
        "action_plan": "Petits déjeuners, cordées de la réussite, accueil des parents.",
        "requested_annual_contribution": 25_000_000,
    }
    body.update(overrides)
    return body


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
        "perimeter": {"communes": communes, "qpv_list": "2024", "qpvs": qpvs,
                      "schools": schools},
        "lead_college_uai": schools[0]["uai"],
        "label_period": {"start": date(2025, 1, 1), "end": date(2027, 12, 31)},
        "decided_by": "national_coordination",
        "labelled_at": datetime.now(UTC),
    }
    return TerritoryLabelled.model_validate(data)


def _cite_id(i: int) -> Any:
    field = TerritoryLabelled.model_fields["cite_id"]
    return str(uuid.UUID(int=i + 1)) if field.annotation is uuid.UUID else f"cite-{i + 1:03d}"
