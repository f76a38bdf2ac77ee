"""Whole-file writes that a reader never sees half done: write beside, then rename.

    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "out.txt"
    >>> with atomic_write(target) as tmp:
    ...     _ = tmp.write_text("done")
    >>> target.read_text(), sorted(p.name for p in target.parent.iterdir())
    ('done', ['out.txt'])
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def atomic_write(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; when the block ends cleanly, it replaces
    `path` in one rename (mode 0644). On an exception `path` is untouched and the
    temporary file removed. Creates the parent folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o644)  # mkstemp creates 0600
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def create_new_file(path: str | Path, data: bytes, *, mode: int = 0o600) -> bool:
    """Write `data` to `path` only if no file is there yet: True when this call created it.

    The data is written to a temporary file (created 0600, then `mode`) and linked into
    place, so `path` never exists half written, and two processes racing to create it
    never overwrite each other: the loser gets False and reads the winner's file.

    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "key"
    >>> create_new_file(target, b"one"), create_new_file(target, b"two"), target.read_bytes()
    (True, False, b'one')
    >>> oct(target.stat().st_mode & 0o777)
    '0o600'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, mode)
        try:
            os.link(tmp, path)  # unlike rename, never replaces a file that is already there
        except FileExistsError:
            return False
        return True
    finally:
        tmp.unlink(missing_ok=True)
