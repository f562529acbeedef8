"""Sane increments of model names (DRfC mangled names without a number and failed on upper case)."""

from __future__ import annotations

import pytest
from drfc.core.increment import next_name


@pytest.mark.parametrize(
    ("name", "delimiter", "expected"),
    [
        ("rl-deepracer-sagemaker", "-", "rl-deepracer-sagemaker-1"),
        ("name", "-", "name-1"),
        ("name-1", "-", "name-2"),
        ("my-model-9", "-", "my-model-10"),
        ("MyModel", "-", "MyModel-1"),
        ("model-v2", "-", "model-v2-1"),
        ("run-009", "-", "run-010"),
        ("test", "-", "test-1"),
        ("a_b_3", "_", "a_b_4"),
        ("a-b_3", "-", "a-b_3-1"),
        ("-5", "-", "-5-1"),
    ],
)
def test_next_name(name: str, delimiter: str, expected: str) -> None:
    assert next_name(name, delimiter) == expected


def test_rejects_empty_input() -> None:
    with pytest.raises(ValueError):
        next_name("")
    with pytest.raises(ValueError):
        next_name("x", "")
