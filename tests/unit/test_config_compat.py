"""An existing DRfC home loads unchanged, and drfc's own templates agree with the schema.

``tests/fixtures/drfc-home`` is laid out exactly as DRfC's ``init.sh`` writes it,
and ``EXPECTED.json`` holds the values DRfC's activation exports from it.
"""

from __future__ import annotations

import enum
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from drfc.config.load import Inspection, LoadOptions, inspect_config
from drfc.config.schema import CarColor, Cloud, DockerStyle, RaceType, VarSpec, spec_by_key, specs
from drfc.core.init import InitOptions, initialise
from drfc.resources import defaults_dir

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "drfc-home"
EXPECTED: dict[str, str] = json.loads((FIXTURE / "EXPECTED.json").read_text(encoding="utf-8"))
TEMPLATES = ("template-system.env", "template-run.env", "template-worker.env")
_ASSIGNMENT = re.compile(r"^\s*(?P<comment>#\s*)?(?P<key>DR_[A-Z0-9_]+)=(?P<value>.*)$")


def load_fixture(home: Path = FIXTURE, **options: Any) -> Inspection:
    return inspect_config(LoadOptions(home=home, **options), environ={})


def copy_fixture(tmp_path: Path) -> Path:
    home = tmp_path / "drfc-home"
    shutil.copytree(FIXTURE, home)
    return home


def typed_from_text(spec: VarSpec, text: str) -> Any:
    """What a DRfC string means for the schema type, worked out independently of drfc's converter."""
    if spec.type is bool:
        return {"True": True, "False": False}[text]
    if spec.type is int:
        return int(text)
    if spec.type is float:
        return float(text)
    if issubclass(spec.type, enum.Enum):
        return spec.type(text)
    return text


# --- the DRfC home fixture -------------------------------------------------------------------------------


def test_fixture_loads_without_any_problem() -> None:
    found = load_fixture()
    assert [p.render(found.home) for p in found.problems] == []
    assert found.config is not None


@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_fixture_raw_value_matches_dr_fc(key: str) -> None:
    assert load_fixture().raw.get(key) == EXPECTED[key]


def test_only_keys_dr_fc_does_not_export_come_from_defaults() -> None:
    found = load_fixture()
    extra = set(found.raw) - set(EXPECTED)
    assert all(found.sources[key].kind == "default" for key in extra), {k: found.sources[k] for k in extra}
    assert all(found.sources[key].kind in ("system", "run") for key in EXPECTED)


@pytest.mark.parametrize("key", sorted(k for k in EXPECTED if k in spec_by_key()))
def test_fixture_typed_value_matches_the_dr_fc_string(key: str) -> None:
    found = load_fixture()
    assert found.config is not None
    spec = spec_by_key()[key]
    assert found.config.settings.value(key) == typed_from_text(spec, EXPECTED[key])


def test_fixture_typed_spot_checks() -> None:
    found = load_fixture()
    assert found.config is not None
    s = found.config.settings
    assert s.workers == 1 and type(s.workers) is int
    assert s.gui_enable is False
    assert s.car_color is CarColor.RED
    assert s.cloud is Cloud.LOCAL
    assert s.docker_style is DockerStyle.COMPOSE
    assert s.race_type is RaceType.TIME_TRIAL
    assert s.eval_off_track_penalty == 5.0 and type(s.eval_off_track_penalty) is float
    assert s.display_name == "FastCar"
    assert s.upload_s3_prefix == "rl-deepracer-sagemaker-1"
    assert s.remote_minio_url is None  # commented out in system.env
    assert s.oa_object_positions == ""


def test_fixture_with_crlf_and_bom_loads_the_same(tmp_path: Path) -> None:
    home = copy_fixture(tmp_path)
    for name in ("system.env", "run.env"):
        path = home / name
        path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes().replace(b"\n", b"\r\n"))
    found = load_fixture(home)
    assert found.problems == []
    assert {k: found.raw[k] for k in EXPECTED} == EXPECTED


