"""The limits every notification passes (pure): size, characters, rate, count, line splitting."""

from __future__ import annotations

from lz.core.notifications import MAX_BYTES, Limits, Lines, RateLimit, admit, clean
from lz.core.views import notification_lines


def test_clean_keeps_text_and_replaces_bad_bytes_and_control_characters() -> None:
    assert clean(b"epoch 3: loss 0.12") == "epoch 3: loss 0.12"
    assert clean("héllo ✓".encode()) == "héllo ✓"
    assert clean(b"bad \xff\xfe bytes") == "bad \ufffd\ufffd bytes"
    assert clean(b"\x1b[31mred\x1b[0m\x07\x00 tab\tok\r") == "[31mred [0m   tab\tok"
    assert clean(b"   \x00\x01  ") == ""


def test_a_message_over_the_limit_is_cut_on_a_character_with_a_note() -> None:
    text = clean(("é" * 3000).encode())  # 6000 bytes
    assert len(text.encode()) <= MAX_BYTES
    assert text.endswith(f"[truncated to {MAX_BYTES} bytes]") and text.startswith("éé")
    assert clean(b"x" * MAX_BYTES) == "x" * MAX_BYTES  # exactly the limit: whole


def test_lines_split_a_stream_and_bound_an_endless_line() -> None:
    lines = Lines(max_bytes=8)
    assert lines.feed(b"one\ntw") == [b"one"]
    assert lines.feed(b"o\n\nthree") == [b"two", b""]
    assert lines.flush() == [b"three"]
    flood = lines.feed(b"y" * 1_000_000)  # no newline: kept bounded, nothing out yet
    assert flood == [] and len(lines._partial) == 9
    assert lines.feed(b"yy\nok\n") == [b"y" * 9, b"ok"]
    assert clean(b"y" * 9, 8).endswith("]")


def test_the_rate_limit_lets_a_burst_through_then_one_per_interval() -> None:
    bucket = RateLimit(Limits(per_minute=2))
    assert [bucket.allow(100.0) for _ in range(3)] == [True, True, False]
    assert bucket.allow(110.0) is False  # half a token
    assert bucket.allow(130.0) is True
    assert bucket.dropped == 2


def test_admit_notes_the_dropped_ones_and_stops_at_the_per_job_limit() -> None:
    limits = Limits(per_minute=2, per_job=5)
    bucket = RateLimit(limits)
    assert admit([b"a", b"b", b"c", b"d", b""], bucket, 0.0, 0, limits) == ["a", "b"]
    out = admit([b"e"], bucket, 30.0, 2, limits)
    assert out == ["[lz: 2 messages dropped: at most 2 a minute]", "e"]
    assert admit([b"f", b"g"], RateLimit(limits), 0.0, 4, limits) == ["f"]  # the job's fifth, then none


def test_notification_lines_show_utc_time_and_text() -> None:
    assert notification_lines([{"at": 0.0, "text": "hi"}]) == ["1970-01-01T00:00:00Z  hi"]
