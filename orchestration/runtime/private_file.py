"""Files holding a local stack's secrets (stack.env, the PostgreSQL password files)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that a reader sees the old file or the whole new one, never a part, and
    nobody but the owner can read it at any moment: a temporary file created with mode 0600 in the same
    directory, then renamed over ``path``. ``mtx up``'s waiters poll for stack.env and read it at once."""
    path = Path(path)
    # a new file of a unique name (O_EXCL, mode 0600): never one left behind or planted, nor another writer's
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(name)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
