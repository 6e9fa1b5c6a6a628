"""What a submission group reads once for all of its submissions (see ``submissions``).

Alone, a submission asks the database three things, a statement each: was its
Idempotency-Key used before, what is its enterprise's credit status, and which serial its
project code gets. A group of 30 asked 90 times, each a round trip made while it holds the
writer connection (on SQLite the only one, which the outbox relay and the decision consumer
wait for). Here the group asks once: the keys and the credit statuses in one query each, and
the serials of every code prefix in one upsert that adds as many as the group needs and
returns the last, handed out in the group's order.

The answers are those each submission would have read in the same transaction: nothing of the
group is committed before all of it is, and a key two submissions of one group share still
breaks the group's commit, after which each submission runs alone, as before. Serials are
taken only for the submissions that will be stored (no replayed key, admitted credit), so the
codes have no gaps they would not have had, with one exception: when the month turns during a
group, its submissions take serials of the new month's prefix with their own upserts, and the
ones taken for the old month stay unused (a gap, never a reuse).
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from approval_svc.domain.commands import SubmitProject
from approval_svc.domain.credit import CreditStanding, admit
from approval_svc.domain.errors import DomainError
from approval_svc.domain.identifiers import code_prefix
from approval_svc.registers_repository import (
    SqlCreditStandings,
    SqlIdempotencyKeys,
    SqlSequences,
)
from shared.outbox import UnitOfWork as OutboxUnitOfWork


@dataclass(slots=True)
class Prefetched:
    """A group's answers; the repositories of its submissions read from it first."""

    # (owner, key) looked up -> (fingerprint, first response), or None: never used.
    keys: dict[tuple[str, str], tuple[str, dict[str, Any]] | None] = field(default_factory=dict)
    credit: dict[str, CreditStanding | None] = field(default_factory=dict)  # per code asked
    serials: dict[str, deque[int]] = field(default_factory=dict)  # prefix -> serials to give

    def key_use(self, owner: str, key: str) -> tuple[bool, tuple[str, dict[str, Any]] | None]:
        """(known, (fingerprint, first response) or None)."""
        wanted = (owner, key)
        return wanted in self.keys, self.keys.get(wanted)

    def next_serial(self, prefix: str) -> int | None:
        reserved = self.serials.get(prefix)
        return reserved.popleft() if reserved else None


async def prefetch(
    outbox: OutboxUnitOfWork, commands: Sequence[SubmitProject], *, month: date
) -> Prefetched:
    """Read the keys and credit statuses of `commands` and take the serials they will use."""
    session = outbox.session
    known = Prefetched()
    known.keys = await SqlIdempotencyKeys(session, outbox).get_many(
        {(c.credit_code, c.idempotency.key) for c in commands if c.idempotency is not None}
    )
    known.credit = await SqlCreditStandings(session).get_many({c.credit_code for c in commands})
    needed = serials_needed(commands, known, month=month)
    if needed:
        known.serials = await SqlSequences(session, outbox).take_project_serials(needed)
    return known


def serials_needed(
    commands: Sequence[SubmitProject], known: Prefetched, *, month: date
) -> Counter[str]:
    """How many serials each code prefix needs: one per submission that will be stored."""
    needed: Counter[str] = Counter()
    for command in commands:
        if command.idempotency is not None:
            _, used = known.key_use(command.credit_code, command.idempotency.key)
            if used is not None:
                continue  # answered again (or refused: the key is reused), never stored
        try:
            admit(command.credit_code, known.credit.get(command.credit_code))
            prefix = code_prefix(
                month, command.region_code, command.industry_code, command.procedure
            )
        except (DomainError, ValueError):
            continue  # refused before its serial is taken
        needed[prefix] += 1
    return needed
