"""The simulated programme, generated from a seed: waves, territories, their perimeters,
troïkas, schools and partners, what each cité commits and pays, and the life events of the
first wave (suspensions, a reinstatement, a withdrawal, a perimeter extension).

Everything is drawn from one ``random.Random(seed)``, so a seed gives the same programme
(:func:`generate`); ``salt`` changes the partners' identifiers between runs on one
platform, and ``taken`` lists the QPV codes and UAIs the platform already holds, which the
generator skips (a QPV belongs to one cité at a time, a collège leads one)."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date, timedelta

from cites_contracts.types import DEPARTEMENTS, departement_of

from .codes import qpv_code, qpv_code_2015, siret, uai
from .communes import COMMUNES

__all__ = ["CRITERIA_2024", "ENDED_EVERY", "REVIEW_CRITERIA", "WAVES", "Operator", "Programme",
           "School", "Step", "Territory", "WaveSpec", "generate"]


REVIEW_CRITERIA = ("diagnostic_quality", "steering_strength", "indicator_precision")
"""The 2019 review grid, which the three waves used."""

CRITERIA_2024 = ("perimeter", "diagnostic", "objectives", "governance", "steering",
                 "action_plan", "means", "identity", "quality_approach")
"""The généralisation's grid (9 criteria)."""


@dataclass(frozen=True, slots=True)
class Step:
    """A renewal in the programme's history: when the cités re-applied, and the decision
    (None: waiting for it today — a pending re-application keeps a label alive)."""

    filed_on: date
    decided_on: date | None


@dataclass(frozen=True, slots=True)
class WaveSpec:
    """A wave of the programme: its label, year, rule set, how many cités it labelled; a
    wave of the past (``decided_on`` given) is imported with its real dates, the
    généralisation is played live, today."""

    label: str
    year: int
    title: str
    rule_set: str
    target: int
    decided_on: date | None = None
    filing: tuple[date, date] | None = None
    renewals: tuple[Step, ...] = ()
    qpv_list: str = "2024"
    criteria: tuple[str, ...] = REVIEW_CRITERIA

    @property
    def imported(self) -> bool:
        return self.decided_on is not None


WAVES: dict[str, WaveSpec] = {w.label: w for w in (
    WaveSpec("2019", 2019, "Vague 2019 (préfiguration)", "2019-v1", 80,
             decided_on=date(2019, 9, 5), filing=(date(2019, 2, 1), date(2019, 6, 30)),
             renewals=(Step(date(2022, 11, 15), date(2023, 1, 16)),
                       Step(date(2025, 10, 15), None)), qpv_list="2015"),
    WaveSpec("2021", 2021, "Vague 2021", "2021-v1", 46,
             decided_on=date(2021, 1, 29), filing=(date(2020, 9, 1), date(2020, 11, 30)),
             renewals=(Step(date(2023, 10, 2), date(2024, 1, 22)),), qpv_list="2015"),
    WaveSpec("2022", 2022, "Vague 2022", "2021-v1", 74,
             decided_on=date(2022, 1, 20), filing=(date(2021, 6, 28), date(2021, 9, 30)),
             renewals=(Step(date(2024, 11, 15), date(2025, 3, 21)),), qpv_list="2015"),
    WaveSpec("2024", 2024, "Généralisation", "2024-v1", 40, criteria=CRITERIA_2024),
)}
"""Sept 2019: 80 cités (2020–2022); Jan 2021: +46 (2021–2023); Jan 2022: +74 (2022–2024,
the 2021 rules), renewed on 21 March 2025 for 2025–2027 after re-applying at the end of
2024 — on the 2015 QPV list, imported with these dates. Where the brief is silent the
history is plausible, not sourced: the 2019 cités re-applied at the end of 2022, were
renewed for 2023–2025 and re-applied again at the end of 2025 (pending today), the 2021
cités were renewed in January 2024 for 2024–2026, and one cité in ten of each wave did not
re-apply (its label expired). Then the généralisation, played live today (40 cités, as on
26 May 2025)."""

ENDED_EVERY = 10
"""One cité in this many of a past wave did not re-apply: its label expired."""


@dataclass(frozen=True, slots=True)
class School:
    uai: str
    kind: str
    name: str
    priority: str


@dataclass(frozen=True, slots=True)
class Operator:
    """An association running the cité's actions, with one consenting contact."""

    siret: str
    name: str
    commune: str
    contact_name: str
    contact_email: str
    commitments: tuple[tuple[str, int, int], ...]
    """(action title, share of the dotation committed, share of it paid) in basis points."""