def test_fixture_multi_config_uses_worker_2_for_worker_2_only(tmp_path: Path) -> None:
    home = copy_fixture(tmp_path)
    system = (home / "system.env").read_text().replace("DR_WORKERS=1", "DR_WORKERS=2")
    (home / "system.env").write_text(system)
    run = (home / "run.env").read_text().replace("DR_TRAIN_MULTI_CONFIG=False", "DR_TRAIN_MULTI_CONFIG=True")
    (home / "run.env").write_text(run)
    found = load_fixture(home, purpose="training")
    assert found.errors == [], [p.render(home) for p in found.errors]
    assert found.config is not None
    first, second = found.config.workers
    assert (first.index, first.file) == (1, None)
    assert first.settings.world_name == "reinvent_base" and first.settings.car_color is CarColor.RED
    assert second.file == home.resolve() / "worker-2.env"
    assert second.settings.world_name == "reInvent2019_track" and second.settings.car_color is CarColor.BLUE


# --- drfc's own templates ---------------------------------------------------------------------------


def template_assignments(name: str) -> list[tuple[str, str, bool]]:
    """(key, value, commented) for every DR_* assignment line of a shipped template."""
    found = []
    for line in (defaults_dir() / name).read_text(encoding="utf-8").splitlines():
        if m := _ASSIGNMENT.match(line):
            found.append((m["key"], m["value"], m["comment"] is not None))
    return found


@pytest.fixture
def fresh_home(tmp_path: Path) -> Path:
    home = tmp_path / "fresh"
    home.mkdir()
    environ = {"AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials")}
    initialise(InitOptions(home, gpu=False), detect_gpu=lambda: (False, "unused"), environ=environ)
    return home


def test_init_output_validates_clean(fresh_home: Path) -> None:
    found = inspect_config(LoadOptions(home=fresh_home, purpose="training"), environ={})
    assert [p.render(fresh_home) for p in found.problems] == []
    assert found.config is not None


@pytest.mark.parametrize("name", TEMPLATES)
def test_every_template_variable_is_a_schema_key(name: str) -> None:
    keys = [key for key, _, _ in template_assignments(name)]
    assert keys, f"{name} has no assignments"
    unknown = [key for key in keys if key not in spec_by_key()]
    assert unknown == []


def test_worker_template_only_holds_keys_that_may_differ_per_worker() -> None:
    keys = [key for key, _, _ in template_assignments("template-worker.env")]
    assert [key for key in keys if not spec_by_key()[key].worker] == []


@pytest.mark.parametrize("name", ["system.env", "run.env"])
def test_init_output_values_equal_the_schema_defaults(fresh_home: Path, name: str) -> None:
    # The init output, so the {{...}} placeholders are filled as `drfc init --cpu --cloud local` fills them.
    differing = {}
    for line in (fresh_home / name).read_text(encoding="utf-8").splitlines():
        m = _ASSIGNMENT.match(line)
        if m and not m["comment"] and spec_by_key()[m["key"]].default != m["value"]:
            differing[m["key"]] = (m["value"], spec_by_key()[m["key"]].default)
    assert differing == {}


def test_init_output_has_no_placeholders_left(fresh_home: Path) -> None:
    for name in ("system.env", "run.env"):
        assert re.findall(r"\{\{[A-Z_]+\}\}", (fresh_home / name).read_text(encoding="utf-8")) == []


def _template_keys() -> set[str]:
    return {key for name in TEMPLATES for key, _, _ in template_assignments(name)}


@pytest.mark.parametrize(
    "key",
    [
        s.key
        for s in specs()
        if not s.secret  # secrets are never suggested in a template: they come from the environment
    ],
)
def test_every_schema_key_appears_in_a_template(key: str) -> None:
    assert key in _template_keys()


def test_no_template_holds_a_secret() -> None:
    secrets = {s.key for s in specs() if s.secret}
    assert secrets and not (secrets & _template_keys())
