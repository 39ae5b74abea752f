"""The alliance's rules, without I/O: roles, the one collège chef de file, the label's life."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID, uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st
from partners.domain import Alliance, AllianceStatus, Conflict, Member, NotFound, RuleBroken

from cites_contracts.types import AllianceRole, PartnerKind

AT = datetime(2025, 3, 1, tzinfo=UTC)
CHEF = AllianceRole.CHEF_DE_FILE


def alliance(status: AllianceStatus = AllianceStatus.OPEN) -> tuple[Alliance, UUID]:
    lead = uuid4()
    members = [Member(lead, PartnerKind.COLLEGE, "Collège Jean Renoir", frozenset({CHEF}), AT)]
    return Alliance.of("cite-001", "93", status, members), lead


def chefs(a: Alliance) -> list[UUID]:
    return [m.partner_id for m in a.members.values() if CHEF in m.roles]


def test_an_alliance_loaded_without_exactly_one_chef_de_file_is_refused() -> None:
    two = [Member(uuid4(), PartnerKind.COLLEGE, f"C{i}", frozenset({CHEF}), AT) for i in (1, 2)]
    with pytest.raises(AssertionError, match="2 chefs de file"):
        Alliance.of("cite-001", "93", AllianceStatus.OPEN, two)


def test_changing_the_chef_de_file_moves_the_role_and_keeps_the_previous_as_member() -> None:
    a, lead = alliance()
    other = uuid4()
    a.join(other, PartnerKind.COLLEGE, "Collège Pablo Picasso",
           [AllianceRole.STEERING_COMMITTEE], AT)
    previous = a.designate_chef_de_file(other)
    assert previous is not None and previous.partner_id == lead
    assert chefs(a) == [other]
    assert a.members[lead].roles == frozenset()
    assert a.members[other].roles == {CHEF, AllianceRole.STEERING_COMMITTEE}


def test_designating_the_current_chef_de_file_changes_nothing() -> None:
    a, lead = alliance()
    assert a.designate_chef_de_file(lead) is None
    assert chefs(a) == [lead]


def test_the_chef_de_file_must_be_a_collège_already_member() -> None:
    a, _ = alliance()
    stranger, lycee = uuid4(), uuid4()
    a.join(lycee, PartnerKind.LYCEE, "Lycée Jean Jaurès", [AllianceRole.FUNDER], AT)
    with pytest.raises(Conflict, match="joins first"):
        a.designate_chef_de_file(stranger)
    with pytest.raises(RuleBroken, match="must be a collège") as broken:
        a.designate_chef_de_file(lycee)
    assert broken.value.rule == "chef_de_file_is_a_college"


def test_no_one_joins_as_chef_de_file_and_no_one_joins_twice() -> None:
    a, _ = alliance()
    partner = uuid4()
    with pytest.raises(RuleBroken) as as_chef:
        a.join(partner, PartnerKind.COLLEGE, "C", [CHEF], AT)
    a.join(partner, PartnerKind.ASSOCIATION, "Asso", [AllianceRole.ACTION_OPERATOR], AT)
    with pytest.raises(Conflict, match="already a member"):
        a.join(partner, PartnerKind.ASSOCIATION, "Asso", [AllianceRole.FUNDER], AT)
    assert as_chef.value.rule == "chef_de_file_is_designated"


def test_the_chef_de_file_cannot_leave_and_a_stranger_cannot_either() -> None:
    a, lead = alliance()
    with pytest.raises(Conflict, match="designate another collège first"):
        a.leave(lead)
    with pytest.raises(NotFound):
        a.leave(uuid4())
    assert chefs(a) == [lead]


def test_a_suspended_alliance_takes_no_new_member_until_its_label_is_reinstated() -> None:
    a, _ = alliance()
    assert a.suspend() and not a.suspend()
    with pytest.raises(Conflict, match="suspended"):
        a.join(uuid4(), PartnerKind.CAF, "CAF", [AllianceRole.FUNDER], AT)
    assert a.reinstate() and not a.reinstate()
    a.join(uuid4(), PartnerKind.CAF, "CAF", [AllianceRole.FUNDER], AT)
    assert len(a.members) == 2


def test_a_closed_alliance_keeps_its_members_and_no_longer_changes() -> None:
    a, lead = alliance()
    member = uuid4()
    a.join(member, PartnerKind.CAF, "CAF", [AllianceRole.FUNDER], AT)
    assert a.close() and not a.close()
    assert not a.suspend() and not a.reinstate()
    with pytest.raises(Conflict, match="closed"):
        a.leave(member)
    with pytest.raises(Conflict, match="closed"):
        a.designate_chef_de_file(lead)
    assert set(a.members) == {lead, member}


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
    partners = [uuid4() for _ in range(6)]
    for action, n, kind, roles in steps:
        try:
            if action == "join":
                a.join(partners[n], kind, f"P{n}", roles, AT)
            elif action == "leave":
                a.leave(partners[n])
            elif action == "designate":
                a.designate_chef_de_file(partners[n])
            elif action == "suspend":
                a.suspend()
            else:
                a.reinstate()
        except (Conflict, NotFound, RuleBroken):
            pass  # refused steps change nothing
        assert len(chefs(a)) == 1
        assert a.chef_de_file.kind is PartnerKind.COLLEGE
