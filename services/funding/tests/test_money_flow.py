"""The money's way, isolated (in-memory broker, real PostgreSQL, HTTP in-process): envelope
→ dotation and fonds on a label → commitments → payments, every limit refused with its
numbers, and the ledger balanced after each step."""

from __future__ import annotations

from funding.app import definition
from funding.settings import FundingSettings
from funding_kit import (
    CONVENTION,
    LEAD_PARTNER,
    LEAD_UAI,
    OPERATOR,
    Funding,
    joined,
    labelled,
    left,
    p147,
)

from cites_runtime.settings import TokenGrant
from cites_runtime.testing import (
    AS_NATIONAL,
    AS_PARTNER,
    AS_PREFECTURE_69,
    AS_PREFECTURE_93,
    AS_VIEWER,
    TOKENS,
    bearer,
    in_memory,
)
from cites_runtime.testing.plugin import SettingsFactory


async def test_a_labelled_cite_gets_its_dotation_by_the_envelopes_rule_and_its_fonds(
    service: Funding,
) -> None:
    e147, e230 = await service.open_envelopes()
    await service.s.publish(labelled(requested=700_000_00))
    allocated, = await service.outbox("FundsAllocated")
    assert (allocated["envelope_id"], allocated["year"], allocated["amount"]) == (
        e147, 2025, 650_000_00)  # asked 700 k€: capped by the default rule
    assert allocated["dotation_rule"] == "requested_capped"
    assert allocated["dotation_basis"].startswith("requested 700\u202f000,00 €")
    assert allocated["envelope_remaining"] == 10_000_000_00 - 650_000_00  # fonds after
    fonds, = await service.outbox("FondsDeLaCiteGranted")
    assert fonds["lead_college_uai"] == LEAD_UAI and fonds["year"] == 2025
    assert fonds["contributions"] == [{"programme": "P147", "amount": 15_000_00},
                                      {"programme": "P230", "amount": 15_000_00}]
    envelopes = {e["envelope_id"]: e for e in (await service.http.get(
        "/envelopes", headers=AS_PARTNER)).json()["items"]}
    assert envelopes[e230]["remaining"] == 1_000_000_00 - 15_000_00
    await service.ledger_balanced()


async def test_the_default_rule_lifts_a_small_request_to_the_floor_and_gives_250k_when_none(
    service: Funding,
) -> None:
    await service.open_envelopes()
    await service.s.publish(labelled("cite-001", requested=50_000_00),
                            labelled("cite-002", requested=0),  # labelling's "asked nothing"
                            labelled("cite-003", requested=None))
    allocated = await service.outbox("FundsAllocated")
    assert {e["cite_id"]: e["amount"] for e in allocated} == {
        "cite-001": 120_000_00, "cite-002": 250_000_00, "cite-003": 250_000_00}
    assert {e["programme"] for e in allocated} == {"P147"}  # P230 pays no dotation
    assert [e["dotation_basis"] for e in allocated][1:] == ["none requested: 250\u202f000,00 €"] * 2
    assert len(await service.outbox("FondsDeLaCiteGranted")) == 3


async def test_a_rule_is_data_per_envelope(service: Funding) -> None:
    r = await service.http.post("/envelopes", json=p147(dotation_rule={
        "kind": "population", "per_inhabitant": 50_00, "floor": 120_000_00,
        "cap": 650_000_00}), headers=AS_NATIONAL)
    assert r.status_code == 201, r.text
    await service.s.publish(labelled(population=5200))
    allocated, = await service.outbox("FundsAllocated")
    assert allocated["amount"] == 260_000_00 and allocated["dotation_rule"] == "population"
    refused, = await service.outbox("AllocationRefused")  # no P230 envelope: no fonds
    assert (refused["programme"], refused["reason"]) == ("P230", "no_open_envelope")
    assert not await service.outbox("FondsDeLaCiteGranted")


