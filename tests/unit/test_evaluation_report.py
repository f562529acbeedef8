"""The numbers `drfc evaluation report` shows, from evaluation metrics in the simapp's format (§4.3)."""

from __future__ import annotations

import json

import pytest
from drfc.core.evaluation_report import (
    Evaluation,
    apply_record,
    parse_trials,
    select,
    stamp_of,
    summarize,
)


def record(trial: int, ms: int, progress: float, status: str, **counts: int) -> dict:
    base = {"crash_count": 0, "immobilized_count": 0, "off_track_count": 0, "reversed_count": 0, "reset_count": 0}
    return {
        "completion_percentage": progress,
        "metric_time": 90000 + ms,
        "start_time": 90000,
        "elapsed_time_in_milliseconds": ms,
        "episode_status": status,
        **base,
        **counts,
        "trial": trial,
    }


DOCUMENT = {
    "metrics": [
        record(2, 15250, 100, "Lap complete", off_track_count=1, reset_count=1),
        record(1, 12500, 100, "Lap complete"),
        record(3, 4000, 37, "Off track", off_track_count=2, reset_count=2, crash_count=1),
    ]
}


def test_trials_in_order_with_seconds_and_counts() -> None:
    trials = parse_trials(json.loads(json.dumps(DOCUMENT)))
    assert [t.trial for t in trials] == [1, 2, 3]
    first, second, third = trials
    assert first.lap_time == 12.5 and first.completed and first.progress == 100.0
    assert second.lap_time == 15.25 and second.off_track == 1 and second.resets == 1
    assert not third.completed and third.status == "Off track" and third.collisions == 1 and third.resets == 2


def test_summary_best_and_averages_over_completed_laps() -> None:
    summary = summarize(parse_trials(DOCUMENT))
    assert summary.trials == 3 and summary.completed == 2
    assert summary.best_lap == 12.5
    assert summary.average_lap == pytest.approx((12.5 + 15.25) / 2)  # the unfinished lap's 4 s is no lap time
    assert summary.average_progress == pytest.approx((100 + 100 + 37) / 3)
    assert (summary.resets, summary.off_track, summary.collisions) == (3, 3, 1)


def test_no_lap_completed_and_no_trials() -> None:
    summary = summarize(parse_trials({"metrics": [record(1, 3000, 20, "Crashed")]}))
    assert summary.completed == 0 and summary.best_lap is None and summary.average_lap is None
    empty = summarize(parse_trials({"metrics": []}))
    assert empty.trials == 0 and empty.average_progress is None and empty.collisions is None


def test_collisions_only_where_the_simapp_counts_them() -> None:
    older = {k: v for k, v in record(1, 9000, 100, "Lap complete").items() if k != "crash_count"}
    (trial,) = parse_trials({"metrics": [older]})
    assert trial.collisions is None and summarize([trial]).collisions is None


def test_damaged_documents_give_no_trials() -> None:
    assert parse_trials(None) == [] and parse_trials({"metrics": "x"}) == [] and parse_trials([]) == []
    (trial,) = parse_trials({"metrics": [{"episode_status": "In progress", "completion_percentage": "n/a"}, 7]})
    assert trial.trial == 1 and trial.progress == 0.0 and trial.lap_time is None and not trial.completed


def test_stamp_from_the_metrics_key() -> None:
    assert stamp_of("m/metrics/evaluation/evaluation-20250102030405.json") == "20250102030405"
    assert stamp_of("m/metrics/evaluation/evaluation-2025.json") is None
    assert stamp_of("m/metrics/TrainingMetrics.json") is None


def test_latest_or_all() -> None:
    stamps = ["20250102030405", "20250101000000", "20250102030405", "20240101000000"]
    assert select(stamps, everything=False) == {"20250102030405"}
    assert select(stamps, everything=True) == {"20250102030405", "20250101000000", "20240101000000"}
    assert select([], everything=False) == set()


def test_record_fills_in_the_settings_and_the_state() -> None:
    trials = parse_trials(DOCUMENT)
    evaluation = Evaluation(
        "20250102030405", "m-E", "m-E/metrics/evaluation/evaluation-20250102030405.json", trials, summarize(trials)
    )
    assert evaluation.state == "unfinished"  # no simtrace yet and no record of how many trials were asked
    apply_record(
        evaluation,
        {"RACE_TYPE": "TIME_TRIAL", "WORLD_NAME": "reinvent_base", "EVAL_CHECKPOINT": "best", "NUMBER_OF_TRIALS": "3"},
    )
    assert (evaluation.race_type, evaluation.world, evaluation.checkpoint) == ("TIME_TRIAL", "reinvent_base", "best")
    assert evaluation.trials_expected == 3 and evaluation.state == "finished"
    document = evaluation.to_dict()
    assert document["started"] == "2025-01-02T03:04:05Z"
    assert document["summary"]["best_lap"] == 12.5 and len(document["trials"]) == 3
    apply_record(evaluation, {"NUMBER_OF_TRIALS": "5"})
    assert evaluation.state == "unfinished" and evaluation.race_type is None
