from __future__ import annotations

import click
import pytest
from drfc.cli.logs_cmd import parse_duration


@pytest.mark.parametrize(("text", "seconds"), [("90", 90), ("30s", 30), ("5m", 300), ("2h", 7200), ("1d", 86400)])
def test_parse_duration(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5 minutes", "-1m", "1.5h", "m"])
def test_bad_durations_name_the_flag(text: str) -> None:
    with pytest.raises(click.BadParameter) as raised:
        parse_duration(text)
    assert "--since" in raised.value.format_message()
