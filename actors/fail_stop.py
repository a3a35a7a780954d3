"""``FailStop``: no actor of a node dies silently. An actor whose handler raised (pykka and the
pooled runtime then stop it) reports to its node, which stops whole: a node with a dead writer,
store or replica would otherwise go on accepting work it can never finish."""

from __future__ import annotations

from types import TracebackType

from multiraft.store.lifecycle import Fatal

__all__ = ["FailStop"]


class FailStop:
    """Mixin for the node's actors; ``fatal`` is the node's ``NodeLifecycle.fail``."""

    fatal: Fatal

    def on_failure(self, exc_type: type[BaseException] | None,
                   exc_value: BaseException | None, traceback: TracebackType | None) -> None:
        error = exc_value if exc_value is not None else RuntimeError("unknown failure")
        self.fatal(f"{type(self).__name__} crashed", error)