async def test_commitments_and_payments_never_exceed_and_say_by_how_much(
    service: Funding,
) -> None:
    dotation = await service.funded_cite(requested=300_000_00)
    a = dotation["allocation_id"]
    first = await service.commit(a, 200_000_00)
    assert first.status_code == 201, first.text
    over = await service.commit(a, 100_000_01)
    assert over.status_code == 409
    assert over.json()["detail"] == (
        f"not enough uncommitted in the allocation: 100\u202f000,01 € requested, allocation "
        f"{a} holds 100\u202f000,00 €; 0,01 € over")
    commitment = first.json()["commitment_id"]
    paid = await service.http.post(f"/commitments/{commitment}/payments",
                                   json={"amount": 150_000_00}, headers=AS_PREFECTURE_93)
    assert paid.status_code == 201 and paid.json()["unpaid"] == 50_000_00
    too_much = await service.http.post(f"/commitments/{commitment}/payments",
                                       json={"amount": 50_000_01}, headers=AS_PREFECTURE_93)
    assert too_much.status_code == 409 and "0,01 € over" in too_much.json()["detail"]
    assert [e["amount"] for e in await service.outbox("FundsCommitted")] == [200_000_00]
    assert [e["amount"] for e in await service.outbox("PaymentMade")] == [150_000_00]
    await service.ledger_balanced()


async def test_only_the_departements_prefecture_commits_and_only_to_a_current_member(
    service: Funding,
) -> None:
    a = (await service.funded_cite())["allocation_id"]
    elsewhere = await service.commit(a, 1_000_00, headers=AS_PREFECTURE_69)
    assert elsewhere.status_code == 403
    national = await service.commit(a, 1_000_00, headers=AS_NATIONAL)
    assert national.status_code == 403  # the préfecture records commitments
    stranger = await service.commit(a, 1_000_00, operator_partner_id=str(LEAD_PARTNER))
    assert stranger.status_code == 409 and "not a member" in stranger.json()["detail"]
    await service.s.publish(left())
    gone = await service.commit(a, 1_000_00)
    assert gone.status_code == 409
    await service.s.publish(joined())
    assert (await service.commit(a, 1_000_00)).status_code == 201
    assert len(await service.outbox("FundsCommitted")) == 1


async def test_bad_input_gets_a_4xx_naming_it_and_changes_nothing(service: Funding) -> None:
    a = (await service.funded_cite())["allocation_id"]
    before = await service.ledger_balanced()
    for body, field in [({"amount": 10.5}, "amount"), ({"amount": "1000"}, "amount"),
                        ({"amount": 0}, "amount"), ({"amount": -5}, "amount"),
                        ({"amount": 100, "extra": 1}, "extra")]:
        r = await service.http.post("/cites/cite-001/commitments", json={
            "allocation_id": a, "operator_partner_id": str(OPERATOR),
            "action_title": "Action", "legal_act": CONVENTION, **body}, headers=AS_PREFECTURE_93)
        assert r.status_code == 422, (body, r.text)
        assert field in str(r.json()["detail"][0]["loc"]), r.text
    unknown = await service.commit("00000000-0000-4000-8000-000000000000", 100)
    assert unknown.status_code == 404
    assert (await service.ledger_balanced())["movements"] == before["movements"]
    assert not await service.outbox("FundsCommitted")


async def test_a_command_retried_with_its_idempotency_key_acts_once(service: Funding) -> None:
    a = (await service.funded_cite())["allocation_id"]
    key = {"Idempotency-Key": "appel-a-projets-2025-lot-3"}
    first = await service.commit(a, 10_000_00, headers={**AS_PREFECTURE_93, **key})
    again = await service.commit(a, 10_000_00, headers={**AS_PREFECTURE_93, **key})
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["commitment_id"] == again.json()["commitment_id"]
    other = await service.commit(a, 20_000_00, headers={**AS_PREFECTURE_93, **key})
    assert other.status_code == 409 and "Idempotency-Key" in other.json()["detail"]
    retitled = await service.commit(a, 10_000_00, headers={**AS_PREFECTURE_93, **key},
                                    action_title="Un autre atelier")
    assert retitled.status_code == 409 and retitled.json()["detail"] == (
        f"this Idempotency-Key already made commitment {first.json()['commitment_id']} "
        "with other values: a new command needs a new key")
    c = first.json()["commitment_id"]
    pay_key = {**AS_PREFECTURE_93, "Idempotency-Key": "mandat-0042"}
    for expected in (201, 200):
        r = await service.http.post(f"/commitments/{c}/payments", json={"amount": 5_000_00},
                                    headers=pay_key)
        assert r.status_code == expected, r.text
    assert len(await service.outbox("FundsCommitted")) == 1
    assert len(await service.outbox("PaymentMade")) == 1


