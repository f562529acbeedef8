"""The one exception hierarchy of drfc.

Every failure a user can cause or meet is a ``DrfcError`` subclass with a
stable exit code, so scripts and CI can tell the classes of failure apart.
This module imports nothing from the rest of drfc or any third party: core
and adapters raise these, and only the CLI boundary turns them into text.

Exit codes (also listed in the README):

====  =========================================================
code  meaning
====  =========================================================
0     success
1     unexpected internal error (a bug; re-run with ``--debug``)
2     command-line usage error (Click)
3     invalid configuration (env files, flags)
4     invalid custom files (hyperparameters, model metadata, reward)
5     conflict: something already exists or is already running
6     something required was not found
7     aborted: a confirmation was declined
8     a model cannot be exported as asked (its files in S3 are inconsistent)
10    Docker Engine not reachable
11    a Docker Engine operation failed
12    an image could not be pulled
13    a GPU was requested but none is usable
20    S3 endpoint not reachable
21    S3 credentials missing or rejected
22    S3 bucket does not exist
23    S3 access denied
24    an S3 transfer failed
30    a run failed (a container exited or the trainer reported an error)
40    DeepRacer on AWS (DRoA) request failed
130   interrupted (Ctrl-C)
====  =========================================================
"""

from __future__ import annotations


class DrfcError(Exception):
    """Base class: a failure with a user-facing message and an exit code."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class ConfigError(DrfcError):
    """Configuration files or flags are invalid; carries every problem found."""

    exit_code = 3

    def __init__(self, message: str, *, problems: list[str] | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.problems = list(problems or [])


class CustomFilesError(ConfigError):
    """``custom_files/`` (hyperparameters, model metadata, reward function) is invalid."""

    exit_code = 4


class ConflictError(DrfcError):
    """Something already exists or runs, and going on would overwrite or collide."""

    exit_code = 5


class NotFoundError(DrfcError):
    """Something required (a file, a model, a checkpoint, a container) is missing."""

    exit_code = 6


class AbortedError(DrfcError):
    """The user declined a confirmation."""

    exit_code = 7


class UploadError(DrfcError):
    """A model cannot be exported as asked: its files in S3 are damaged or contradict each other."""

    exit_code = 8


class DockerUnavailableError(DrfcError):
    """The Docker Engine cannot be reached."""

    exit_code = 10


class DockerError(DrfcError):
    """A Docker Engine operation failed."""

    exit_code = 11


class ImagePullError(DockerError):
    """An image is not present locally and could not be pulled."""

    exit_code = 12


class GpuUnavailableError(DockerError):
    """A GPU image was chosen but the engine offers no NVIDIA runtime."""

    exit_code = 13


class S3Error(DrfcError):
    """Base for storage failures."""

    exit_code = 24


class S3EndpointUnreachableError(S3Error):
    """Nothing answers at the S3 endpoint."""

    exit_code = 20


class S3CredentialsError(S3Error):
    """No credentials were found, or the endpoint rejected them."""

    exit_code = 21


class S3BucketMissingError(S3Error):
    """The bucket does not exist."""

    exit_code = 22


class S3AccessDeniedError(S3Error):
    """The credentials are valid but not allowed to do this."""

    exit_code = 23


class S3TransferError(S3Error):
    """An upload, download or copy failed part-way."""

    exit_code = 24


class RunFailedError(DrfcError):
    """A training or evaluation run failed to start or reported a failure."""

    exit_code = 30


class DroaError(DrfcError):
    """A request to DeepRacer on AWS failed."""

    exit_code = 40


class DroaUnreachableError(DroaError):
    """The DRoA site (env.js), its API or its Cognito endpoints do not answer."""


class DroaAuthError(DroaError):
    """Sign-in was refused: wrong password, unknown user, or a challenge only the web UI can answer."""


class DroaCredentialsExpiredError(DroaError):
    """The API still calls the temporary credentials expired after one automatic refresh."""


class DroaRequestError(DroaError):
    """The DRoA API answered with an HTTP error; ``status`` is its code, the message is DRoA's."""

    def __init__(self, message: str, *, status: int = 0, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status = status


class DroaImportError(DroaError):
    """A model cannot be imported: pre-flight problems, or the import ended in ERROR (its reason attached)."""

    def __init__(self, message: str, *, problems: list[str] | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.problems = list(problems or [])


class InterruptedByUser(DrfcError):
    """Ctrl-C; raised after cleanup so the boundary exits 130."""

    exit_code = 130


#: Every class above, for the README table and the error-mapping tests.
ALL_ERRORS: tuple[type[DrfcError], ...] = (
    DrfcError,
    ConfigError,
    CustomFilesError,
    ConflictError,
    NotFoundError,
    AbortedError,
    UploadError,
    DockerUnavailableError,
    DockerError,
    ImagePullError,
    GpuUnavailableError,
    S3Error,
    S3EndpointUnreachableError,
    S3CredentialsError,
    S3BucketMissingError,
    S3AccessDeniedError,
    S3TransferError,
    RunFailedError,
    DroaError,
    DroaUnreachableError,
    DroaAuthError,
    DroaCredentialsExpiredError,
    DroaRequestError,
    DroaImportError,
    InterruptedByUser,
)
