"""The collection's exceptions. Library code raises these; only a module's
main() (through module_runner.run) turns them into fail_json(msg=...)."""
from __future__ import annotations

import contextlib


class EmergencyError(Exception):
    """Base class: str(error) is a complete one-line message for the user."""

    def __init__(self, msg, **details):
        super().__init__(msg)
        self.msg = msg
        self.details = details

    def __str__(self):
        return self.msg


class ConfigError(EmergencyError):
    """Options, kubeconfig or context that cannot be used as given."""


class UnreachableError(EmergencyError):
    """The server could not be reached (connect error, TLS failure, timeout)."""


class ApiError(EmergencyError):
    """The server answered, and said no."""

    def __init__(self, msg, status=None, reason=None, **details):
        super().__init__(msg, status=status, reason=reason, **details)
        self.status = status
        self.reason = reason


class NotFoundError(ApiError):
    """HTTP 404 from the API."""


class ConflictError(ApiError):
    """HTTP 409 from the API (exists already, or the object changed underneath)."""

    @property
    def nothing_written(self):
        """Whether the write was sent once and refused, so none of it was applied. After a repeat (the first
        answer was lost) the first attempt may have been applied before someone else changed the object."""
        return self.details.get("attempts") == 1


class WaitTimeout(EmergencyError):
    """A wait reached its deadline before its condition held."""


class WaitFailed(EmergencyError):
    """A wait ended early: what it waited for cannot happen (a fail-fast rule saw it)."""


@contextlib.contextmanager
def failing_to(action):
    """Prefix any collection error raised inside with 'Failed to <action>: '."""
    try:
        yield
    except EmergencyError as exc:
        if exc.msg.startswith("Failed to "):
            raise
        exc.msg = f"Failed to {action}: {exc.msg}"
        exc.args = (exc.msg,)
        raise