async def test_a_manual_allocation_and_a_cofinancing_retried_with_their_keys_act_once(
    service: Funding,
) -> None:
    e147 = (await service.funded_cite())["envelope_id"]
    allocation = {"envelope_id": e147, "year": 2025, "amount": 20_000_00, "motive": "Rallonge"}
    cofinancing = {"year": 2025, "funder": "Département de la Seine-Saint-Denis",
                   "amount": 80_000_00}
    for path, body, headers in [
            ("/cites/cite-001/allocations", allocation, AS_NATIONAL),
            ("/cites/cite-001/cofinancing", cofinancing, AS_PREFECTURE_93)]:
        keyed = {**headers, "Idempotency-Key": "arrete-2025-017"}
        first = await service.http.post(path, json=body, headers=keyed)
        again = await service.http.post(path, json=body, headers=keyed)
        assert (first.status_code, again.status_code) == (201, 200), again.text
        assert first.json() == again.json()
        other = await service.http.post(path, json={**body, "amount": 1_00}, headers=keyed)
        assert other.status_code == 409 and "Idempotency-Key" in other.json()["detail"]
    assert len(await service.outbox("FundsAllocated")) == 2  # the dotation, the allocation
    assert len(await service.outbox("CoFinancingDeclared")) == 1
    await service.ledger_balanced()


async def test_a_cancelled_commitment_gives_its_unpaid_part_back(service: Funding) -> None:
    a = (await service.funded_cite(requested=300_000_00))["allocation_id"]
    c = (await service.commit(a, 100_000_00)).json()["commitment_id"]
    await service.http.post(f"/commitments/{c}/payments", json={"amount": 30_000_00},
                            headers=AS_PREFECTURE_93)
    r = await service.http.post(f"/commitments/{c}/cancellation",
                                json={"motive": "Action abandonnée"}, headers=AS_PREFECTURE_93)
    assert r.status_code == 200 and r.json()["cancelled"], r.text
    cancelled, = await service.outbox("CommitmentCancelled")
    assert cancelled["returned"] == 70_000_00
    assert (await service.dotation())["uncommitted"] == 270_000_00
    no_more = await service.http.post(f"/commitments/{c}/payments", json={"amount": 1},
                                      headers=AS_PREFECTURE_93)
    assert no_more.status_code == 409 and "cancelled" in no_more.json()["detail"]
    await service.ledger_balanced()


async def test_envelopes_never_overlap_and_never_shrink_below_what_they_allocated(
    service: Funding,
) -> None:
    e147, _ = await service.open_envelopes(p147_amount=1_000_000_00)
    again = await service.http.post("/envelopes", json=p147(), headers=AS_NATIONAL)
    assert again.status_code == 409 and "already has an envelope" in again.json()["detail"]
    key = {**AS_NATIONAL, "Idempotency-Key": "LFR-2025"}
    body = p147(budget_years=[2028])
    retried = [await service.http.post("/envelopes", json=body, headers=key) for _ in "ab"]
    assert [r.status_code for r in retried] == [201, 200]
    assert retried[0].json()["envelope_id"] == retried[1].json()["envelope_id"]
    changed = await service.http.post("/envelopes", json={**body, "amount": 1}, headers=key)
    assert changed.status_code == 409 and "Idempotency-Key" in changed.json()["detail"]
    assert len(await service.outbox("EnvelopeOpened")) == 3
    await service.s.publish(labelled(requested=300_000_00))
    lower = await service.http.post(f"/envelopes/{e147}/amendment", json={
        "amount": 300_000_00, "motive": "Gel budgétaire"}, headers=AS_NATIONAL)
    assert lower.status_code == 409
    assert lower.json()["detail"].endswith("15\u202f000,00 € over")  # 315 k€ allocated
    ok = await service.http.post(f"/envelopes/{e147}/amendment", json={
        "amount": 315_000_00, "motive": "Gel budgétaire"}, headers=AS_NATIONAL)
    assert ok.status_code == 200 and ok.json()["remaining"] == 0, ok.text
    amended, = await service.outbox("EnvelopeAmended")
    assert (amended["previous_amount"], amended["amount"]) == (1_000_000_00, 315_000_00)
    await service.ledger_balanced()


async def test_an_exhausted_envelope_refuses_once_and_allocates_after_an_amendment(
    service: Funding,
) -> None:
    e147, _ = await service.open_envelopes(p147_amount=400_000_00)
    await service.s.publish(labelled("cite-001", requested=300_000_00),
                            labelled("cite-002", requested=300_000_00))
    refused, = await service.outbox("AllocationRefused")
    assert (refused["cite_id"], refused["reason"], refused["requested"],
            refused["available"]) == ("cite-002", "envelope_exhausted", 300_000_00,
                                      400_000_00 - 300_000_00 - 15_000_00)
    check = await service.http.post("/yearly-check", headers=AS_NATIONAL)
    assert check.json() == {"events": 0}  # still exhausted: not told again
    await service.http.post(f"/envelopes/{e147}/amendment", json={
        "amount": 800_000_00, "motive": "Rallonge"}, headers=AS_NATIONAL)
    assert (await service.http.post("/yearly-check", headers=AS_NATIONAL)).json() == {
        "events": 1}  # cité 2's dotation (its fonds fitted in what was left)
    assert [e["cite_id"] for e in await service.outbox("FundsAllocated")] == [
        "cite-001", "cite-002"]
    await service.ledger_balanced()


