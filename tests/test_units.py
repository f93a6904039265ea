import pytest

from softloc_cli.units import parse_duration


@pytest.mark.parametrize(
    "text, seconds",
    [("80ms", 0.08), ("0.08s", 0.08), ("80 ms", 0.08), ("2min", 120.0), ("1.5sec", 1.5), (".5s", 0.5), ("1e2ms", 0.1)],
)
def test_parse_duration(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["80", "0.08", " 80 "])
def test_bare_number_is_refused_with_hint(text):
    with pytest.raises(ValueError, match=r"bare number is ambiguous: write 80ms or 0\.08s"):
        parse_duration(text)


@pytest.mark.parametrize("text", ["80 bpm", "ms", "-80ms", "", "80mss"])
def test_bad_duration_lists_units(text):
    with pytest.raises(ValueError, match="use a number with a unit: ms, s or min"):
        parse_duration(text)
