"""Taking over the money of the years before the platform: per cité and budget year, what
its dotation committed and paid (``docs/import.md``), read from a JSON or CSV file, each
cité in a transaction of its own (:func:`funding.service.import_past_money`), with the
runtime's report of every line (:mod:`cites_runtime.imports`). Used by the command line
(``python -m funding import FILE``) and the national coordination's ``POST /imports``.
Run it after labelling's import of the same cités: funding knows them by the reference
their label carried.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path

import typer

from cites_runtime import imports
from cites_runtime.cli import settings_or_exit
from cites_runtime.imports import Line, Problem
from cites_runtime.uow import UnitOfWork

from . import service
from .domain.past import PastMoneyRecord

__all__ = ["CSV_COLUMNS", "Done", "Report", "import_command", "line", "read", "run"]


@dataclass(frozen=True, slots=True)
class Done:
    number: int
    reference: str
    cite_id: str | None
    outcome: str
    """imported (years taken over), unchanged — or refused (``problems`` say why)."""
    years: int = 0
    """The years this import took over."""
    problems: tuple[Problem, ...] = ()


Report = imports.Report[Done]

CSV_COLUMNS = ("reference", "year", "programme", "dotation", "committed", "paid")
"""The CSV file's columns (a header line names them, in any order): one line per cité,
year and programme, amounts in cents; the lines of one reference make its record."""


_NUMBERS = {"year", "dotation", "committed", "paid"}
"""Columns read as whole numbers (what is not one stays text, and its line is refused)."""


def line(number: int, raw: object) -> Line[PastMoneyRecord]:
    return imports.line(number, raw, PastMoneyRecord)


def _read_csv(text: str) -> list[Line[PastMoneyRecord]]:
    """The lines of each reference gathered into its record, numbered by its first line."""
    reader = csv.DictReader(io.StringIO(text))
    missing = {"reference", "year", "committed", "paid"} - set(reader.fieldnames or ())
    if missing:
        raise ValueError(f"the CSV header lacks {', '.join(sorted(missing))} (columns: "
                         f"{', '.join(CSV_COLUMNS)})")
    records: dict[str, tuple[int, list[dict[str, str | int]]]] = {}
    for row in reader:
        cells: dict[str, str | int] = {
            k: int(v) if k in _NUMBERS and v.strip().isdigit() else v.strip()
            for k, v in row.items() if k is not None and v and v.strip()}
        reference = str(cells.pop("reference", ""))
        records.setdefault(reference, (reader.line_num, []))[1].append(cells)
    return [line(number, {"reference": reference, "years": years})
            for reference, (number, years) in records.items()]


def read(text: str, fmt: str) -> list[Line[PastMoneyRecord]]:
    """The lines of a ``json`` file (``{"cites": [record, …]}``) or a ``csv`` one."""
    if fmt == "json":
        return [line(n, raw) for n, raw in enumerate(imports.records_json(text, "cites"),
                                                     start=1)]
    if fmt == "csv":
        return _read_csv(text)
    raise ValueError(f"unknown format {fmt!r}: json or csv")


def _done(item: Line[PastMoneyRecord], done: service.PastTaken | None,
          problems: tuple[Problem, ...]) -> Done:
    if done is None:
        return Done(item.number, item.reference or "", None, "refused", problems=problems)
    return Done(item.number, done.reference, done.cite_id, done.outcome, done.years)


async def run(lines: Sequence[Line[PastMoneyRecord]],
              unit_of_work: Callable[[], AbstractAsyncContextManager[UnitOfWork]], *,
              dry_run: bool = False) -> Report:
    """Take over every line that reads as a record, each cité in its own unit of work
    (whose cause must mark its events imported); report every line."""
    return await imports.run(lines, unit_of_work, service.import_past_money, _done,
                             dry_run=dry_run)


def import_command(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True,
                                help="The cités' past money: .json or .csv (docs/import.md)"),
    fmt: str | None = imports.FORMAT, dry_run: bool = imports.DRY_RUN,
    as_json: bool = imports.AS_JSON,
) -> None:
    """Take over what the cités' dotations of the years before the platform committed and
    paid: marked imported, idempotent, all or nothing per cité; exits 1 when a line is
    refused."""
    from .settings import FundingSettings

    imports.command("funding", settings_or_exit("funding", FundingSettings), file, fmt, read,
                    lambda lines, units: run(lines, units, dry_run=dry_run), _print,
                    as_json=as_json)


def _print(report: Report, name: str) -> None:
    imports.print_report(
        report, name, ("line", "reference", "outcome", "cité", "years"),
        lambda d: (str(d.number), d.reference, d.outcome, d.cite_id or "", str(d.years)),
        ("imported", "unchanged", "refused"))