@dataclass(frozen=True, slots=True)
class Territory:
    key: str
    """``<wave>-<n>``: the territory's name in the simulation."""
    wave: str
    departement: str
    name: str
    communes: tuple[tuple[str, str], ...]
    qpvs: tuple[tuple[str, str, int], ...]
    schools: tuple[School, ...]
    troika: tuple[tuple[str, str], ...]
    requested: int
    """Cents a year the candidature asks for (0: none)."""
    npnru: str
    lead_contact: tuple[str, str]
    operators: tuple[Operator, ...]
    renewed: bool = True
    """A cité of a past wave: whether it re-applied each time (else its label expired)."""
    filed_days_early: int = 0
    """A cité of a past wave: how many days before the call closed it filed."""

    @property
    def lead(self) -> School:
        return self.schools[0]

    def record(self, wave_id: str, reference: str) -> dict[str, object]:
        """Its record of the programme's past, as labelling's import reads it (its wave's
        dates: filed before the call closed, convention 2–4 months after each decision)."""
        spec = WAVES[self.wave]
        assert spec.decided_on is not None and spec.filing is not None
        later = timedelta(days=60 + self.filed_days_early * 3)
        dossier = {k: v for k, v in self.candidature(wave_id).items()
                   if k not in ("wave_id", "departement")}
        return {
            "reference": reference, "wave_id": wave_id, "departement": self.departement,
            "dossier": dossier,
            "filed_on": str(spec.filing[1] - timedelta(days=self.filed_days_early)),
            "decided_on": str(spec.decided_on),
            "convention_signed_on": str(spec.decided_on + later),
            "renewals": [] if not self.renewed else [
                {"filed_on": str(r.filed_on),
                 **({"decided_on": str(r.decided_on),
                     "convention_signed_on": str(r.decided_on + later)}
                    if r.decided_on else {})} for r in spec.renewals],
        }

    def candidature(self, wave_id: str) -> dict[str, object]:
        """The JSON a préfecture files."""
        return {
            "wave_id": wave_id, "departement": self.departement, "territory_name": self.name,
            "communes": [{"insee_code": c, "name": n} for c, n in self.communes],
            "qpvs": [{"code": c, "name": n, "population": p} for c, n, p in self.qpvs],
            "schools": [{"uai": s.uai, "kind": s.kind, "name": s.name,
                         "education_priority": s.priority} for s in self.schools],
            "lead_college_uai": self.lead.uai,
            "troika": [{"role": r, "email": e} for r, e in self.troika],
            "npnru_project": self.npnru, "reconquest_zone": True,
            "diagnostic": f"{self.name} : un tiers des moins de 25 ans sous le seuil de "
                          "pauvreté, décrochage scolaire au collège deux fois la moyenne.",
            "objectives": {"school_role": "Conforter le rôle de l'école",
                           "educational_continuity": "Continuité éducative de 0 à 25 ans",
                           "opportunities": "Ouvrir le champ des possibles"},
            "governance": "Troïka, comité de pilotage trimestriel, chef de projet "
                          "opérationnel recruté par la commune.",
            "action_plan": "Petits déjeuners, cordées de la réussite, accueil des parents, "
                           "mobilité des collégiens.",
            "requested_annual_contribution": self.requested,
        }


@dataclass
class Programme:
    """What the simulation will do: per wave, its territories; in the first wave, the cités
    (by territory key) suspended, reinstated, withdrawn and extended, and the QPV the
    extension adds."""

    seed: int
    waves: dict[str, list[Territory]] = field(default_factory=dict)
    suspended: list[str] = field(default_factory=list)
    reinstated: list[str] = field(default_factory=list)
    withdrawn: list[str] = field(default_factory=list)
    extended: list[str] = field(default_factory=list)
    extension_qpvs: dict[str, tuple[str, str, int]] = field(default_factory=dict)

    @property
    def territories(self) -> list[Territory]:
        return [t for ts in self.waves.values() for t in ts]


_QUARTIERS = ("Les Tilleuls", "La Source", "Les Bosquets", "Le Mail", "Les Hauts", "La Plaine",
              "Le Val Fourré", "Les Cèdres", "La Butte", "Les Peupliers", "Le Bois l'Abbé",
              "Les Musiciens", "Les Pyramides", "Le Grand Ensemble", "Les Aubiers", "Bel Air",
              "La Croix Rouge", "Les Coteaux", "Le Petit Bard", "Les Provinces")
