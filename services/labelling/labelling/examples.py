"""An eligible candidature, as a préfecture files it: the OpenAPI example of
``POST /candidatures``, and the starting point of tests, end-to-end runs and benchmarks
(change one thing from it)."""

from __future__ import annotations

from typing import Any

__all__ = ["CRITERIA_2024_SCORES", "eligible_candidature"]

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
