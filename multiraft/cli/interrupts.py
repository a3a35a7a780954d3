"""``sigterm_interrupts``: SIGTERM interrupts a command like Ctrl-C.

Commands that start processes (``multiraft check``, ``multiraft bench --compare``) stop them in
``finally`` blocks and context managers on the way out; Python's default SIGTERM ends the
process without running them, which would leave the node processes serving.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["sigterm_interrupts"]


@contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """Within the block, SIGTERM raises ``KeyboardInterrupt`` in the main thread (elsewhere:
    no change; only the main thread may set signal handlers)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
