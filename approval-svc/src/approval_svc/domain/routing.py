"""Table-driven routing: which matters a submission needs.

The rules are data in the catalogue; this module only evaluates them. Output is the union of the
matters of every rule whose conditions all hold, without duplicates, in catalogue matter order
(so the same facts always produce the same list, whatever order the rules are written in).
An empty list means nothing needs approval: for a filing project the service marks it filed.
"""

from __future__ import annotations

from decimal import Decimal

from approval_svc.domain.catalogue import Catalogue, Condition, RoutingRule
from approval_svc.domain.facts import SubmissionFacts

__all__ = ["SubmissionFacts", "condition_holds", "fired_rules", "route"]


def condition_holds(cond: Condition, facts: SubmissionFacts) -> bool:
    actual = getattr(facts, cond.field)
    if cond.op == "true":
        return actual is True
    if cond.op == "eq":
        return bool(actual == cond.value)
    # ge / gt: an absent number ("not applicable") never reaches a threshold.
    if actual is None:
        return False
    threshold: Decimal = cond.value
    if cond.op == "ge":
        return bool(actual >= threshold)
    if cond.op == "gt":
        return bool(actual > threshold)
    raise AssertionError(f"unhandled op {cond.op!r}")  # the catalogue model forbids others


def fired_rules(facts: SubmissionFacts, catalogue: Catalogue) -> list[RoutingRule]:
    """The rules that apply, in catalogue order (useful to explain a routing decision)."""
    return [r for r in catalogue.routing if all(condition_holds(c, facts) for c in r.when)]


def route(facts: SubmissionFacts, catalogue: Catalogue) -> list[str]:
    """Matter codes the submission needs: deterministic order, no duplicates."""
    codes = {code for rule in fired_rules(facts, catalogue) for code in rule.matters}
    return sorted(codes, key=catalogue.matter_rank)