_COLLEGES = ("Jean Moulin", "Louise Michel", "Aimé Césaire", "Jean Jaurès", "Victor Hugo",
             "Marie Curie", "Pablo Neruda", "Paul Éluard", "Jules Ferry", "Simone Veil",
             "Gisèle Halimi", "Albert Camus", "Romain Rolland", "Lucie Aubrac", "Joliot-Curie")
_ECOLES = ("Jacques Prévert", "Jean de La Fontaine", "Françoise Dolto", "Anne Frank",
           "Marcel Pagnol", "Paul Langevin", "Charles Perrault", "Louis Pasteur")
_ASSOCIATIONS = ("Les Petits Débrouillards", "Ligue de l'enseignement", "AFEV", "Coup de Pouce",
                 "Sport dans la Ville", "Article 1", "Énergie Jeunes", "Unis-Cité",
                 "Bibliothèques Sans Frontières", "Les Francas", "Apprentis d'Auteuil",
                 "Môm'artre", "Lire et faire lire", "Cultures du Cœur")
_ACTIONS = ("Ateliers scientifiques du mercredi", "Accompagnement à la scolarité",
            "Classes découvertes", "Cordées de la réussite", "Petits déjeuners à l'école",
            "Parcours culturel des collégiens", "Accueil des parents", "Stages de 3e",
            "Lecture partagée en maternelle", "Sport et citoyenneté")
_FIRST = ("Anne", "Karim", "Sophie", "Moussa", "Claire", "Yasmina", "Thomas", "Fatou",
          "Julien", "Inès", "Nicolas", "Leïla")
_LAST = ("Martin", "Benali", "Durand", "Diallo", "Lefebvre", "Nguyen", "Moreau", "Haddad",
         "Girard", "Traoré", "Roux", "Fontaine")


def _slug(text: str) -> str:
    table = str.maketrans("àâäéèêëîïôöùûüçœ' ", "aaaeeeeiioouuucoe-")
    return "".join(c for c in text.lower().translate(table) if c.isalnum() or c == "-")


class _Codes:
    """Hands out QPV codes and UAIs per département, never one the platform holds."""

    def __init__(self, rng: random.Random, taken_qpvs: Iterable[str], taken_uais: Iterable[str]):
        self.rng = rng
        self.qpvs = set(taken_qpvs)
        self.uais = set(taken_uais)
        self.next_qpv: dict[str, int] = defaultdict(int)

    def qpv(self, departement: str, qpv_list: str = "2024") -> str:
        """A free QPV code of ``qpv_list`` (``2015``: ``QP…``, ``2024``: ``QN…``)."""
        key = f"{departement}/{qpv_list}"
        last, code_of = (1000, qpv_code_2015) if qpv_list == "2015" else (2600, qpv_code)
        while True:
            order = self.next_qpv[key]
            if order >= last:
                raise ValueError(f"département {departement}: every QPV code of the "
                                 f"{qpv_list} list is taken")
            self.next_qpv[key] = order + 1
            code = code_of(departement, order)
            if code not in self.qpvs:
                self.qpvs.add(code)
                return code

    def uai(self, departement: str) -> str:
        for _ in range(100_000):
            code = uai(departement, self.rng.randrange(10_000))
            if code not in self.uais:
                self.uais.add(code)
                return code
        raise ValueError(f"département {departement}: no free UAI found")


def generate(seed: int, *, waves: Iterable[str] = ("2019", "2021", "2022", "2024"),
             scale: float = 1.0,
             operations: int = 2, salt: str = "", departements: Iterable[str] | None = None,
             taken_qpvs: Iterable[str] = (), taken_uais: Iterable[str] = ()) -> Programme:
    """The programme of ``waves`` (labels of :data:`WAVES`), ``scale`` times their number
    of cités (at least one each), each with ``operations`` operators committing and paying;
    only in ``departements`` (default: every one the commune fixture covers)."""
    rng = random.Random(f"{seed}/{salt}")
    allowed = set(departements) if departements is not None else set(DEPARTEMENTS)
    communes = [(c, n) for c, n in COMMUNES if departement_of(c) in allowed]
    if not communes:
        raise ValueError("no commune of the fixture lies in the départements allowed")
    codes = _Codes(rng, taken_qpvs, taken_uais)
    programme = Programme(seed=seed)
    order = communes[:]
    rng.shuffle(order)
    drawn = 0
    for label in waves:
        spec = WAVES[label]
        count = max(1, round(spec.target * scale))
        territories = []
        for n in range(1, count + 1):
            insee, commune = order[drawn % len(order)]
            drawn += 1
            territory = _territory(rng, codes, f"{label}-{n:03d}", label, insee, commune,
                                   operations, salt)
            if spec.imported:
                territory = replace(territory, renewed=n % ENDED_EVERY != 0,
                                    filed_days_early=n % 20)
            territories.append(territory)
        programme.waves[label] = territories
    first = programme.waves[next(iter(programme.waves))]
    _life(rng, codes, programme, first, scale)
    return programme


