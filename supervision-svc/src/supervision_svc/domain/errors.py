"""Domain errors of the supervision handlers (the API maps them to problem+json)."""

from __future__ import annotations

from dataclasses import dataclass


class SupervisionError(Exception):
    """Base of the errors a handler raises on purpose."""


class NotFound(SupervisionError):
    """Unknown, or not the caller's (the API does not reveal which)."""

    def __init__(self, what: str) -> None:
        super().__init__(f"{what} was not found")
        self.what = what


class Conflict(SupervisionError):
    """The request is valid but the resource's state does not allow it."""


@dataclass(frozen=True, slots=True)
class FieldProblem:
    field: str
    msg: str


class InvalidReport(SupervisionError):
    """A report that breaks a rule; each problem names the field."""

    def __init__(self, problems: list[FieldProblem]) -> None:
        super().__init__("; ".join(f"{p.field}: {p.msg}" for p in problems))
        self.problems = problems
