"""Strict validation, the decoder's fast path, changes nothing anyone can observe.

Codes validate strictly by their pattern in pydantic-core (no Python); the tests prove, on
generated inputs, that strict mode accepts exactly the values lax validation keeps as they
are, that lax validation still decides as the validators did before, and that a record
decodes to what a plain ``model_validate(json.loads(value))`` of its contract gives.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from cites_contracts import Envelope, EventSpec, decode, encode, registry
from cites_contracts.envelope import envelope_model
from cites_contracts.events import TerritoryLabelled
from cites_contracts.testing import envelopes, payloads
from cites_contracts.types import Departement, InseeCode, QpvCode, Uai

# --- Reference: the code validators as they were before strict decoding ----------------
# Copied from cites_contracts/types.py at 6f0b606 (issue #13), messages left out: lax
# validation must still accept, normalise and refuse (naming the same rule) as these do.


class Refused(Exception):
    def __init__(self, rule: str):
        super().__init__(rule)
        self.rule = rule


def _text(value: str) -> str:
    return value.strip().upper()


_DEPARTEMENT_SET = frozenset(
    (
        *(f"{n:02d}" for n in range(1, 20)),
        "2A",
        "2B",
        *(f"{n:02d}" for n in range(21, 96)),
        *(str(n) for n in range(971, 977)),
        "978",
    )
)


def ref_departement(value: str) -> str:
    code = _text(value)
    if code == "20" or code not in _DEPARTEMENT_SET:
        raise Refused("departement")
    return code


def ref_insee(value: str) -> str:
    code = _text(value)
    if len(code) != 5 or code.startswith("20"):
        raise Refused("insee_code")
    dept = code[:3] if code.startswith("97") else code[:2]
    rest = code[len(dept) :]
    if dept not in _DEPARTEMENT_SET or not rest.isdigit() or not rest.isascii():
        raise Refused("insee_code")
    return code


_QPV = re.compile(r"QN(?P<dept>[0-9]{3}|02[AB])(?P<order>[0-9]{2})[A-Z]"
                  r"|QP(?P<dept2015>[0-9]{3}|02[AB])[0-9]{3}")


def ref_qpv(value: str) -> str:
    code = _text(value)
    match = _QPV.fullmatch(code)
    dept3 = (match["dept"] or match["dept2015"]) if match else ""
    if match is None or (dept3[1:] if dept3.startswith("0") else dept3) not in _DEPARTEMENT_SET:
        raise Refused("qpv_code")
    return code


_UAI = re.compile(r"[0-9]{7}[A-Z]")


def ref_uai(value: str) -> str:
    code = _text(value)
    if not _UAI.fullmatch(code):
        raise Refused("uai")
    return code


# --- Generated inputs: canonical codes, near misses and any text ----------------------

_DEPTS = r"(0[1-9]|1[0-9]|2[0-9ABC]|[3-9][0-9]|97[0-9])"
"""Départements and their near misses (20, 2C, 96–99, 970, 977…)."""

CASES: dict[str, tuple[Any, Callable[[str], str], str]] = {
    "departement": (Departement, ref_departement, _DEPTS),
    "insee_code": (InseeCode, ref_insee, rf"({_DEPTS}[0-9]{{2,3}}|20[0-9]{{3}})"),
    "qpv_code": (QpvCode, ref_qpv, rf"Q[NP]0?{_DEPTS}[0-9]{{2}}[A-Z0-9]{{1,2}}"),
    "uai": (Uai, ref_uai, r"[0-9]{6,8}[A-Za-z0-9]"),
}

# Characters where Python and pydantic-core (Rust) differ: what str.strip() removes and
# Rust's trim keeps (U+001C–U+001F), letters whose upper case is ASCII (ı → I, ſ → S, and
# ligatures: ß → SS, ﬁ → FI), digits str.isdigit() accepts, full-width forms.
_TRICKY = " \t\n\x0b\x0c\r\x1c\x1d\x1e\x1f\x85\xa0\u2003\u3000ıſßﬁﬀ²٣０Ａａ\x00"


def _near_misses(canonical: str) -> st.SearchStrategy[str]:
    return st.text(alphabet=st.characters(codec="utf-8") | st.sampled_from(_TRICKY),
                   max_size=3).flatmap(
        lambda pad: st.sampled_from([
            canonical.lower(),
            pad + canonical,
            canonical + pad,
            pad + canonical.lower() + pad,
            canonical[:-1] + pad,
            pad + canonical[1:],
            canonical[:2] + pad + canonical[2:],
            canonical.replace("I", "ı").replace("S", "ſ"),
            canonical.lower().replace("i", "ı").replace("s", "ſ"),
        ])
    )


def inputs(shape: str) -> st.SearchStrategy[str]:
    canonical = st.from_regex(shape, fullmatch=True)
    return st.one_of(
        canonical,
        canonical.flatmap(_near_misses),
        st.text(max_size=12),
        st.text(alphabet=st.sampled_from("0123456789ABNQPanqp" + _TRICKY), max_size=10),
    )


def outcome(validate: Callable[[], str]) -> tuple[str, str]:
    try:
        return ("accepted", validate())
    except ValidationError as exc:
        return ("refused", exc.errors()[0]["type"])
    except Refused as exc:
        return ("refused", exc.rule)


@pytest.mark.parametrize("rule", list(CASES))
@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_strict_accepts_exactly_the_values_lax_validation_keeps_as_they_are(
    rule: str, data: st.DataObject
) -> None:
    tp, reference, shape = CASES[rule]
    value = data.draw(inputs(shape), label="value")
    adapter = TypeAdapter(tp)
    before = outcome(lambda: reference(value))

    assert outcome(lambda: adapter.validate_python(value)) == before  # lax: as before
    canonical = before == ("accepted", value)
    strictly = outcome(lambda: adapter.validate_python(value, strict=True))
    assert strictly == (("accepted", value) if canonical else ("refused", rule))
    as_json = json.dumps(value)
    assert outcome(lambda: adapter.validate_json(as_json, strict=True)) == strictly


@pytest.mark.parametrize(
    ("tp", "value"),
    [(Uai, " 0751234a "), (Uai, "0751234ı"), (Uai, "\x1c0751234A"), (InseeCode, "2a004"),
     (QpvCode, "qn07501m"), (Departement, "2a\u3000")],
)
def test_lax_validation_still_normalises_what_strict_refuses(tp: Any, value: str) -> None:
    adapter = TypeAdapter(tp)
    normalised = adapter.validate_python(value)
    assert normalised != value
    with pytest.raises(ValidationError):
        adapter.validate_python(value, strict=True)
    assert adapter.validate_python(normalised, strict=True) == normalised


# --- Whole events ---------------------------------------------------------------------


def reference_decode(value: bytes, spec: EventSpec) -> Envelope[Any]:
    """The plainest decoding of a record of ``spec``: JSON, then the envelope's model."""
    return envelope_model(spec.model).model_validate(json.loads(value))