def _territory(rng: random.Random, codes: _Codes, key: str, wave: str, insee: str,
               commune: str, operations: int, salt: str) -> Territory:
    dept = departement_of(insee)
    quartiers = rng.sample(_QUARTIERS, rng.randint(1, 3))
    qpvs = tuple((codes.qpv(dept, WAVES[wave].qpv_list), q, rng.randrange(5200, 15000) if i == 0
                  else rng.randrange(1200, 6000)) for i, q in enumerate(quartiers))
    colleges = rng.sample(_COLLEGES, 2)
    schools = [School(codes.uai(dept), "college", f"Collège {colleges[0]}", "rep_plus")]
    if rng.random() < 0.5:
        schools.append(School(codes.uai(dept), "college", f"Collège {colleges[1]}", "rep"))
    schools += [School(codes.uai(dept), "ecole", f"École {e}", rng.choice(("rep", "rep_plus")))
                for e in rng.sample(_ECOLES, rng.randint(1, 3))]
    town = _slug(commune)
    name = f"{commune} – {quartiers[0]}"
    troika = (("prefet", f"prefet@{_slug(dept)}.prefectures.example"),
              ("recteur", f"recteur.{town}@rectorats.example"),
              ("maire", f"cabinet.{town}@mairies.example"))
    # Most ask within the 120–650 k€ the default rule pays; some below, some above, a few
    # nothing (then the rule gives 250 k€).
    roll = rng.random()
    requested = (0 if roll < 0.1 else rng.randrange(80, 120) * 1_000_00 if roll < 0.2
                 else rng.randrange(650, 800) * 1_000_00 if roll < 0.25
                 else rng.randrange(150, 600) * 1_000_00)
    lead_person = f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
    lead_contact = (lead_person, f"principal.{schools[0].uai.lower()}@colleges.example")
    operators = []
    for k, asso in enumerate(rng.sample(_ASSOCIATIONS, min(operations, len(_ASSOCIATIONS)))):
        person = f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
        number = siret(rng)
        actions = rng.sample(_ACTIONS, 2 if k == 0 else 1)
        operators.append(Operator(
            siret=number, name=f"{asso} – {commune}", commune=insee, contact_name=person,
            contact_email=f"{_slug(person)}.{number[-6:]}{_slug(salt)}@associations.example",
            commitments=tuple((a, rng.randrange(500, 1500), rng.choice((0, 3000, 5000, 10000)))
                              for a in actions)))
    return Territory(key=key, wave=wave, departement=dept, name=name,
                     communes=((insee, commune),), qpvs=qpvs, schools=tuple(schools),
                     troika=troika, requested=requested,
                     npnru=rng.choice(("national", "national", "regional")),
                     lead_contact=lead_contact, operators=tuple(operators))


def _life(rng: random.Random, codes: _Codes, programme: Programme, first: list[Territory],
          scale: float) -> None:
    """Suspensions (a few: one is reinstated), a withdrawal and a perimeter extension, in
    distinct cités of the first wave when it has enough."""
    wanted_suspended = max(2, round(3 * scale))
    wanted = max(1, round(scale))
    keys = [t.key for t in first if t.renewed]  # living cités only
    rng.shuffle(keys)
    suspended = keys[:wanted_suspended]
    withdrawn = keys[wanted_suspended:wanted_suspended + wanted]
    extended = keys[wanted_suspended + wanted:wanted_suspended + 2 * wanted] or keys[:1]
    programme.suspended = suspended
    programme.reinstated = suspended[:max(1, min(wanted, len(suspended) - 1))]
    programme.withdrawn = withdrawn
    programme.extended = extended
    by_key = {t.key: t for t in first}
    for key in extended:
        dept = by_key[key].departement
        programme.extension_qpvs[key] = (codes.qpv(dept, WAVES[by_key[key].wave].qpv_list),
                                         rng.choice(_QUARTIERS),
                                         rng.randrange(1500, 4000))
