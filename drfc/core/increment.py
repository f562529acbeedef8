"""Next model names for `increment-training` and `increment-upload-model`.

DRfC's arithmetic turned `rl-deepracer-sagemaker` into `rl-deepracer-1` and
failed on upper case; here a trailing number is incremented (keeping its
zero padding) and a name without one gets `<delim>1`.
"""

from __future__ import annotations

import re


def next_name(name: str, delimiter: str = "-") -> str:
    """``model`` -> ``model-1`` -> ``model-2``; ``run-009`` -> ``run-010``; ``MyModel`` -> ``MyModel-1``."""
    if not name:
        raise ValueError("an empty name cannot be incremented")
    if not delimiter:
        raise ValueError("the delimiter must not be empty")
    head, sep, tail = name.rpartition(delimiter)
    if sep and head and re.fullmatch(r"\d+", tail):
        return f"{head}{delimiter}{int(tail) + 1:0{len(tail)}d}"
    return f"{name}{delimiter}1"
