"""``drfc init`` planning (drfc/core/init.py) and the local store's AWS profile (drfc/core/credentials.py).

DRfC's init.sh overwrites system.env, run.env and custom_files/ every time it
runs (§8.12); drfc keeps what is there unless forced, and then keeps a backup.
"""

from __future__ import annotations

import configparser
import stat
from pathlib import Path

import pytest
from drfc.config.schema import Cloud
from drfc.core import init as init_module
from drfc.core.credentials import credentials_file, ensure_profile, profile_keys
from drfc.core.init import CUSTOM_FILES, InitOptions, initialise
from drfc.errors import ConfigError
from drfc.resources import SIMAPP_VERSION, defaults_dir


class FakeDetector:
    def __init__(self, gpu: bool) -> None:
        self.gpu = gpu
        self.calls = 0

    def __call__(self) -> tuple[bool, str]:
        self.calls += 1
        return self.gpu, "fake detector"


@pytest.fixture
def creds(tmp_path: Path) -> dict[str, str]:
    return {"AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "aws" / "credentials")}


def run_init(home: Path, environ: dict[str, str], **options: object) -> init_module.InitResult:
    detector = options.pop("detector", FakeDetector(False))
    return initialise(InitOptions(home, **options), detector, environ)  # type: ignore[arg-type]


def simapp_tag(home: Path) -> str:
    for line in (home / "system.env").read_text().splitlines():
        if line.startswith("DR_SIMAPP_VERSION="):
            return line.split("=", 1)[1]
    raise AssertionError("no DR_SIMAPP_VERSION line")


def test_writes_system_run_and_custom_files(tmp_path: Path, creds: dict[str, str]) -> None:
    home = tmp_path / "home"
    result = run_init(home, creds, gpu=False)
    expected = [home / "system.env", home / "run.env", *(home / "custom_files" / n for n in CUSTOM_FILES)]
    assert sorted(result.written) == sorted(expected)
    assert result.kept == [] and result.backups == []
    for name in CUSTOM_FILES:
        assert (home / "custom_files" / name).read_bytes() == (defaults_dir() / name).read_bytes()


@pytest.mark.parametrize(("gpu", "suffix"), [(True, "gpu"), (False, "cpu")])
def test_forced_choice_skips_detection(tmp_path: Path, creds: dict[str, str], gpu: bool, suffix: str) -> None:
    detector = FakeDetector(not gpu)
    result = run_init(tmp_path / "home", creds, gpu=gpu, detector=detector)
    assert detector.calls == 0
    assert simapp_tag(tmp_path / "home") == result.simapp_version == f"{SIMAPP_VERSION}-{suffix}"
    assert result.gpu is gpu and "chosen with" in result.gpu_reason


@pytest.mark.parametrize(("found", "suffix"), [(True, "gpu"), (False, "cpu")])
def test_detection_when_not_forced(tmp_path: Path, creds: dict[str, str], found: bool, suffix: str) -> None:
    detector = FakeDetector(found)
    result = run_init(tmp_path / "home", creds, detector=detector)
    assert detector.calls == 1
    assert simapp_tag(tmp_path / "home") == f"{SIMAPP_VERSION}-{suffix}"
    assert result.gpu_reason == "fake detector"


def test_existing_files_are_kept_without_force(tmp_path: Path, creds: dict[str, str]) -> None:
    home = tmp_path / "home"
    run_init(home, creds, gpu=False)
    (home / "run.env").write_text("DR_CAR_NAME=Mine\n")
    (home / "custom_files" / "reward_function.py").write_text("# my reward\n")
    result = run_init(home, creds, gpu=True)
    assert result.written == [] and result.backups == []
    assert len(result.kept) == 2 + len(CUSTOM_FILES)
    assert (home / "run.env").read_text() == "DR_CAR_NAME=Mine\n"
    assert (home / "custom_files" / "reward_function.py").read_text() == "# my reward\n"
    assert simapp_tag(home).endswith("-cpu")  # system.env untouched too


def test_missing_files_are_added_next_to_kept_ones(tmp_path: Path, creds: dict[str, str]) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "system.env").write_text("DR_CLOUD=local\n")
    result = run_init(home, creds, gpu=False)
    assert result.kept == [home / "system.env"]
    assert (home / "system.env").read_text() == "DR_CLOUD=local\n"
    assert (home / "run.env").is_file()


def test_force_replaces_and_keeps_a_backup_of_each_file(tmp_path: Path, creds: dict[str, str]) -> None:
    home = tmp_path / "home"
    run_init(home, creds, gpu=False)
    (home / "run.env").write_text("DR_CAR_NAME=Mine\n")
    result = run_init(home, creds, gpu=False, force=True)
    assert len(result.backups) == 2 + len(CUSTOM_FILES)
    run_backups = [b for b in result.backups if b.name.startswith("run.env.bak-")]
    assert len(run_backups) == 1
    assert run_backups[0].read_text() == "DR_CAR_NAME=Mine\n"
    assert "DR_CAR_NAME=FastCar" in (home / "run.env").read_text()


