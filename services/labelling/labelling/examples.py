"""An eligible candidature, as a préfecture files it: the OpenAPI example of
``POST /candidatures``, and the starting point of tests, end-to-end runs and benchmarks
(change one thing from it); and ``territory_labelled(i)``, the i-th of as many distinct
plausible labels as a test or a benchmark needs."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

from cites_contracts.events.labelling import TerritoryLabelled

__all__ = ["CRITERIA_2024_SCORES", "eligible_candidature", "programme_history",
           "territory_labelled"]

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


def _past_cite(reference: str, wave_id: str, departement: str, territory: str,
               commune: tuple[str, str], qpvs: list[tuple[str, int, str]], college: str,
               troika: list[tuple[str, str]], filed_on: str, decided_on: str,
               convention_signed_on: str | None, renewals: list[dict[str, Any]]
               ) -> dict[str, Any]:
    return {
        "reference": reference, "wave_id": wave_id, "departement": departement,
        "dossier": {
            "territory_name": territory,
            "communes": [{"insee_code": commune[0], "name": commune[1]}],
            "qpvs": [{"code": c, "population": p, "name": n} for c, p, n in qpvs],
            "schools": [{"uai": college, "kind": "college", "education_priority": "rep_plus",
                         "name": f"Collège de {territory}"}],
            "lead_college_uai": college,
            "troika": [{"role": r, "email": e} for r, e in troika],
        },
        "filed_on": filed_on, "decided_on": decided_on,
        "convention_signed_on": convention_signed_on, "renewals": renewals,
    }


def _on_the_2024_list(territory: str, commune: tuple[str, str], qpv: tuple[str, int, str],
                      college: str) -> dict[str, Any]:
    """A perimeter moved to the 2024 QPV list at a renewal (its QPV's new code)."""
    return {"communes": [{"insee_code": commune[0], "name": commune[1]}], "qpv_list": "2024",
            "qpvs": [{"code": qpv[0], "population": qpv[1], "name": qpv[2]}],
            "schools": [{"uai": college, "kind": "college", "education_priority": "rep_plus",
                         "name": f"Collège de {territory}"}]}


def programme_history() -> list[dict[str, Any]]:
    """A small history shaped like the programme's (``docs/import.md``'s example): two cités
    of the 2019 wave on the 2015 QPV list (one renewed in 2023 and 2026, one ended with
    2022), a cité of La Réunion from the 2021 wave renewed in 2024, and a 2022 cité that
    re-applied at the end of 2024 and was renewed on 21 March 2025 for 2025–2027, its
    perimeter moved to the 2024 QPV list."""
    return [
        _past_cite("CE-2019-093-01", "2019", "93", "Clichy-sous-Bois",
                   ("93014", "Clichy-sous-Bois"),
                   [("QP093005", 9200, "Le Haut Clichy"), ("QP093006", 3100, "Le Bas Clichy")],
                   "0931234A", [("prefet", "prefet@seine-saint-denis.gouv.fr"),
                                ("recteur", "recteur@ac-creteil.fr"),
                                ("maire", "cabinet@clichy-sous-bois.fr")],
                   "2019-06-20", "2019-09-05", "2020-02-10", [
                       {"filed_on": "2022-11-15", "decided_on": "2023-01-16",
                        "convention_signed_on": "2023-04-03"},
                       {"filed_on": "2025-10-15", "decided_on": "2026-02-02"}]),
        _past_cite("CE-2019-013-01", "2019", "13", "Marseille Nord", ("13215", "Marseille"),
                   [("QP013041", 12400, "Les Aygalades")], "0131234B",
                   [("prefet", "prefet@bouches-du-rhone.gouv.fr"),
                    ("recteur", "recteur@ac-aix-marseille.fr"),
                    ("maire", "cabinet@marseille.fr")],
                   "2019-06-28", "2019-09-05", "2020-03-02", []),
        _past_cite("CE-2021-974-01", "2021", "974", "Saint-Denis (La Réunion)",
                   ("97411", "Saint-Denis"), [("QP974005", 6100, "Le Chaudron")], "9741234C",
                   [("prefet", "prefet@reunion.gouv.fr"), ("recteur", "recteur@ac-reunion.fr"),
                    ("maire", "cabinet@saintdenis.re")],
                   "2020-11-20", "2021-01-29", "2021-05-17", [
                       {"filed_on": "2023-10-02", "decided_on": "2024-01-22"}]),
        _past_cite("CE-2022-069-01", "2022", "69", "Vaulx-en-Velin", ("69256", "Vaulx-en-Velin"),
                   [("QP069033", 5600, "Grande Île")], "0691234A",
                   [("prefet", "prefet@rhone.gouv.fr"), ("recteur", "recteur@ac-lyon.fr"),
                    ("maire", "cabinet@mairie-vaulxenvelin.fr")],
                   "2021-09-28", "2022-01-20", "2022-04-11", [
                       {"filed_on": "2024-11-15", "decided_on": "2025-03-21",
                        "convention_signed_on": "2025-06-12",
                        "perimeter": _on_the_2024_list("Vaulx-en-Velin",
                                                       ("69256", "Vaulx-en-Velin"),
                                                       ("QN06933A", 5900, "Grande Île"),
                                                       "0691234A")}]),
    ]
