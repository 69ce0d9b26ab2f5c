"""Many tasks on Dask, for ``synth`` and ``create``: a local cluster that only this machine can reach, or a
render farm's scheduler; and the one status line both print.

A local cluster runs its workers as threads of this process (each task starts its own fresh process) and
talks to them in-process: nothing listens on the network but Dask's HTTP server, bound to 127.0.0.1, with
the dashboard off unless asked for (``dashboard=True`` prints its loopback address). Dask is imported only
here, and only when a cluster is made.
"""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from typing import Iterator

from .errors import HeadforgeError


class FarmError(HeadforgeError):
    kind = "farm"


@contextmanager
def dask_client(workers: int = 1, scheduler: str | None = None, dashboard: bool = False,
                log=print) -> Iterator:
    """A ``distributed.Client``: on ``scheduler`` (``tcp://host:8786``) when given, else on a local cluster
    of ``workers`` single-thread workers bound to 127.0.0.1. Closed on exit."""
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise FarmError("Dask is not installed: `pip install 'dask[distributed]'` (make install does it).") from None
    if workers < 1:
        raise FarmError(f"--workers must be at least 1 (got {workers}).")
    cluster = None
    if scheduler:
        try:
            client = Client(scheduler, timeout="10s")
        except (OSError, TimeoutError, ValueError) as e:
            raise FarmError(f"Cannot reach the Dask scheduler at {scheduler!r} ({e}). Check the address "
                            "(tcp://host:8786) and that the scheduler is running.") from None
    else:
        import dask

        # the workers are threads of this process: if it is suspended (a laptop asleep, Ctrl-Z), they stop with
        # the scheduler, so the scheduler must not drop them for a missed heartbeat (that left a run waiting
        # forever on workers it had removed)
        with dask.config.set({"distributed.scheduler.worker-ttl": None}):
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=False,
                                   dashboard_address="127.0.0.1:0", worker_dashboard_address="127.0.0.1:0",
                                   scheduler_kwargs={"dashboard": dashboard})
        client = Client(cluster)
        if dashboard:
            port = cluster.scheduler.http_server.port
            log(f"Dask dashboard (this machine only): http://127.0.0.1:{port}/status")
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


class Progress:
    """One status line: items done, rate and time left (a fresh line per update when not a terminal)."""

    def __init__(self, total: int, done: int, what: str = "images", prefix: str = "synth", stream=sys.stderr):
        self.total, self.done0, self.done = total, done, done
        self.what, self.prefix = what, prefix
        self.t0 = time.perf_counter()
        self.stream = stream
        self.tty = hasattr(stream, "isatty") and stream.isatty()

    def update(self, n: int):
        self.done += n
        dt = time.perf_counter() - self.t0
        rate = (self.done - self.done0) / dt if dt > 0 else 0.0
        left = (self.total - self.done) / rate if rate > 0 else float("nan")
        eta = time.strftime("%H:%M:%S", time.gmtime(left)) if left == left else "--:--:--"
        msg = (f"{self.prefix}: {self.done}/{self.total} {self.what} ({100 * self.done / max(self.total, 1):.0f} %), "
               f"{rate * 60:.1f} {self.what}/min, {eta} left")
        print(("\r" + msg) if self.tty else msg, end="" if self.tty else "\n", file=self.stream, flush=True)

    def close(self):
        if self.tty:
            print(file=self.stream)
