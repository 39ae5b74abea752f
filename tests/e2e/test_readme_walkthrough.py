"""The walk-through (docs/walkthrough.md, linked from the README), run as written: its
``sh`` blocks, with bash, twice in a row,
against labelling, partners and funding running as processes on the real Kafka and
PostgreSQL. Both runs succeed, the second labels a new cité, no two active cités ever
share a QPV, and funding shows what the walk-through says: each cité funded once, one
commitment each however often it was sent, the first cité's frozen money released, the
ledger balanced.

The services take the access tokens of the real Keycloak only (``AUTH_MODE`` oidc, as
``make run``): the walk-through signs in there as it says. The script is taken from the
page as it stands (whatever its steps say); only where the services and the identity
provider listen is given to it, through the variables it reads (``BASE``, ``PB``, ``FB``,
``NB``, ``KC``) and the partners command line's settings."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
from datetime import datetime
from itertools import combinations
from pathlib import Path
from typing import Any

import pytest
from e2e_platform import REPO, Platform, SmtpSink, first_year_share

from cites_runtime.testing.infra import Keycloak

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

SECTION = "## Walk-through: from candidature to cité"
PAGE = REPO / "docs" / "walkthrough.md"


def walkthrough() -> str:
    """The ``sh`` blocks of the README's walk-through section, in order, as one script."""
    readme = PAGE.read_text(encoding="utf-8")
    start = readme.index(SECTION)
    end = readme.find("\n## ", start + len(SECTION))
    section = readme[start:end if end >= 0 else None]
    blocks = re.findall(r"^```sh\n(.*?)^```", section, flags=re.MULTILINE | re.DOTALL)
    assert blocks, f"no sh block under {SECTION!r} in {PAGE}"
    return "\n".join(blocks)


def run(script: str, platform: Platform, maildir: Path, keycloak: Keycloak
        ) -> subprocess.CompletedProcess[str]:
    assert platform.funding is not None and platform.notifications is not None
    env = {**os.environ, "BASE": platform.labelling.url, "PB": platform.partners.url,
           "FB": platform.funding.url, "NB": platform.notifications.url,
           "KC": keycloak.issuer,
           "MAILDIR": str(maildir),
           # What `services.py cli partners dlq list` reads for this platform's dead
           # letters, instead of `make run`'s (as partners' own principal).
           "PARTNERS_DATABASE_URL": platform.partners.db.dsn,
           "PARTNERS_DB_SCHEMA": platform.partners.db.schema,
           "PARTNERS_KAFKA_BOOTSTRAP_SERVERS": platform.partners.kafka.bootstrap,
           "PARTNERS_KAFKA_USERNAME": platform.partners.kafka.username or "",
           "PARTNERS_KAFKA_PASSWORD": platform.partners.kafka.password or "",
           "PARTNERS_TOPIC_PREFIX": platform.topic_prefix}
    return subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=240, check=False)


async def cites(platform: Platform) -> list[dict[str, Any]]:
    """Every cité, with its perimeter and history."""
    found: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        page = (await platform.lab.get("/cites", headers=platform.viewer, params={
            "limit": 200, **({"cursor": cursor} if cursor else {})})).json()
        for c in page["items"]:
            shown = await platform.lab.get(f"/cites/{c['cite_id']}", headers=platform.viewer)
            found.append(shown.json())
        cursor = page["next_cursor"]
        if cursor is None:
            return found


def active_span(cite: dict[str, Any]) -> tuple[datetime, datetime]:
    """When the cité was active: from its labelling to its label's end (or now)."""
    ended = [h["occurred_at"] for h in cite["history"]
             if h["kind"] in ("LabelWithdrawn", "LabelExpired")]
    return (datetime.fromisoformat(cite["labelled_at"]),
            datetime.fromisoformat(ended[0]) if ended else datetime.max.replace(
                tzinfo=datetime.fromisoformat(cite["labelled_at"]).tzinfo))


def qpvs(cite: dict[str, Any]) -> set[str]:
    return {q["code"] for q in cite["perimeter"]["qpvs"]}


def labelled_cite(output: str) -> str:
    found = re.findall(r"^cité (\S+)$", output, flags=re.MULTILINE)
    assert found, f"the walk-through printed no 'cité <id>' line:\n{output[-3000:]}"
    return found[-1]


def never_two_active_with_one_qpv(all_cites: list[dict[str, Any]]) -> None:
    for a, b in combinations(all_cites, 2):
        shared = qpvs(a) & qpvs(b)
        (a_from, a_to), (b_from, b_to) = active_span(a), active_span(b)
        overlapping_in_time = a_from < b_to and b_from < a_to
        assert not (shared and overlapping_in_time), (
            f"{a['cite_id']} and {b['cite_id']} were active together with QPV(s) "
            f"{sorted(shared)}")
    active = [c for c in all_cites if c["status"] in ("labelled", "suspended")]
    for a, b in combinations(active, 2):
        assert not qpvs(a) & qpvs(b), (a["cite_id"], b["cite_id"])


