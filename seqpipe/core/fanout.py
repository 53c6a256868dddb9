"""Fan-out of independent tasks: Ray tasks (local Ray or a cluster) or in-process.

The data stages call `run_tasks` with a plain function; the same code runs on a laptop
(`ray.init()` with the machine's cores) and on a Ray cluster (`runtime.ray_address`).
"""
from __future__ import annotations

import os
import sys
import threading
from typing import Any, Callable, Sequence


_RAY_START = threading.Lock()


def ensure_ray(runtime) -> None:
    """Start (address 'local') or join (any other address) Ray once per process. Stages run side
    by side in threads: without the lock two of them could both start Ray, which kills the process."""
    import ray

    with _RAY_START:
        if ray.is_initialized():
            return
        os.environ.setdefault("RAY_DEDUP_LOGS", "0")
        if runtime.ray_address == "local":
            # address "local": a Ray of its own, even where another runs (`ray start`, a test cluster),
            # which ray.init() without an address would join
            ray.init(address="local", num_cpus=runtime.num_cpus, include_dashboard=False, configure_logging=False)
        else:
            ray.init(address=runtime.ray_address)


def node_id() -> str:
    """The id of the Ray node this code runs on ("local" in a process without Ray)."""
    ray = sys.modules.get("ray")
    return ray.get_runtime_context().get_node_id() if ray is not None and ray.is_initialized() else "local"


def worker_count(runtime) -> int:
    """How many tasks run at once: 1 in-process, else the local cores or the cluster's CPUs."""
    if runtime.executor == "local":
        return 1
    if runtime.ray_address == "local":
        return runtime.num_cpus or os.cpu_count() or 1
    import ray

    ensure_ray(runtime)
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def run_tasks(fn: Callable, args: Sequence[tuple], runtime,
              on_done: Callable[[int, Any], None] | None = None) -> list:
    """Call fn(*a) for each a in args and return the results in order.

    With executor 'ray' each call is a Ray task (one CPU); a single task on a local Ray
    runs in-process, since starting Ray would cost more than it saves.
    """
    if runtime.executor == "local" or (len(args) <= 1 and runtime.ray_address == "local"):
        results = []
        for i, a in enumerate(args):
            results.append(fn(*a))
            if on_done:
                on_done(i, results[-1])
        return results
    import ray

    ensure_ray(runtime)
    remote = ray.remote(num_cpus=1, max_retries=2, scheduling_strategy="SPREAD")(fn)  # over every node
    refs = [remote.remote(*a) for a in args]
    index = {ref: i for i, ref in enumerate(refs)}
    results: list = [None] * len(refs)
    pending = list(refs)
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        i = index[done[0]]
        try:
            results[i] = ray.get(done[0])
        except ray.exceptions.RayTaskError as err:  # surface the task's own error, not Ray's wrapper
            raise err.cause from None
        if on_done:
            on_done(i, results[i])
    return results
