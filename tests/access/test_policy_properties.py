"""Properties of the policy and of masking, over many division codes and numbers."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tongban.access.domain import (
    PREFIX_DIGITS,
    Allow,
    Grant,
    Principal,
    PrincipalKind,
    Scope,
    Target,
    decide,
)
from tongban.access.masking import mask_id, mask_phone

codes = st.from_regex(r"[1-6][0-9]{5}", fullmatch=True)
TERRITORIAL = [Scope.COUNTY, Scope.PREFECTURE, Scope.PROVINCE, Scope.NATION]


def system(scope: Scope, division: str) -> Principal:
    return Principal(
        id="t",
        kind=PrincipalKind.SYSTEM,
        role=None,
        display_name="s",
        node="110000",
        division_code=division,
        token_grants=(Grant("registry.person.read", scope),),
    )


@given(here=codes, there=codes, scope=st.sampled_from(TERRITORIAL))
def test_territorial_scope_is_a_prefix_match(here: str, there: str, scope: Scope) -> None:
    allowed = isinstance(
        decide(system(scope, here), "registry.person.read", Target(division_code=there)), Allow
    )
    digits = PREFIX_DIGITS[scope]
    assert allowed == (here[:digits] == there[:digits])


@given(here=codes, there=codes, narrow=st.sampled_from(TERRITORIAL), wide=st.sampled_from(TERRITORIAL))
def test_a_wider_scope_allows_at_least_as_much(here: str, there: str, narrow: Scope, wide: Scope) -> None:
    if wide < narrow:
        narrow, wide = wide, narrow
    target = Target(division_code=there)
    if isinstance(decide(system(narrow, here), "registry.person.read", target), Allow):
        assert isinstance(decide(system(wide, here), "registry.person.read", target), Allow)


@given(
    here=codes,
    scope=st.sampled_from(TERRITORIAL),
    action=st.from_regex(r"[a-z]{1,8}\.[a-z]{1,8}\.[a-z]{1,8}", fullmatch=True),
)
def test_nothing_beyond_the_granted_action(here: str, scope: Scope, action: str) -> None:
    if action != "registry.person.read":
        assert not isinstance(decide(system(scope, here), action), Allow)


@given(
    area=codes,
    birth=st.from_regex(r"(19|20)[0-9]{2}(0[1-9]|1[0-2])(0[1-9]|1[0-9]|2[0-8])", fullmatch=True),
    tail=st.from_regex(r"[0-9]{3}[0-9X]", fullmatch=True),
)
def test_masked_ids_hide_the_birth_date(area: str, birth: str, tail: str) -> None:
    number = area + birth + tail
    masked = mask_id(number)
    assert len(masked) == 18 and masked.startswith(area) and masked.endswith(tail)
    assert birth not in masked and masked[6:14] == "*" * 8


@given(phone=st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True))
def test_masked_phones_keep_three_and_four(phone: str) -> None:
    masked = mask_phone(phone)
    assert masked[:3] == phone[:3] and masked[-4:] == phone[-4:] and masked[3:7] == "****"
