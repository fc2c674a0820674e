"""Files the apps and scripts share: reading an upload fully, and writing a file atomically.

Atomic writes follow what Prometheus and Alertmanager need of generated files (docs/architecture.md, "Generated
files"): the content goes to a temporary file in the destination's directory, under a hidden name that no
`*.rules.yml` glob matches, is flushed to disk, and only then replaces the destination with os.replace(). A reader
sees the old file or the new one, never half of one; the temporary file is created with mode 600, so a secret is
never briefly readable by others, and gets its final mode before the swap.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO


class UploadTooLarge(ValueError):
    """An upload over its size limit (bytes); raised before the file is read."""

    def __init__(self, *, size: int | None, limit: int) -> None:
        shown = f"{size:,} bytes" if size is not None else f"over {limit:,} bytes"
        super().__init__(f"The file is {shown}; the limit is {limit:,} bytes.")
        self.size = size
        self.limit = limit


def upload_read(file: IO[bytes], *, max_bytes: int | None = None) -> bytes:
    """Read an uploaded or stored file from its start to its end, leaving it rewound for the next reader.

    With `max_bytes`, a file whose size (Django's UploadedFile.size, else the stream's length) is over it raises
    UploadTooLarge before any of it is read; a stream of unknown size is read to at most max_bytes + 1 bytes."""
    if max_bytes is not None:
        size = getattr(file, "size", None)
        if size is None and hasattr(file, "seek") and hasattr(file, "tell"):
            file.seek(0, os.SEEK_END)
            size = file.tell()
        if size is not None and size > max_bytes:
            raise UploadTooLarge(size=size, limit=max_bytes)
    if hasattr(file, "seek"):
        file.seek(0)
    data = file.read() if max_bytes is None else file.read(max_bytes + 1)
    if hasattr(file, "seek"):
        file.seek(0)
    if max_bytes is not None and len(data) > max_bytes:
        raise UploadTooLarge(size=None, limit=max_bytes)
    return data


@dataclass
class PendingFile:
    """New content written beside its destination, not yet in place: check `temporary`, then `replace()` (or not)."""

    path: Path
    temporary: Path
    replaced: bool = False

    def replace(self) -> None:
        """Swap the new content in (os.replace) and make the rename durable."""
        os.replace(self.temporary, self.path)
        self.replaced = True
        with contextlib.suppress(OSError):
            fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


@contextlib.contextmanager
def atomic_write(path: Path, content: str, *, mode: int) -> Iterator[PendingFile]:
    """Write `content` to a hidden temporary file beside `path` (created 600, then given `mode`); inside the block
    the caller may validate it and call `replace()`; a temporary file that was not swapped in is removed on exit."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    pending = PendingFile(path=path, temporary=Path(name))
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(pending.temporary, mode)
        yield pending
    finally:
        if not pending.replaced:
            pending.temporary.unlink(missing_ok=True)


def file_write_atomic(path: Path, content: str, *, mode: int) -> bool:
    """Put `content` at `path` atomically with permissions `mode`; False, writing nothing, when it is already there."""
    if path.is_file() and path.read_bytes() == content.encode():
        return False
    with atomic_write(path, content, mode=mode) as pending:
        pending.replace()
    return True
