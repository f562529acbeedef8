"""The bundle planner over synthetic model prefixes: which objects an export copies or writes.

No server: the listing and ``read`` come from ``tests/support/model_prefix.py``.
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from typing import Any

import pytest
import yaml
from drfc.core.storage import RemoteObject
from drfc.core.upload import (
    Bundle,
    car_file_name,
    car_tarball,
    checkpoint_number,
    parse_choice,
    plan_bundle,
    plan_car,
    plan_mirror,
    plan_transfer,
    same_etag,
    training_params_for_target,
)
from drfc.errors import ConfigError, NotFoundError, UploadError
from tests.support.model_prefix import Reads, checkpoint_entry, ckpt_name, listing, trained_model

P = "rl-model"
TB, TP = "upload-bucket", "my-model-1"


def plan(objects: dict[str, bytes], choice: str | int = "last", **kwargs: Any) -> Bundle:
    options: dict[str, Any] = {
        "source_prefix": P,
        "choice": choice,
        "target_bucket": TB,
        "target_prefix": TP,
    }
    options.update(kwargs)
    return plan_bundle(listing(objects), Reads(objects), **options)


def targets(bundle: Bundle) -> set[str]:
    return {item.target for item in bundle.items}


def checkpoint_targets(bundle: Bundle) -> set[str]:
    return {t for t in targets(bundle) if ".ckpt." in t or (t.startswith("model/model_") and t.endswith(".pb"))}


def ckpt_files(n: int) -> set[str]:
    name = ckpt_name(n)
    return {f"model/{name}.index", f"model/{name}.meta", f"model/{name}.data-00000-of-00001", f"model/model_{n}.pb"}


def generated(bundle: Bundle, target: str) -> bytes:
    item = bundle.item(target)
    assert item is not None and item.content is not None and item.source_key is None
    return item.content


# ----------------------------------------------------------------------------- checkpoint choice


def test_last_is_the_default_and_the_bundle_is_complete() -> None:
    objects = trained_model(P, checkpoints=(3, 4, 5), best=4)
    bundle = plan(objects)

    assert (bundle.checkpoint, bundle.best_checkpoint, bundle.last_checkpoint) == (5, 4, 5)
    assert bundle.checkpoint_name == ckpt_name(5)
    assert targets(bundle) == ckpt_files(5) | {
        "model/deepracer_checkpoints.json",
        "model/.coach_checkpoint",
        "model/model_metadata.json",
        "model_metadata.json",
        "reward_function.py",
        "ip/hyperparameters.json",
        "training_params.yaml",
        "metrics/TrainingMetrics.json",
        "metrics/evaluation/evaluation-20260101120000.json",
        "metrics/training/training-20260501123000.json",
    }
    # Simtrace, ip.json/done, the source's own .coach_checkpoint and YAML are never copied.
    sources = {item.source_key for item in bundle.items if item.source_key}
    assert not any("simtrace" in key or key.endswith(("ip.json", "/done", ".coach_checkpoint")) for key in sources)
    record = json.loads(generated(bundle, "model/deepracer_checkpoints.json"))
    entry = checkpoint_entry(5, value=60.0)
    assert record == {"last_checkpoint": entry, "best_checkpoint": entry}
    assert generated(bundle, "model/.coach_checkpoint") == ckpt_name(5).encode()
    # Sizes are the source objects' sizes, or the generated content's.
    for item in bundle.items:
        expected = len(objects[item.source_key]) if item.source_key else len(item.content or b"")
        assert item.size == expected
    assert bundle.total_bytes() == sum(item.size for item in bundle.items)


def test_best_takes_the_best_checkpoint_and_records_it_as_last_and_best() -> None:
    objects = trained_model(P, checkpoints=(3, 4, 5), best=4)
    bundle = plan(objects, "best")

    assert bundle.checkpoint == 4 and bundle.choice == "best"
    assert checkpoint_targets(bundle) == ckpt_files(4)
    record = json.loads(generated(bundle, "model/deepracer_checkpoints.json"))
    assert record["last_checkpoint"] == record["best_checkpoint"] == checkpoint_entry(4, value=80.0)
    assert generated(bundle, "model/.coach_checkpoint") == ckpt_name(4).encode()


@pytest.mark.parametrize("chosen", [1, 10, 100])
def test_a_number_matches_exactly_never_numbers_sharing_its_leading_digits(chosen: int) -> None:
    objects = trained_model(P, checkpoints=(1, 10, 11, 19, 100, 101), last=101, best=100)
    bundle = plan(objects, chosen)

    assert bundle.checkpoint == chosen
    assert checkpoint_targets(bundle) == ckpt_files(chosen)
    copied = [item.source_key for item in bundle.items if item.source_key and "/model/" in item.source_key]
    allowed = (f"model_{chosen}.pb", "model_metadata.json")
    assert all(f"/{chosen}_Step-" in key or key.endswith(allowed) for key in copied)


def test_a_number_that_is_neither_last_nor_best_gets_a_record_in_the_source_files_style() -> None:
    new = plan(trained_model(P, checkpoints=(2, 3, 4)), 3)
    entry = json.loads(generated(new, "model/deepracer_checkpoints.json"))["last_checkpoint"]
    assert entry["name"] == ckpt_name(3) and "avg_eval_metric" in entry and entry["avg_eval_metric"] is None

    old = plan(trained_model(P, checkpoints=(2, 3, 4), metric="avg_comp_pct"), 3)
    entry = json.loads(generated(old, "model/deepracer_checkpoints.json"))["best_checkpoint"]
    assert set(entry) == {"name", "avg_comp_pct", "time_stamp"} and entry["name"] == ckpt_name(3)


def test_old_avg_comp_pct_records_are_kept_as_they_are() -> None:
    objects = trained_model(P, checkpoints=(2, 3), best=2, metric="avg_comp_pct")
    bundle = plan(objects, "best")
    record = json.loads(generated(bundle, "model/deepracer_checkpoints.json"))
    assert record["last_checkpoint"] == {"name": ckpt_name(2), "avg_comp_pct": 80.0, "time_stamp": 102.0}


def test_a_number_equal_to_the_best_reuses_its_record() -> None:
    objects = trained_model(P, checkpoints=(2, 3, 4), best=2)
    record = json.loads(generated(plan(objects, 2), "model/deepracer_checkpoints.json"))
    assert record["best_checkpoint"] == checkpoint_entry(2, value=80.0)


# ----------------------------------------------------------------------------- retention holes and damage


def test_retention_holes_a_deleted_checkpoint_is_refused_and_the_kept_ones_named() -> None:
    # Retention kept the best (2) and the last four (6-9); 3-5 are gone.
    objects = trained_model(P, checkpoints=(2, 6, 7, 8, 9), best=2)
    assert plan(objects, "best").checkpoint == 2
    assert plan(objects, 7).checkpoint == 7

    with pytest.raises(NotFoundError) as caught:
        plan(objects, 4)
    assert "checkpoint 4 is not in rl-model/model/" in caught.value.message
    assert "2, 6, 7, 8, 9" in caught.value.message


def test_a_recorded_checkpoint_whose_files_are_gone_names_the_missing_files() -> None:
    objects = trained_model(P, checkpoints=(2, 6, 7), best=2)
    name = ckpt_name(2)
    del objects[f"{P}/model/{name}.meta"]
    del objects[f"{P}/model/{name}.data-00000-of-00001"]

    with pytest.raises(NotFoundError) as caught:
        plan(objects, "best")
    message = caught.value.message
    assert f"{name}.meta" in message and f"{name}.data-00000-of-00001" in message
    assert "complete checkpoints: 6, 7" in message
    assert "retention" in (caught.value.hint or "")


def test_every_data_shard_is_taken_and_a_missing_shard_is_refused() -> None:
    objects = trained_model(P, checkpoints=(1, 2))
    name = ckpt_name(2)
    del objects[f"{P}/model/{name}.data-00000-of-00001"]
    for shard in range(3):
        objects[f"{P}/model/{name}.data-{shard:05d}-of-00003"] = b"shard%d" % shard
    bundle = plan(objects)
    assert {t for t in targets(bundle) if ".data-" in t} == {f"model/{name}.data-{i:05d}-of-00003" for i in range(3)}

    del objects[f"{P}/model/{name}.data-00001-of-00003"]
    with pytest.raises(NotFoundError, match=r"data-00001-of-00003"):
        plan(objects)


def test_no_frozen_graph_is_fine_for_an_upload() -> None:
    objects = trained_model(P, checkpoints=(1, 2))
    del objects[f"{P}/model/model_2.pb"]
    assert "model/model_2.pb" not in targets(plan(objects))


def test_a_number_written_twice_by_two_trainings_is_refused() -> None:
    objects = trained_model(P, checkpoints=(1, 2))
    objects[f"{P}/model/2_Step-999.ckpt.index"] = b"x"
    with pytest.raises(UploadError, match="exists twice"):
        plan(objects, 2)


def test_a_damaged_checkpoint_record_is_an_upload_error() -> None:
    objects = trained_model(P)
    objects[f"{P}/model/deepracer_checkpoints.json"] = b"{not json"
    with pytest.raises(UploadError, match="not valid JSON"):
        plan(objects)
    objects[f"{P}/model/deepracer_checkpoints.json"] = json.dumps({"last_checkpoint": {"name": "bogus"}}).encode()
    with pytest.raises(UploadError, match="not a checkpoint name"):
        plan(objects)


def test_no_checkpoint_record_last_is_refused_but_a_number_still_works() -> None:
    objects = trained_model(P, checkpoints=(1, 2))
    del objects[f"{P}/model/deepracer_checkpoints.json"]
    with pytest.raises(NotFoundError, match=r"deepracer_checkpoints\.json does not exist"):
        plan(objects)
    assert plan(objects, 1).checkpoint == 1


def test_missing_required_files_are_all_named_in_one_error_before_reading_checkpoints() -> None:
    objects = trained_model(P)
    del objects[f"{P}/model/model_metadata.json"]
    del objects[f"{P}/ip/hyperparameters.json"]
    del objects[f"{P}/reward_function.py"]
    del objects[f"{P}/training_params.yaml"]
    reads = Reads(objects)

    with pytest.raises(NotFoundError) as caught:
        plan_bundle(listing(objects), reads, source_prefix=P, choice="last", target_bucket=TB, target_prefix=TP)
    message = caught.value.message
    for missing in ("model/model_metadata.json", "ip/hyperparameters.json", "reward_function.py", "training_params"):
        assert missing in message
    assert "4 required file(s)" in message and "nothing was transferred" in message
    assert reads.keys == []  # nothing was even read


def test_the_reward_function_falls_back_to_the_reward_key() -> None:
    objects = trained_model(P)
    del objects[f"{P}/reward_function.py"]
    objects["custom_files/reward_function.py"] = b"def reward_function(params): return 2.0\n"
    bundle = plan(objects, reward_key="custom_files/reward_function.py")
    item = bundle.item("reward_function.py")
    assert item is not None and item.source_key == "custom_files/reward_function.py"


def test_an_empty_prefix_and_a_bad_choice_are_configuration_errors() -> None:
    with pytest.raises(ConfigError):
        plan(trained_model(P), source_prefix="/")
    with pytest.raises(ConfigError):
        parse_choice("newest")
    assert parse_choice("7") == 7 and parse_choice("BEST") == "best" and parse_choice(0) == 0
    assert checkpoint_number("12_Step-3456.ckpt") == 12


# ----------------------------------------------------------------------------- training_params.yaml and metrics


def test_training_params_name_the_real_target_and_keep_drfc_quoting() -> None:
    bundle = plan(trained_model(P))
    text = generated(bundle, "training_params.yaml").decode()
    data = yaml.safe_load(text)

    assert data["SAGEMAKER_SHARED_S3_BUCKET"] == data["METRICS_S3_BUCKET"] == TB
    assert data["SAGEMAKER_SHARED_S3_PREFIX"] == TP
    assert data["METRICS_S3_OBJECT_KEY"] == f"{TP}/metrics/TrainingMetrics.json"
    assert data["MODEL_METADATA_FILE_S3_KEY"] == f"{TP}/model/model_metadata.json"
    assert data["REWARD_FILE_S3_KEY"] == f"{TP}/reward_function.py"
    assert "S3_ENDPOINT_URL" not in data  # the local MinIO means nothing at the target
    assert "'MIN_EVAL_TRIALS': '5'" in text and "bucket" not in data.values()
    assert all(isinstance(v, str) for v in data.values())


def test_droa_layout_types_values_and_splits_the_direction_off_the_world_name() -> None:
    bundle = plan(trained_model(P, world="2022_april_open_cw"), layout="droa")
    data = yaml.safe_load(generated(bundle, "training_params.yaml"))
    assert data["WORLD_NAME"] == "2022_april_open" and data["TRACK_DIRECTION_CLOCKWISE"] is True
    assert data["MIN_EVAL_TRIALS"] == 5 and data["REVERSE_DIR"] is False
    assert data["SAGEMAKER_SHARED_S3_PREFIX"] == TP

    plain = plan(trained_model(P), layout="droa", params_overrides={"TRACK_DIRECTION_CLOCKWISE": False})
    data = yaml.safe_load(generated(plain, "training_params.yaml"))
    assert data["WORLD_NAME"] == "reInvent2019_wide" and data["TRACK_DIRECTION_CLOCKWISE"] is False


def test_droa_layout_has_the_import_file_set_and_only_the_training_metrics() -> None:
    objects = trained_model(P)
    objects[f"{P}/metrics/archive.tar.gz"] = b"gz"
    bundle = plan(objects, layout="droa")
    names = targets(bundle)
    for required in (
        "training_params.yaml",
        "model_metadata.json",
        "reward_function.py",
        "ip/hyperparameters.json",
        "model/model_metadata.json",
        "model/deepracer_checkpoints.json",
        "model/.coach_checkpoint",
    ):
        assert required in names
    assert [t for t in names if t.startswith("metrics/")] == ["metrics/training/training-20260501123000.json"]
    assert not any(t.endswith((".gz", ".zip")) for t in names)


def test_worker_one_yaml_or_the_fallback_is_used_when_there_is_no_plain_yaml() -> None:
    objects = trained_model(P)
    objects[f"{P}/training_params_1.yaml"] = objects.pop(f"{P}/training_params.yaml").replace(
        b"reInvent2019_wide", b"worker_one_track"
    )
    assert yaml.safe_load(generated(plan(objects), "training_params.yaml"))["WORLD_NAME"] == "worker_one_track"

    del objects[f"{P}/training_params_1.yaml"]
    fallback = {"WORLD_NAME": "from_config", "NUM_WORKERS": "2"}
    data = yaml.safe_load(generated(plan(objects, fallback_params=fallback), "training_params.yaml"))
    assert data["WORLD_NAME"] == "from_config" and data["SAGEMAKER_SHARED_S3_BUCKET"] == TB


def test_metrics_elsewhere_and_junk_files() -> None:
    objects = trained_model(P)
    moved = {k.replace(f"{P}/metrics/", "metrics-of-rl-model/"): v for k, v in objects.items() if "/metrics/" in k}
    objects = {k: v for k, v in objects.items() if "/metrics/" not in k} | moved
    objects["metrics-of-rl-model/.DS_Store"] = b"junk"
    bundle = plan(objects, metrics_prefix="metrics-of-rl-model")
    metric_targets = {t for t in targets(bundle) if t.startswith("metrics/")}
    assert metric_targets == {
        "metrics/TrainingMetrics.json",
        "metrics/evaluation/evaluation-20260101120000.json",
        "metrics/training/training-20260501123000.json",
    }


def test_training_params_for_target_keeps_lists() -> None:
    params = {"OBJECT_POSITIONS": ["0.2,1", "0.5,-1"], "NUMBER_OF_OBSTACLES": "2", "WORLD_NAME": "x_ccw"}
    classic = yaml.safe_load(training_params_for_target(params, target_bucket="b", target_prefix="p/", layout="s3"))
    assert classic["OBJECT_POSITIONS"] == ["0.2,1", "0.5,-1"] and classic["SAGEMAKER_SHARED_S3_PREFIX"] == "p"
    droa = yaml.safe_load(training_params_for_target(params, target_bucket="b", target_prefix="p", layout="droa"))
    assert droa["NUMBER_OF_OBSTACLES"] == 2 and droa["TRACK_DIRECTION_CLOCKWISE"] is False and droa["WORLD_NAME"] == "x"


# ----------------------------------------------------------------------------- the car


def test_car_plan_is_the_frozen_graph_and_the_metadata() -> None:
    objects = trained_model(P, checkpoints=(3, 4, 5), best=4)
    bundle = plan_car(listing(objects), Reads(objects), source_prefix=P, choice="best")
    assert [(i.target, i.source_key) for i in bundle.items] == [
        ("agent/model.pb", f"{P}/model/model_4.pb"),
        ("model_metadata.json", f"{P}/model/model_metadata.json"),
    ]

    del objects[f"{P}/model/model_5.pb"]
    with pytest.raises(NotFoundError) as caught:
        plan_car(listing(objects), Reads(objects), source_prefix=P, choice="last")
    assert "model_5.pb" in caught.value.message and "checkpoints: 3, 4" in caught.value.message


def test_car_tarball_holds_exactly_the_members_and_is_reproducible() -> None:
    members = [("agent/model.pb", b"\x00pb" * 100), ("model_metadata.json", b'{"sensor": []}')]
    data = car_tarball(members)
    assert data == car_tarball(members)
    assert data[4:8] == b"\x00\x00\x00\x00"  # gzip header mtime 0
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        infos = tar.getmembers()
        assert [m.name for m in infos] == ["agent/model.pb", "model_metadata.json"]
        assert all(m.isfile() and m.mtime == 0 and m.uid == 0 and m.mode == 0o644 for m in infos)
        assert [tar.extractfile(m).read() for m in infos] == [data for _, data in members]  # type: ignore[union-attr]
    assert gzip.decompress(data)[:14] == b"agent/model.pb"


def test_car_file_name_has_no_dots_or_slashes_before_the_extension() -> None:
    assert car_file_name("rl-model", 12) == "rl-model-chk12.tar.gz"
    assert car_file_name("exp/model.v2", 3) == "exp-model-v2-chk3.tar.gz"


# ----------------------------------------------------------------------------- transfer planning


def obj(key: str, data: bytes, etag: str | None = None) -> RemoteObject:
    import hashlib

    return RemoteObject(key, len(data), etag or hashlib.md5(data).hexdigest())


def test_transfer_plan_skips_what_is_in_place_replaces_what_differs_and_wipes_only_with_wipe() -> None:
    objects = trained_model(P, checkpoints=(1, 2))
    bundle = plan(objects)
    source = {o.key: o for o in listing(objects)}
    reward = bundle.item("reward_function.py")
    coach = bundle.item("model/.coach_checkpoint")
    assert reward is not None and coach is not None and coach.content is not None
    target = [
        obj(f"{TP}/reward_function.py", objects[f"{P}/reward_function.py"]),  # same: skipped
        obj(f"{TP}/model/.coach_checkpoint", coach.content),  # same generated content: skipped
        obj(f"{TP}/ip/hyperparameters.json", b"{}"),  # different: replaced
        obj(f"{TP}/model/old_file", b"x"),  # not in the bundle
        obj(f"{TP}-2/reward_function.py", b"y"),  # a sibling prefix, never touched
    ]
    kept = plan_transfer(bundle.items, source, target, TP)
    kinds = {s.key: s.kind for s in kept.steps}
    assert kinds[f"{TP}/reward_function.py"] == kinds[f"{TP}/model/.coach_checkpoint"] == "skip"
    assert kinds[f"{TP}/ip/hyperparameters.json"] == "copy"
    assert [s.key for s in kept.replaced] == [f"{TP}/ip/hyperparameters.json"]
    assert not kept.of("delete") and len(kept.transfers) == len(bundle.items) - 2
    assert kept.untouched == (f"{TP}/model/old_file",)

    wiped = plan_transfer(bundle.items, source, target, TP, wipe=True)
    assert [s.key for s in wiped.of("delete")] == [f"{TP}/model/old_file"] and wiped.untouched == ()


def test_same_etag_proves_equality_only_when_equal() -> None:
    a = RemoteObject("a", 10, "abc-2")
    assert same_etag(a, RemoteObject("b", 10, "abc-2"))
    assert not same_etag(a, RemoteObject("b", 10, "abd-2"))
    assert not same_etag(a, RemoteObject("b", 11, "abc-2"))
    assert not same_etag(RemoteObject("a", 0, ""), RemoteObject("b", 0, ""))


def test_mirror_plan_copies_every_object_to_its_relative_path() -> None:
    objects = {"src/m/a": b"1", "src/m/b/c": b"2", "src/mm/x": b"3"}
    items = plan_mirror(listing(objects), "src/m/")
    assert [(i.target, i.source_key) for i in items] == [("a", "src/m/a"), ("b/c", "src/m/b/c")]