async def test_the_ledger_check_names_a_kept_balance_that_strays_from_the_ledger(
    service: Funding,
) -> None:
    a = (await service.funded_cite(requested=300_000_00))["allocation_id"]
    await service.s.runtime.pool.execute(
        "UPDATE accounts SET balance = balance + 1 WHERE kind = 'allocation'")
    check = (await service.http.get("/ledger/check", headers=AS_VIEWER)).json()
    assert not check["balanced"]
    assert check["differences"] == [{"account": f"allocation {a}", "ledger": 300_000_00,
                                     "kept": 300_000_01}]
    assert (await service.http.get("/ledger/check", headers=AS_PARTNER)).status_code == 403


async def test_a_manual_allocation_beyond_what_the_envelope_holds_is_refused_with_its_numbers(
    service: Funding,
) -> None:
    e147, _ = await service.open_envelopes(p147_amount=400_000_00)
    await service.s.publish(labelled(requested=300_000_00))  # 300 k€ + 15 k€: 85 k€ left
    refused = await service.http.post("/cites/cite-001/allocations", json={
        "envelope_id": e147, "year": 2025, "amount": 85_000_01, "motive": "Rallonge"},
        headers=AS_NATIONAL)
    assert refused.status_code == 409
    assert refused.json()["detail"] == (
        f"not enough left in the envelope: 85\u202f000,01 € requested, envelope {e147} "
        "holds 85\u202f000,00 €; 0,01 € over")
    assert len(await service.outbox("FundsAllocated")) == 1
    await service.ledger_balanced()


async def test_a_replayed_idempotency_key_answers_only_the_caller_who_sent_it(
    service_settings: SettingsFactory,
) -> None:
    """Préfecture 69 replaying préfecture 93's key and body is refused before any stored
    answer; another holder of a 93 token with the same key acts anew (its own command)."""
    other_93 = {"tok-prefecture-93-bis": TokenGrant(role="prefecture", departement="93",
                                                    subject="pref-93-bis")}
    settings = service_settings(FundingSettings, tokens={**TOKENS, **other_93})
    async with in_memory(definition, settings) as running:
        service = Funding(running)
        a = (await service.funded_cite())["allocation_id"]
        key = {"Idempotency-Key": "engagement-2025-01"}
        first = await service.commit(a, 10_000_00, headers={**AS_PREFECTURE_93, **key})
        assert first.status_code == 201, first.text
        c = first.json()["commitment_id"]
        paid = await service.http.post(f"/commitments/{c}/payments", json={"amount": 1_00},
                                       headers={**AS_PREFECTURE_93, **key})
        cofinancing = {"year": 2025, "funder": "Commune de Bondy", "amount": 1_00}
        declared = await service.http.post("/cites/cite-001/cofinancing", json=cofinancing,
                                           headers={**AS_PREFECTURE_93, **key})
        assert (paid.status_code, declared.status_code) == (201, 201)
        before = await service.ledger_balanced()

        stolen = {**AS_PREFECTURE_69, **key}
        for r in [await service.commit(a, 10_000_00, headers=stolen),
                  await service.http.post(f"/commitments/{c}/payments",
                                          json={"amount": 1_00}, headers=stolen),
                  await service.http.post("/cites/cite-001/cofinancing", json=cofinancing,
                                          headers=stolen)]:
            assert r.status_code == 403, r.text
            assert "département 93" in r.json()["detail"]
        assert (await service.ledger_balanced())["movements"] == before["movements"]

        again = await service.commit(a, 10_000_00, headers={**AS_PREFECTURE_93, **key})
        assert again.status_code == 200 and again.json()["commitment_id"] == c
        own = await service.commit(a, 10_000_00, headers={
            **bearer("tok-prefecture-93-bis"), **key})
        assert own.status_code == 201 and own.json()["commitment_id"] != c
        assert len(await service.outbox("FundsCommitted")) == 2
        assert len(await service.outbox("PaymentMade")) == 1
        assert len(await service.outbox("CoFinancingDeclared")) == 1
