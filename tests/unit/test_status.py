from __future__ import annotations

import json

from drfc.core.status import iteration_of, metrics_key, simapp_failure, worker_progress


def test_iteration_of() -> None:
    assert iteration_of("12_Step-3456.ckpt") == 12
    assert iteration_of("0_Step-0.ckpt\n") == 0
    assert iteration_of("garbage") is None


def test_worker_progress_counts_training_episodes_only() -> None:
    doc = {
        "metrics": [
            {"phase": "training", "episode": 1, "completion_percentage": 20, "reward_score": 3.5},
            {"phase": "evaluation", "completion_percentage": 100},
            {
                "phase": "training",
                "episode": 2,
                "completion_percentage": 41,
                "reward_score": 7.25,
                "episode_status": "Off track",
            },
        ],
        "version": 2.0,
    }
    p = worker_progress(1, json.dumps(doc))
    assert (p.episodes, p.evaluations, p.last_progress, p.last_reward, p.last_status) == (2, 1, 41.0, 7.25, "Off track")
    assert worker_progress(2, "not json").episodes == 0


def test_simapp_failure_takes_the_last_exception() -> None:
    log = (
        "Invoking user script\n"
        '{"simapp_exception": {"date": "x", "message": "first", "errorCode": "500"}}\n'
        "noise\n"
        '{"simapp_exception": {"message": "Model metadata not found", "errorCode": "400"}}\n'
        "ERROR: FAULT_CODE: 0\n"
    )
    assert simapp_failure(log) == "Model metadata not found (error code 400)"
    assert simapp_failure("all fine\nReporting training SUCCESS") is None


def test_metrics_key_per_worker() -> None:
    assert metrics_key("m/metrics", 1) == "m/metrics/TrainingMetrics.json"
    assert metrics_key("m/metrics", 3) == "m/metrics/TrainingMetrics_2.json"
