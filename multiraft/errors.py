"""The errors a ``Client`` raises."""

from __future__ import annotations

__all__ = ["ClientError", "Timeout"]


class ClientError(Exception):
    """Base of client errors. Except for ``Timeout``, the operation was not applied."""


class Timeout(ClientError):
    """No answer in time: the outcome is unknown (a write may or may not have been applied;
    retrying it with the same client keeps it applied at most once)."""