async def test_the_readme_walkthrough_runs_twice_in_a_row_without_overlapping_cites(
    signed_in_platform: Platform, smtp_sink: SmtpSink, keycloak: Keycloak,
) -> None:
    platform = signed_in_platform
    if shutil.which("jq") is None:
        pytest.fail("the README walk-through needs jq, which is not installed: "
                    "apt-get install -y jq (make test installs it)")
    script = walkthrough()

    first = await asyncio.to_thread(run, script, platform, smtp_sink.maildir, keycloak)
    assert first.returncode == 0, f"first run failed:\n{first.stdout[-3000:]}\n{first.stderr}"
    after_first = await cites(platform)
    second = await asyncio.to_thread(run, script, platform, smtp_sink.maildir, keycloak)
    assert second.returncode == 0, f"second run failed:\n{second.stdout[-3000:]}\n{second.stderr}"
    after_second = await cites(platform)

    first_cite, second_cite = labelled_cite(first.stdout), labelled_cite(second.stdout)
    # Signed in as national through Keycloak: her username is what the candidature keeps.
    assert first.stdout.count('{"decided_by":"national","scored_by":["national"]}') == 1
    assert re.fullmatch(r"cite-\d{3,6}", second_cite), second.stdout[-3000:]
    assert second_cite != first_cite
    assert [c["cite_id"] for c in after_first] == [first_cite]
    assert [c["cite_id"] for c in after_second] == [first_cite, second_cite]
    assert qpvs(after_second[0]) & qpvs(after_second[1])  # the same territory, twice
    never_two_active_with_one_qpv(after_first)
    never_two_active_with_one_qpv(after_second)
    await funding_as_told(platform, first_cite, second_cite, first.stdout + second.stdout)
    await everyone_told(platform, smtp_sink, first_cite, first.stdout)


async def everyone_told(platform: Platform, sink: SmtpSink, cite_id: str, output: str
                        ) -> None:
    """The story's mails: the troïka told of its label, suspension, reinstatement, money
    and withdrawal in French; none to the association's contact after her erasure; each
    mail sent is one file in the sink (by Message-ID),
    its address never in the log; the maire, erased, marked so; what the script printed
    ends with the first mail, decoded."""
    log = await platform.delivery_log(cite_id=cite_id)
    by_template: dict[str, list[dict[str, Any]]] = {}
    for n in log:
        by_template.setdefault(n["template"], []).append(n)
    labelled = sorted(n["recipient"].get("troika_role") or n["recipient"]["kind"]
                      for n in by_template["cite-labelled"])
    assert labelled[:3] == ["maire", "prefet", "recteur"] or set(labelled) >= {
        "maire", "prefet", "recteur"}, labelled
    assert {"cite-labelled", "label-suspended", "label-reinstated", "funds-allocated",
            "fonds-de-la-cite-granted", "label-withdrawn"} <= set(by_template), sorted(
                by_template)
    # The association's contact was erased before its commitment: no mail of it to her.
    assert "funds-committed" not in by_template and "payment-made" not in by_template
    files = {}
    for path in sink.maildir.glob("*.eml"):
        head = path.read_bytes().split(b"\r\n\r\n", 1)[0].decode(errors="replace")
        found = re.search(r"^Message-ID: <([0-9a-f-]{36})@", head, flags=re.MULTILINE)
        if found:
            files.setdefault(found[1], []).append(path)
    for n in log:
        if n["status"] == "sent":
            assert len(files.get(n["notification_id"], [])) == 1, n
        assert "@" not in str(n["recipient"]), n
    assert any(n["address_erased"] for n in log
               if n["recipient"].get("troika_role") == "maire"), "the maire's erasure"
    assert re.search(r"\d+ mails in .* for " + re.escape(cite_id), output), output[-2000:]
    assert "Subject: " in output and "Madame, Monsieur" in output, output[-2000:]


async def funding_as_told(platform: Platform, first: str, second: str, output: str) -> None:
    """Each cité funded once from the year's P147 envelope (its first year's dotation
    prorated from today), its fonds to its lead collège, one commitment of 500 € with 200 €
    paid (sent twice with its key), the refusal's message shown; each withdrawn at the end
    and what was not committed released back to the envelope; the ledger balanced."""
    for cite_id in (first, second):
        cite = await platform.funded_cite(cite_id)
        assert cite is not None, cite_id
        assert cite["status"] == "withdrawn", cite
        assert [(a["programme"], a["amount"], a["uncommitted"], a["frozen"])
                for a in cite["allocations"]] == [("P147", first_year_share(250_000_00), 0,
                                                   0)], cite
        assert [(f["uai"], f["amount"]) for f in cite["fonds"]] == [("0691234A", 30_000_00)]
        assert [(c["amount"], c["unpaid"]) for c in cite["commitments"]] == [
            (500_00, 300_00)], cite
    assert output.count("not enough uncommitted in the allocation: 300\u202f000,00 € "
                        "requested") == 2
    envelopes = (await platform.funds.get("/envelopes", headers=platform.viewer)).json()["items"]
    assert sorted((e["programme"], e["remaining"]) for e in envelopes) == [
        ("P147", 34_000_000_00 - 2 * (500_00 + 15_000_00)),  # committed and fonds
        ("P230", 34_000_000_00 - 2 * 15_000_00)]
    check = (await platform.funds.get("/ledger/check", headers=platform.viewer)).json()
    assert check["balanced"], check
