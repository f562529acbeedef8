"""Running transfers on a thread pool so that a failure or Ctrl-C leaves a state a re-run completes."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed

from drfc.errors import DrfcError


def run_transfers(
    jobs: Sequence[Callable[[], None]],
    *,
    workers: int,
    name: str,
    translate: Callable[[BaseException], BaseException] | None = None,
) -> None:
    """Run ``jobs``; the first failure stops what has not started and is re-raised with a count.

    ``translate`` turns a foreign exception into a drfc error (the S3 adapter's mapping); without it,
    a foreign exception propagates unchanged.
    """
    if not jobs:
        return
    stop = threading.Event()

    def run(job: Callable[[], None]) -> bool:
        if stop.is_set():
            return False
        job()
        return True

    pool = ThreadPoolExecutor(max_workers=min(workers, len(jobs)), thread_name_prefix=name)
    failures: list[BaseException] = []
    done = 0
    try:
        futures: list[Future[bool]] = [pool.submit(run, job) for job in jobs]
        for future in as_completed(futures):
            error = future.exception()
            if error is not None:
                failures.append(error)
                stop.set()
            elif future.result():
                done += 1
    except BaseException:
        stop.set()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    if not failures:
        return
    first = failures[0]
    if not isinstance(first, DrfcError):
        if translate is None:
            raise first
        first = translate(first)
        if not isinstance(first, DrfcError):
            raise first from failures[0]
    note = (
        f"; {done} of {len(jobs)} transfers completed before the failure"
        f"{f' ({len(failures)} failed)' if len(failures) > 1 else ''}; "
        "running the same command again finishes the rest"
    )
    raise type(first)(first.message + note, hint=first.hint) from failures[0]