def test_two_forced_inits_in_the_same_second_keep_both_backups(
    tmp_path: Path, creds: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(init_module.time, "strftime", lambda fmt: "20260101-120000")
    home = tmp_path / "home"
    run_init(home, creds, gpu=False)
    (home / "run.env").write_text("DR_CAR_NAME=Original\n")
    run_init(home, creds, gpu=False, force=True)
    (home / "run.env").write_text("DR_CAR_NAME=Second\n")
    run_init(home, creds, gpu=False, force=True)
    backups = sorted(home.glob("run.env.bak-*"))
    assert sorted(b.read_text() for b in backups) == ["DR_CAR_NAME=Original\n", "DR_CAR_NAME=Second\n"]


def test_experiment_gets_its_own_run_env_and_custom_files(tmp_path: Path, creds: dict[str, str]) -> None:
    home = tmp_path / "home"
    result = run_init(home, creds, gpu=False, experiment="exp1")
    folder = home / "experiments" / "exp1"
    assert (home / "system.env").is_file()
    assert not (home / "run.env").exists()
    assert (folder / "run.env").is_file()
    assert sorted(p.name for p in (folder / "custom_files").iterdir()) == sorted(CUSTOM_FILES)
    assert folder / "run.env" in result.written


# --- the AWS profile of the local store ---------------------------------------------------------------------


@pytest.mark.parametrize(("cloud", "profile"), [(Cloud.LOCAL, "minio"), (Cloud.AZURE, "minio")])
def test_managed_store_gets_a_private_profile(
    tmp_path: Path, creds: dict[str, str], cloud: Cloud, profile: str
) -> None:
    result = run_init(tmp_path / "home", creds, gpu=False, cloud=cloud)
    path = Path(creds["AWS_SHARED_CREDENTIALS_FILE"])
    assert result.profile_created and profile in result.profile_created
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    keys = profile_keys(profile, creds)
    assert keys is not None and all(len(k) >= 16 for k in keys)
    assert keys[0] not in result.profile_created and keys[1] not in result.profile_created
    assert keys[1] not in str(result.to_dict())


@pytest.mark.parametrize("cloud", [Cloud.AWS, Cloud.REMOTE])
def test_no_profile_is_made_for_aws_or_remote(tmp_path: Path, creds: dict[str, str], cloud: Cloud) -> None:
    result = run_init(tmp_path / "home", creds, gpu=False, cloud=cloud)
    assert result.profile_created is None
    assert not Path(creds["AWS_SHARED_CREDENTIALS_FILE"]).exists()


def test_aws_cloud_uses_the_default_profile(tmp_path: Path, creds: dict[str, str]) -> None:
    run_init(tmp_path / "home", creds, gpu=False, cloud=Cloud.AWS)
    text = (tmp_path / "home" / "system.env").read_text()
    assert "DR_LOCAL_S3_PROFILE=default\n" in text and "DR_CLOUD=aws\n" in text


def test_existing_profile_is_never_replaced(tmp_path: Path, creds: dict[str, str]) -> None:
    path = Path(creds["AWS_SHARED_CREDENTIALS_FILE"])
    path.parent.mkdir()
    original = "[minio]\naws_access_key_id = MYKEY\naws_secret_access_key = MYSECRET\n"
    path.write_text(original)
    result = run_init(tmp_path / "home", creds, gpu=False)
    assert result.profile_created is None
    assert path.read_text() == original
    assert ensure_profile("minio", "us-east-1", creds) is False


def test_adding_a_profile_keeps_the_rest_of_the_file(tmp_path: Path, creds: dict[str, str]) -> None:
    path = Path(creds["AWS_SHARED_CREDENTIALS_FILE"])
    path.parent.mkdir()
    original = "# my work account\n[default]\naws_access_key_id = AKIAWORK\naws_secret_access_key = worksecret\n"
    path.write_text(original)
    path.chmod(0o644)
    assert ensure_profile("minio", "eu-west-1", creds) is True
    text = path.read_text()
    assert text.startswith(original)  # comments and the other profile untouched
    parser = configparser.RawConfigParser()
    parser.read_string(text)
    assert parser.get("default", "aws_secret_access_key") == "worksecret"
    assert parser.get("minio", "region") == "eu-west-1"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_profile_section_without_keys_is_completed(tmp_path: Path, creds: dict[str, str]) -> None:
    path = Path(creds["AWS_SHARED_CREDENTIALS_FILE"])
    path.parent.mkdir()
    path.write_text("[minio]\nregion = us-east-1\n")
    assert profile_keys("minio", creds) is None
    assert ensure_profile("minio", "us-east-1", creds) is True
    assert profile_keys("minio", creds) is not None
    assert ensure_profile("minio", "us-east-1", creds) is False


def test_credentials_file_location(tmp_path: Path) -> None:
    assert credentials_file({"AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "c")}) == tmp_path / "c"
    assert credentials_file({"HOME": str(tmp_path)}).name == "credentials"


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("aws_secret_access_key = LEAKME\n", 1),  # no section header
        ("[minio]\naws_access_key_id = A\n[minio]\naws_secret_access_key = LEAKME\n", 3),  # duplicate section
        ("[minio]\naws_access_key_id = A\n  LEAKME continuation\nno equals LEAKME\n", 4),
    ],
)
def test_unreadable_credentials_file_is_a_config_error_without_its_contents(
    tmp_path: Path, creds: dict[str, str], text: str, line: int
) -> None:
    path = Path(creds["AWS_SHARED_CREDENTIALS_FILE"])
    path.parent.mkdir()
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        ensure_profile("minio", "us-east-1", creds)
    assert str(path) in caught.value.message and f"line {line}" in caught.value.message
    assert "LEAKME" not in f"{caught.value.message} {caught.value.hint}"
    assert path.read_text() == text  # left as it was
