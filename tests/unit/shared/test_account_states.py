"""Which tokens an account's standing lets through, and what each process remembers."""

from __future__ import annotations

import asyncio

import pytest

from shared.auth.accounts import AccountGate, AccountState, refusal, revocation_time
from shared.auth.tokens import InvalidToken, Principal


def state(standing: str = "active", subject: str | None = "s1", after: int = 100) -> AccountState:
    return AccountState(
        username="ada",
        subject=subject,
        standing=standing,  # type: ignore[arg-type]
        tokens_valid_after=after,
        revision=3,
    )


@pytest.mark.parametrize(
    ("account", "sub", "iat", "refused"),
    [
        (None, "s1", 1, None),  # never changed: its tokens count
        (state(), "s1", 100, None),
        (state(), "s1", 99, "revoked"),  # issued before the cut-off
        (state(), "s2", 200, "earlier account"),  # another account of the name
        (state(subject=None), "s2", 200, None),  # its subject not known yet
        (state("disabled"), "s1", 200, "disabled"),
        (state("closed"), "s1", 200, "closed"),  # its own tokens, even fresh ones
        (state("closed"), "s2", 50, None),  # a later account of the name
        (state("closed", subject=None), "s2", 99, "closed"),
        (state("closed", subject=None), "s2", 100, None),
    ],
)
def test_refusal(account: AccountState | None, sub: str, iat: int, refused: str | None) -> None:
    reason = refusal(account, {"sub": sub, "iat": iat})
    assert (reason is None) == (refused is None)
    if refused is not None:
        assert refused in str(reason)


def test_a_token_without_iat_predates_every_cut_off() -> None:
    assert refusal(state(after=1), {"sub": "s1"}) is not None
    assert refusal(state(after=0), {"sub": "s1"}) is None


def test_the_cut_off_passes_every_token_issued_so_far() -> None:
    assert revocation_time(1000.0) == 1001
    assert revocation_time(1000.9) == 1001


def principal(sub: str = "s1", iat: int = 200) -> Principal:
    return Principal(username="ada", claims={"sub": sub, "iat": iat})


class Book:
    def __init__(self, account: AccountState | None) -> None:
        self.account, self.reads = account, 0

    def load(self, _principal: Principal) -> AccountState | None:
        self.reads += 1
        return self.account


def test_the_gate_remembers_for_ttl_and_forgets_on_demand() -> None:
    now = [0.0]
    book = Book(state())
    gate = AccountGate(book.load, ttl=1.0, clock=lambda: now[0])
    gate.check(principal())
    gate.check(principal())
    assert book.reads == 1
    book.account = state("disabled")
    gate.check(principal())  # still what it read: another process changed it
    now[0] = 1.5
    with pytest.raises(InvalidToken, match="disabled"):
        gate.check(principal())
    assert book.reads == 2
    book.account = state()
    gate.forget("ada")  # this process changed it
    asyncio.run(gate.check_async(principal()))
    assert book.reads == 3


def test_without_ttl_every_check_reads() -> None:
    book = Book(None)
    gate = AccountGate(book.load, ttl=0)
    for _ in range(3):
        gate.check(principal())
    assert book.reads == 3


def test_a_gate_that_knows_every_account_refuses_unknown_ones() -> None:
    gate = AccountGate(Book(None).load, ttl=1.0, require_account=True)
    with pytest.raises(InvalidToken, match="no such account"):
        gate.check(principal())


def test_what_would_be_recorded_is_read_again() -> None:
    book = Book(None)
    gate = AccountGate(book.load, ttl=60, writes=lambda account, _p: account is None)
    gate.check(principal())
    gate.check(principal())
    assert book.reads == 2
    book.account = state()
    gate.check(principal())
    gate.check(principal())
    assert book.reads == 3
