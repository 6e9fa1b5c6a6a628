"""Joint punishment: what an enterprise's credit status means for a new submission.

Supervision decides the statuses and publishes each change (``credit.status.changed``); this
service keeps its own view of them from that stream (never a call into supervision), and the
rule here decides what a submission by an enterprise in each status gets:

* ``dishonest`` (on the public dishonest list): refused, nothing is created;
* ``abnormal``: accepted, but the project and each of its tasks carry ``credit_flag:
  "abnormal"`` so that every department reviewing it sees it;
* ``normal`` (or never heard of): accepted with no flag.

Events may arrive late or twice: the view keeps, per enterprise, the change with the newest
``changed_at``; an older change never overwrites a newer one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from approval_svc.domain.errors import DishonestEnterprise

DISHONEST_LIST = "the public dishonest list (GET /api/v1/public/credit/dishonest)"


class CreditStatus(StrEnum):
    NORMAL = "normal"
    ABNORMAL = "abnormal"
    DISHONEST = "dishonest"


class CreditFlag(StrEnum):
    ABNORMAL = "abnormal"


@dataclass(frozen=True, slots=True)
class CreditStanding:
    """The last known credit status of one enterprise, as of ``changed_at``."""

    credit_code: str
    status: CreditStatus
    changed_at: datetime

    def superseded_by(self, other: CreditStanding) -> bool:
        """Whether ``other`` is a later change than this one (so it replaces it)."""
        return other.changed_at > self.changed_at


def newest(current: CreditStanding | None, incoming: CreditStanding) -> CreditStanding | None:
    """The standing to store after ``incoming`` arrived, or None when ``current`` stays."""
    if current is None or current.superseded_by(incoming):
        return incoming
    return None


def admit(credit_code: str, standing: CreditStanding | None) -> CreditFlag | None:
    """The flag a new submission of ``credit_code`` carries; ``DishonestEnterprise`` if it is
    refused."""
    status = standing.status if standing is not None else CreditStatus.NORMAL
    if status is CreditStatus.DISHONEST:
        raise DishonestEnterprise(
            f"enterprise {credit_code} is on {DISHONEST_LIST} since "
            f"{standing.changed_at.isoformat() if standing else 'unknown'}: "
            "its submissions are refused (joint punishment)",
            field="credit_code",
        )
    if status is CreditStatus.ABNORMAL:
        return CreditFlag.ABNORMAL
    return None
