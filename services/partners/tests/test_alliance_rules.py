"""The alliance's rules, without I/O: roles, the one collège chef de file, the label's life,
and the events each command causes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st
from partners.domain import Alliance, AllianceStatus, Member, Partner, PartnerDetails
from partners_kit import (
    expired,
    extended,
    labelled,
    reinstated,
    renewed,
    school,
    suspended,
    withdrawn,
)

from cites_contracts.events.partners import (
    AllianceClosed,
    AllianceOpened,
    ChefDeFileDesignated,
    PartnerJoinedAlliance,
    PartnerLeftAlliance,
)
from cites_contracts.types import AllianceClosureReason, AllianceRole, PartnerKind
from cites_runtime.errors import Conflict, NotFound, RuleBroken

AT = datetime(2025, 3, 1, tzinfo=UTC)
LATER = AT + timedelta(days=2)
CHEF = AllianceRole.CHEF_DE_FILE
_UAIS = iter(f"0930{n:03d}Z" for n in range(1000))


def partner(kind: PartnerKind, name: str = "P") -> Partner:
    uai = next(_UAIS) if kind in (PartnerKind.COLLEGE, PartnerKind.LYCEE) else None
    return Partner(uuid4(), PartnerDetails(kind, name, uai=uai), AT, AT)


def alliance(status: AllianceStatus = AllianceStatus.OPEN) -> tuple[Alliance, UUID]:
    lead = uuid4()
    members = [Member(lead, PartnerKind.COLLEGE, "Collège Jean Renoir", frozenset({CHEF}), AT,
                      "0930001A")]
    return Alliance.of("cite-001", "93", status, members), lead


def chefs(a: Alliance) -> list[UUID]:
    return [m.partner_id for m in a.members.values() if CHEF in m.roles]


def test_an_alliance_loaded_without_exactly_one_chef_de_file_is_refused() -> None:
    two = [Member(uuid4(), PartnerKind.COLLEGE, f"C{i}", frozenset({CHEF}), AT) for i in (1, 2)]
    with pytest.raises(AssertionError, match="2 chefs de file"):
        Alliance.of("cite-001", "93", AllianceStatus.OPEN, two)


def test_an_alliance_opens_with_its_lead_college_as_chef_de_file() -> None:
    lead = partner(PartnerKind.COLLEGE, "Collège Jean Renoir")
    a, (opened, designated) = Alliance.open("cite-001", "93", lead, AT)
    assert chefs(a) == [lead.partner_id] and a.status is AllianceStatus.OPEN
    assert opened == AllianceOpened(cite_id="cite-001", chef_de_file_partner_id=lead.partner_id,
                                    chef_de_file_uai=lead.details.uai, opened_at=AT)
    assert designated == ChefDeFileDesignated(cite_id="cite-001", partner_id=lead.partner_id,
                                              uai=lead.details.uai, designated_at=AT)


def test_a_lead_registered_as_another_kind_opens_nothing_and_says_what_to_do() -> None:
    lycee = partner(PartnerKind.LYCEE, "Cité scolaire Blanqui")
    with pytest.raises(Conflict, match=f"UAI {lycee.details.uai} is registered as lycée") as no:
        Alliance.open("cite-001", "93", lycee, AT)
    assert f"PATCH /partners/{lycee.partner_id} with kind 'college'" in no.value.message


def test_a_lead_college_already_chef_de_file_of_an_open_alliance_opens_nothing() -> None:
    lead = partner(PartnerKind.COLLEGE, "Collège Jean Renoir")
    with pytest.raises(Conflict) as no:
        Alliance.open("cite-002", "93", lead, AT, leads="cite-001")
    assert f"UAI {lead.details.uai}" in no.value.message
    assert "already chef de file of alliance cite-001" in no.value.message
    assert "PUT /alliances/cite-001/chef-de-file" in no.value.message
    assert "replay the dead letter" in no.value.message


def test_a_college_already_chef_de_file_of_an_open_alliance_is_not_designated_again() -> None:
    a, lead = alliance()
    other = partner(PartnerKind.COLLEGE, "Collège Pablo Picasso")
    a.join(other, [AllianceRole.STEERING_COMMITTEE], AT)
    with pytest.raises(Conflict) as no:
        a.designate_chef_de_file(other.partner_id, LATER, leads="cite-007")
    assert f"collège 'Collège Pablo Picasso' (UAI {other.details.uai})" in no.value.message
    assert "already chef de file of alliance cite-007" in no.value.message
    assert "PUT /alliances/cite-007/chef-de-file" in no.value.message
    assert chefs(a) == [lead]
    assert a.members[other.partner_id].roles == {AllianceRole.STEERING_COMMITTEE}


def test_the_alliance_a_college_leads_may_designate_it_again_which_changes_nothing() -> None:
    a, lead = alliance()
    assert a.designate_chef_de_file(lead, LATER, leads=a.cite_id) is None
    assert chefs(a) == [lead]


def test_changing_the_chef_de_file_moves_the_role_and_keeps_the_previous_as_member() -> None:
    a, lead = alliance()
    other = partner(PartnerKind.COLLEGE, "Collège Pablo Picasso")
    a.join(other, [AllianceRole.STEERING_COMMITTEE], AT)
    designated = a.designate_chef_de_file(other.partner_id, LATER)
    assert designated == ChefDeFileDesignated(
        cite_id="cite-001", partner_id=other.partner_id, uai=other.details.uai,
        previous_partner_id=lead, designated_at=LATER)
    assert chefs(a) == [other.partner_id]
    assert a.members[lead].roles == frozenset()
    assert a.members[other.partner_id].roles == {CHEF, AllianceRole.STEERING_COMMITTEE}


def test_designating_the_current_chef_de_file_changes_nothing() -> None:
    a, lead = alliance()
    assert a.designate_chef_de_file(lead, LATER) is None
    assert chefs(a) == [lead]


def test_the_chef_de_file_must_be_a_collège_already_member() -> None:
    a, _ = alliance()
    stranger, lycee = uuid4(), partner(PartnerKind.LYCEE, "Lycée Jean Jaurès")
    a.join(lycee, [AllianceRole.FUNDER], AT)
    with pytest.raises(Conflict, match="joins first"):
        a.designate_chef_de_file(stranger, LATER)
    with pytest.raises(RuleBroken, match="must be a collège") as broken:
        a.designate_chef_de_file(lycee.partner_id, LATER)
    assert (broken.value.failures[0].field, broken.value.failures[0].rule) == (
        "partner_id", "chef_de_file_is_a_college")


def test_joining_tells_who_joined_with_which_roles() -> None:
    a, _ = alliance()
    asso = partner(PartnerKind.ASSOCIATION, "Asso")
    joined = a.join(asso, [AllianceRole.FUNDER, AllianceRole.ACTION_OPERATOR], LATER)
    member = a.members[asso.partner_id]
    assert (member.partner_id, member.joined_at) == (asso.partner_id, LATER)
    assert joined == PartnerJoinedAlliance(
        cite_id="cite-001", partner_id=asso.partner_id, partner_kind=PartnerKind.ASSOCIATION,
        roles=(AllianceRole.ACTION_OPERATOR, AllianceRole.FUNDER), joined_at=LATER)


def test_no_one_joins_as_chef_de_file_and_no_one_joins_twice() -> None:
    a, _ = alliance()
    college, asso = partner(PartnerKind.COLLEGE, "C"), partner(PartnerKind.ASSOCIATION, "Asso")
    with pytest.raises(RuleBroken) as as_chef:
        a.join(college, [CHEF], AT)
    with pytest.raises(RuleBroken) as without_role:
        a.join(college, [], AT)
    a.join(asso, [AllianceRole.ACTION_OPERATOR], AT)
    with pytest.raises(Conflict, match="already a member"):
        a.join(asso, [AllianceRole.FUNDER], AT)
    assert as_chef.value.failures[0].rule == "chef_de_file_is_designated"
    assert without_role.value.failures[0].rule == "role_required"


def test_the_chef_de_file_cannot_leave_and_a_stranger_cannot_either() -> None:
    a, lead = alliance()
    with pytest.raises(Conflict, match="designate another collège first"):
        a.leave(lead, None, LATER)
    with pytest.raises(NotFound):
        a.leave(uuid4(), None, LATER)
    assert chefs(a) == [lead]


def test_leaving_tells_who_left_and_why() -> None:
    a, _ = alliance()
    asso = partner(PartnerKind.ASSOCIATION)
    a.join(asso, [AllianceRole.FUNDER], AT)
    left = a.leave(asso.partner_id, "Fin du projet", LATER)
    assert left == PartnerLeftAlliance(cite_id="cite-001", partner_id=asso.partner_id,
                                       motive="Fin du projet", left_at=LATER)
    assert asso.partner_id not in a.members


def test_a_suspended_alliance_takes_no_new_member_until_its_label_is_reinstated() -> None:
    a, _ = alliance()
    a.suspend(AT)
    a.suspend(LATER)  # changes nothing
    assert (a.status, a.suspended_at) == (AllianceStatus.SUSPENDED, AT)
    with pytest.raises(Conflict, match="suspended"):
        a.join(partner(PartnerKind.CAF, "CAF"), [AllianceRole.FUNDER], AT)
    a.reinstate()
    a.reinstate()  # changes nothing
    assert (a.status, a.suspended_at) == (AllianceStatus.OPEN, None)
    a.join(partner(PartnerKind.CAF, "CAF"), [AllianceRole.FUNDER], AT)
    assert len(a.members) == 2


def test_a_closed_alliance_keeps_its_members_and_no_longer_changes() -> None:
    a, lead = alliance()
    member = partner(PartnerKind.CAF, "CAF")
    a.join(member, [AllianceRole.FUNDER], AT)
    closed = a.close(AllianceClosureReason.LABEL_EXPIRED, LATER)
    assert closed == AllianceClosed(cite_id="cite-001",
                                    reason=AllianceClosureReason.LABEL_EXPIRED, closed_at=LATER)
    assert a.close(AllianceClosureReason.LABEL_WITHDRAWN, LATER) is None
    a.suspend(LATER)
    a.reinstate()
    assert (a.status, a.closed_at, a.closure_reason, a.suspended_at) == (
        AllianceStatus.CLOSED, LATER, AllianceClosureReason.LABEL_EXPIRED, None)
    with pytest.raises(Conflict, match="closed"):
        a.leave(member.partner_id, None, LATER)
    with pytest.raises(Conflict, match="closed"):
        a.designate_chef_de_file(lead, LATER)
    assert set(a.members) == {lead, member.partner_id}


def test_an_alliance_follows_its_label_s_life_and_announces_its_closure_once() -> None:
    a, _ = alliance()
    label, renewal, added = labelled(), renewed(), school("0930101A")
    assert a.follow(extended(label, added), AT) is None
    assert a.follow(renewal, AT) is None
    assert a.follow(suspended(), AT) is None
    while_suspended = (a.status, a.suspended_at)
    assert a.follow(reinstated(), LATER) is None
    reinstated_as = (a.status, a.suspended_at)
    closed = a.follow(withdrawn(), LATER)
    assert a.follow(expired(), LATER + timedelta(days=1)) is None
    assert a.schools == (*label.perimeter.schools, added)
    assert a.label_end == renewal.label_period.end
    assert while_suspended == (AllianceStatus.SUSPENDED, AT)
    assert reinstated_as == (AllianceStatus.OPEN, None)
    assert closed == AllianceClosed(cite_id="cite-001",
                                    reason=AllianceClosureReason.LABEL_WITHDRAWN, closed_at=LATER)
    assert (a.status, a.closed_at, a.closure_reason) == (
        AllianceStatus.CLOSED, LATER, AllianceClosureReason.LABEL_WITHDRAWN)


_KINDS = st.sampled_from([PartnerKind.COLLEGE, PartnerKind.ASSOCIATION, PartnerKind.COMMUNE])
_ROLES = st.sets(st.sampled_from([r for r in AllianceRole if r is not CHEF]), min_size=1)
_STEPS = st.lists(st.tuples(st.sampled_from(["join", "leave", "designate", "suspend",
                                             "reinstate"]),
                            st.integers(0, 5), _KINDS, _ROLES), max_size=40)


@given(_STEPS)
def test_whatever_happens_an_alliance_has_exactly_one_chef_de_file(
    steps: list[tuple[str, int, PartnerKind, set[AllianceRole]]],
) -> None:
    a, _ = alliance()
    ids = [uuid4() for _ in range(6)]
    for action, n, kind, roles in steps:
        try:
            if action == "join":
                uai = "0930999Z" if kind is PartnerKind.COLLEGE else None
                a.join(Partner(ids[n], PartnerDetails(kind, f"P{n}", uai=uai), AT, AT), roles,
                       AT)
            elif action == "leave":
                a.leave(ids[n], None, AT)
            elif action == "designate":
                a.designate_chef_de_file(ids[n], AT)
            elif action == "suspend":
                a.suspend(AT)
            else:
                a.reinstate()
        except (Conflict, NotFound, RuleBroken):
            pass  # refused steps change nothing
        assert len(chefs(a)) == 1
        assert a.chef_de_file.kind is PartnerKind.COLLEGE
