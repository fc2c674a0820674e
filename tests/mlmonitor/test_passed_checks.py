"""Remembered check outcomes (mlmonitor/passed_checks.py): bounded, least recently used dropped first."""

from __future__ import annotations

from mlmonitor.passed_checks import PassedChecks, content_digest


def test_outcomes_are_kept_by_key_and_the_least_recently_used_go_first() -> None:
    """With room for two, adding a third drops the outcome least recently looked up, not the oldest added."""
    # given
    passed: PassedChecks[str] = PassedChecks(size=2)
    passed.add("a", "outcome a")
    passed.add("b", "outcome b")
    assert passed.get("a") == "outcome a"  # now "b" is the least recently used
    # when
    passed.add("c", "outcome c")
    # then
    assert (passed.get("a"), passed.get("b"), passed.get("c")) == ("outcome a", None, "outcome c")
    passed.clear()
    assert passed.get("a") is None


def test_the_digest_names_the_content_text_or_bytes() -> None:
    """Equal content gives equal digests whether given as text or UTF-8 bytes; other content another digest."""
    assert content_digest("groups: []\n") == content_digest(b"groups: []\n")
    assert content_digest("groups: []\n") != content_digest("groups: [] \n")
