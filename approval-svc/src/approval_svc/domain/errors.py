"""Typed errors of the approval domain.

The domain never speaks HTTP, but every error belongs to exactly one family so the service can
map it without inspecting messages:

* ``NotFound``       -> 404 (also used when a caller must not learn that something exists)
* ``Conflict``       -> 409 (the command is well-formed but not allowed in the current state)
* ``Forbidden``      -> 403 (the caller may not do this at all, e.g. joint punishment)
* ``InvalidCommand`` -> 422 (the command itself is malformed)
* ``InvalidIdentifier`` -> 422 (a code fails its format or check-character rules)
* ``CatalogueError`` -> a broken data file; a deployment problem, never the caller's fault

Every error carries ``field`` when one input is to blame, so problem+json responses can name it.
"""

from __future__ import annotations


class DomainError(Exception):
    """Base class of every error raised by the pure domain layer."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


# --- families ---------------------------------------------------------------------------------


class NotFound(DomainError, LookupError):
    """The addressed thing does not exist (or is not the caller's)."""


class Conflict(DomainError):
    """The command is valid in form but not allowed in the current state."""


class Forbidden(DomainError):
    """The caller is refused this command whatever its content."""


class InvalidCommand(DomainError, ValueError):
    """The command's own arguments are unacceptable."""


class InvalidIdentifier(DomainError, ValueError):
    """An identifier (project, credit, region or industry code) is malformed."""


class CatalogueError(DomainError, ValueError):
    """The catalogue data file is inconsistent or cannot be read."""


# --- catalogue lookups ------------------------------------------------------------------------


class UnknownDepartment(NotFound):
    pass


class UnknownMatter(NotFound):
    pass


# --- state machine ----------------------------------------------------------------------------


class TaskNotFound(NotFound):
    pass


class ProjectNotFound(NotFound):
    pass


class WrongDepartment(NotFound):
    """The task exists but belongs to another department; reported as not found on purpose."""


class ProjectClosed(Conflict):
    """The project reached a final status (approved, rejected, filed, withdrawn)."""


class TaskNotPending(Conflict):
    pass


class TaskNotAwaitingSupplement(Conflict):
    pass


class NotConsultative(Conflict):
    """Deemed consent applies only to consultative tasks."""


class InvalidDecision(InvalidCommand):
    pass


class MissingMaterialsRequired(InvalidCommand):
    """A supplement notice must list every missing material, so the list may not be empty."""


class MaterialsRequired(InvalidCommand):
    """A supplement must name what was supplied."""


class DuplicateTask(InvalidCommand):
    pass


class IdempotencyKeyReused(InvalidCommand):
    """An ``Idempotency-Key`` came back with a different request than its first one."""


class DishonestEnterprise(Forbidden):
    """The submitting enterprise is on the public dishonest list (joint punishment)."""


# --- identifiers ------------------------------------------------------------------------------


class InvalidProjectCode(InvalidIdentifier):
    pass


class InvalidCreditCode(InvalidIdentifier):
    pass


class InvalidRegionCode(InvalidIdentifier):
    pass


class InvalidIndustryCode(InvalidIdentifier):
    pass
