"""Identifiers as the administrations write them: UAI with its check letter, SIREN/SIRET
passing Luhn, QPV codes of the 2015 and 2024 lists. Each is checked by
``cites_contracts.types`` too; the UAI's check letter (which the contracts do not verify)
is the RNE's own."""

from __future__ import annotations

import random

from cites_contracts.types import is_luhn_valid

__all__ = ["UAI_LETTERS", "qpv_code", "qpv_code_2015", "siret", "uai", "uai_check_letter",
           "uai_prefix"]

UAI_LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"
"""The RNE's 23 check letters (no I, O, Q): the letter is the 7 digits modulo 23."""


def uai_check_letter(digits: str) -> str:
    """The check letter of a UAI's 7 digits."""
    if len(digits) != 7 or not digits.isdigit():
        raise ValueError(f"a UAI has 7 digits before its letter, not {digits!r}")
    return UAI_LETTERS[int(digits) % 23]


def uai_prefix(departement: str) -> str:
    """The 3 digits a UAI starts with in a département: 069 for the Rhône, 620 and 720 for
    Corse-du-Sud and Haute-Corse, 971–976 overseas."""
    if departement == "2A":
        return "620"
    if departement == "2B":
        return "720"
    return departement if len(departement) == 3 else f"0{departement}"


def uai(departement: str, number: int) -> str:
    """The UAI numbered ``number`` (0–9999) of the département, with its check letter."""
    digits = f"{uai_prefix(departement)}{number:04d}"
    return digits + uai_check_letter(digits)


def qpv_code(departement: str, order: int) -> str:
    """The ``order``-th (0–2599) QPV code of the département in the 2024 format:
    ``QN`` + département on 3 characters + 2-digit order + a letter."""
    dept3 = departement if len(departement) == 3 else f"0{departement}"
    return f"QN{dept3}{order % 100:02d}{chr(ord('A') + order // 100 % 26)}"


def qpv_code_2015(departement: str, order: int) -> str:
    """The ``order``-th (0–999) QPV code of the département in the 2015 format (the 2019–2023
    perimeters'): ``QP`` + département on 3 characters + 3-digit order."""
    dept3 = departement if len(departement) == 3 else f"0{departement}"
    return f"QP{dept3}{order % 1000:03d}"


def _luhn_complete(prefix: str) -> str:
    """``prefix`` followed by the digit that makes the whole pass Luhn."""
    for digit in "0123456789":
        if is_luhn_valid(prefix + digit):
            return prefix + digit
    raise AssertionError("unreachable: one digit always completes a Luhn number")


def siret(rng: random.Random) -> str:
    """A SIRET whose SIREN and whole number both pass Luhn (not La Poste's SIREN)."""
    while True:
        siren = _luhn_complete(f"{rng.randrange(10**7, 10**8):08d}")
        if not siren.startswith("356000000"):
            break
    return _luhn_complete(siren + f"{rng.randrange(1, 10**4):04d}")
