"""Files the apps share: reading an upload (a model artifact, a reference dataset) fully."""

from __future__ import annotations

from typing import IO


def upload_read(file: IO[bytes]) -> bytes:
    """Read an uploaded or stored file from its start to its end, leaving it rewound for the next reader."""
    if hasattr(file, "seek"):
        file.seek(0)
    data = file.read()
    if hasattr(file, "seek"):
        file.seek(0)
    return data