@pytest.mark.parametrize("spec", registry.catalogue(), ids=lambda s: f"{s.type}.v{s.version}")
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_event_decodes_strictly_to_what_plain_validation_gives(
    spec: EventSpec, data: st.DataObject
) -> None:
    record = encode(data.draw(envelopes(spec), label="envelope"))
    expected = reference_decode(record.value, spec)

    assert decode(record.value, record.headers) == expected
    # What producers write passes strictly: the fast path is taken, not fallen back from.
    assert envelope_model(spec.model).model_validate_json(record.value, strict=True) == expected


_CODES = ("insee_code", "code", "uai", "lead_college_uai", "departement")


def _unnormalise(node: Any, mess: Callable[[str], str]) -> Any:
    if isinstance(node, dict):
        return {k: mess(v) if k in _CODES and isinstance(v, str) else _unnormalise(v, mess)
                for k, v in node.items()}
    if isinstance(node, list):
        return [_unnormalise(v, mess) for v in node]
    return node


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(labelled=payloads(TerritoryLabelled),
       mess=st.sampled_from([str.lower, lambda c: f" {c}\t", lambda c: f"\xa0{c.lower()}"]))
def test_a_record_with_codes_not_in_canonical_form_decodes_as_before(
    labelled: TerritoryLabelled, mess: Callable[[str], str]
) -> None:
    record = encode(Envelope.wrap(labelled, sequence=1))
    raw = _unnormalise(json.loads(record.value), mess)
    value = json.dumps(raw).encode()
    spec = TerritoryLabelled.spec
    with pytest.raises(ValidationError):  # strictly refused: the lax path decides
        envelope_model(TerritoryLabelled).model_validate_json(value, strict=True)

    decoded = decode(value, record.headers)

    assert decoded == reference_decode(value, spec)
    assert decoded.data == labelled  # normalised back to the canonical codes
