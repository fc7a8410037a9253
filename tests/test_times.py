"""Time range text: ISO, epoch numbers, Grafana-style relative times, and clear errors."""

from __future__ import annotations

import pytest

from pipelines.timebase import NS, format_duration, format_time, parse_range, parse_time

NOW = 1_709_294_400 * NS  # 2024-03-01T12:00:00Z


@pytest.mark.parametrize("text, expected", [
    ("now", "2024-03-01T12:00:00Z"),
    ("NOW", "2024-03-01T12:00:00Z"),
    ("now-6h", "2024-03-01T06:00:00Z"),
    ("now - 30m", "2024-03-01T11:30:00Z"),
    ("now-7d", "2024-02-23T12:00:00Z"),
    ("now+1.5h", "2024-03-01T13:30:00Z"),
    ("now-2w", "2024-02-16T12:00:00Z"),
    ("now-500ms", "2024-03-01T11:59:59.5Z"),
    ("2024-03-01", "2024-03-01T00:00:00Z"),
    ("2024-03-01T01:02:03Z", "2024-03-01T01:02:03Z"),
    ("2024-03-01 01:02:03.25", "2024-03-01T01:02:03.25Z"),
    ("2024-03-01T12:00:00+01:00", "2024-03-01T11:00:00Z"),  # offsets are honoured
    ("2024-03-01T00:00:00.123456789Z", "2024-03-01T00:00:00.123456Z"),
    ("1709294400000", "2024-03-01T12:00:00Z"),  # Grafana's epoch milliseconds
    ("1709294400", "2024-03-01T12:00:00Z"),  # epoch seconds
])
def test_parse_time_accepts_the_usual_forms(text, expected):
    assert format_time(parse_time(text, NOW)) == expected


def test_parse_time_keeps_nanoseconds():
    assert parse_time("2024-03-01T00:00:00.123456789Z", NOW) % NS == 123456789


@pytest.mark.parametrize("text", ["garbage", "", "  ", "now-6x", "now-", "2024-13-01",
                                  "2024-03-01T25:00", "now-1M"])
def test_parse_time_rejects_with_a_clear_message(text):
    with pytest.raises(ValueError) as err:
        parse_time(text, NOW)
    message = str(err.value)
    assert "now-6h" in message and "ISO" in message  # says what would have worked


def test_parse_range_orders_and_names_the_bad_parameter():
    t0, t1 = parse_range("now-6h", "now", NOW)
    assert t1 - t0 == 6 * 3600 * NS and t1 == NOW
    with pytest.raises(ValueError, match=r"^from='soon'"):
        parse_range("soon", "now", NOW)
    with pytest.raises(ValueError, match=r"^to='later'"):
        parse_range("now-1h", "later", NOW)
    with pytest.raises(ValueError, match="is not before"):
        parse_range("2024-03-02", "2024-03-01", NOW)
    with pytest.raises(ValueError, match="is not before"):
        parse_range("now", "now", NOW)


def test_format_helpers():
    assert format_time(NOW) == "2024-03-01T12:00:00Z"
    assert format_time(NOW + 1_500_000) == "2024-03-01T12:00:00.0015Z"
    assert format_duration(90 * NS) == "1 min 30 s"
    assert format_duration(3 * 86400 * NS + 7200 * NS) == "3 d 2 h"
    assert format_duration(0.25 * NS) == "250 ms"


@pytest.mark.parametrize("text", ["0001-01-01", "9999-12-31T23:59:59Z", "now+1000000y",
                                  "now-1000000y", "-9200000000000000000", "9200000000000000000",
                                  "1700-01-01", "2262-04-11", "now+300y"])
def test_times_outside_the_supported_range_are_refused_with_the_range(text):
    with pytest.raises(ValueError) as err:
        parse_time(text, NOW)
    message = str(err.value)
    assert "outside the supported range 1800-01-01 to 2200-01-01" in message
    assert "now-6h" in message  # and says what would have worked


def test_the_supported_range_reaches_its_ends():
    assert format_time(parse_time("1800-01-01", NOW)) == "1800-01-01T00:00:00Z"
    assert format_time(parse_time("2200-01-01", NOW)) == "2200-01-01T00:00:00Z"
    assert parse_time("now-200y", NOW) < parse_time("1900-01-01", NOW)


def test_parse_range_names_the_parameter_out_of_range():
    with pytest.raises(ValueError, match=r"^to='now\+1000000y'.*outside the supported range"):
        parse_range("2024-03-05T00:00:00Z", "now+1000000y", NOW)
