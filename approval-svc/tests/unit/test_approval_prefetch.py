"""A submission group takes serials only for the submissions that will be stored."""

from __future__ import annotations

from collections import deque
from datetime import UTC, date, datetime

from approval_svc.domain.commands import IdempotencyKey
from approval_svc.domain.credit import CreditStanding, CreditStatus
from approval_svc.domain.identifiers import code_prefix
from approval_svc.prefetch import Prefetched, serials_needed

from approval_world import CREDIT, OTHER_CREDIT, submission

MARCH = date(2026, 3, 2)
CHANGED = datetime(2026, 1, 5, tzinfo=UTC)


def _prefix(procedure: str = "verification") -> str:
    return code_prefix(MARCH, "440300", "G5411", procedure)


def test_each_new_submission_needs_one_serial_of_its_prefix() -> None:
    commands = [submission(), submission(), submission(procedure="approval")]
    known = Prefetched(credit={CREDIT: None})

    needed = serials_needed(commands, known, month=MARCH)

    assert needed == {_prefix(): 2, _prefix("approval"): 1}


def test_replayed_keys_and_refused_enterprises_need_none() -> None:
    used = IdempotencyKey("used", "fp")
    fresh = IdempotencyKey("fresh", "fp")
    commands = [
        submission(key=used),  # answered again
        submission(key=IdempotencyKey("used", "other body")),  # refused: the key is reused
        submission(key=fresh),  # a key never seen: stored
        submission(credit=OTHER_CREDIT),  # a dishonest enterprise: refused
    ]
    known = Prefetched(
        keys={(CREDIT, "used"): ("fp", {"project_code": "x"}), (CREDIT, "fresh"): None},
        credit={
            CREDIT: CreditStanding(CREDIT, CreditStatus.ABNORMAL, CHANGED),  # flagged, admitted
            OTHER_CREDIT: CreditStanding(OTHER_CREDIT, CreditStatus.DISHONEST, CHANGED),
        },
    )

    assert serials_needed(commands, known, month=MARCH) == {_prefix(): 1}


def test_serials_are_handed_out_in_order_then_the_repository_asks_itself() -> None:
    known = Prefetched(serials={_prefix(): deque([7, 8])})

    assert [known.next_serial(_prefix()) for _ in range(3)] == [7, 8, None]
    assert known.next_serial(_prefix("approval")) is None
