"""mlmonitor/files.py upload_read with a size limit: refused before reading, by declared size or by stream length."""

from __future__ import annotations

import io

import pytest

from mlmonitor.files import UploadTooLarge, upload_read


class CountingStream(io.BytesIO):
    """A stream that remembers how many bytes were read from it."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.bytes_read = 0

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        self.bytes_read += len(chunk)
        return chunk


def test_a_stream_over_the_limit_is_refused_without_reading_it() -> None:
    """The length is found by seeking; nothing is read."""
    stream = CountingStream(b"x" * 101)
    with pytest.raises(UploadTooLarge, match="101 bytes; the limit is 100 bytes"):
        upload_read(stream, max_bytes=100)
    assert stream.bytes_read == 0


def test_within_the_limit_the_whole_file_is_read_and_rewound() -> None:
    """At the limit: all of it, and the stream is back at its start."""
    stream = CountingStream(b"x" * 100)
    assert upload_read(stream, max_bytes=100) == b"x" * 100
    assert stream.tell() == 0
