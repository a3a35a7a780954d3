"""``fsync_dir``: make a directory's entries (files created, renamed, removed in it) durable."""

from __future__ import annotations

import os

__all__ = ["fsync_dir"]


def fsync_dir(path: str) -> None:
    """fsync the directory ``path`` itself, after creating or renaming a file in it: without
    it a crash may lose the new name even though the file's data was synced."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
