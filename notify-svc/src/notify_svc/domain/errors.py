"""Errors of the notify use cases (the HTTP layer maps them to problem+json)."""

from __future__ import annotations


class NotifyError(Exception):
    """Base of the errors a handler or query raises on purpose."""


class NotFound(NotifyError):
    """The thing does not exist for this caller (another tenant's is not found either)."""

    def __init__(self, what: str) -> None:
        super().__init__(f"{what} not found")
        self.what = what


class InvalidField(NotifyError):
    """A field of the request holds a value the rules refuse (`field` names it)."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class Conflict(NotifyError):
    """The request is valid but the thing is not in a state that allows it."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem
