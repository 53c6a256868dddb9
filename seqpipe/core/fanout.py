"""Fan-out of independent tasks: Ray tasks (local Ray or a cluster) or in-process.

The data stages call `run_tasks` with a plain function; the same code runs on a laptop
(`ray.init()` with the machine's cores) and on a Ray cluster (`runtime.ray_address`).
"""
from __future__ import annotations

import functools
import os
import sys
import tempfile
import threading
from pathlib import Path
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
    """The id of the Ray node this code runs on ("local" in a process without Ray; "client" in a
    Ray Client driver, which runs on no node of the cluster)."""
    ray = sys.modules.get("ray")
    if ray is None or not ray.is_initialized():
        return "local"
    try:
        return ray.get_runtime_context().get_node_id()
    except Exception:  # Ray Client: the driver is not a node
        return "client"


def several_nodes() -> bool:
    """Whether this process's Ray has more than one live node (machines that share no disk)."""
    ray = sys.modules.get("ray")
    return ray is not None and ray.is_initialized() and sum(node["Alive"] for node in ray.nodes()) > 1


def put_object(value: Any) -> Any:
    """`value` in Ray's object store, where a task or worker on any node gets it (get_object)."""
    import ray

    return ray.put(value)


def get_object(ref: Any) -> Any:
    import ray

    return ray.get(ref)


def worker_count(runtime) -> int:
    """How many tasks run at once: 1 in-process, else the local cores or the cluster's CPUs."""
    if runtime.executor == "local":
        return 1
    if runtime.ray_address == "local":
        return runtime.num_cpus or os.cpu_count() or 1
    import ray

    ensure_ray(runtime)
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def run_tasks(fn: Callable, args: Sequence[tuple], runtime, on_done: Callable[[int, Any], None] | None = None,
              on_driver: bool = False, writes_into: str | None = None) -> list:
    """Call fn(*a) for each a in args and return the results in order.

    With executor 'ray' each call is a Ray task (one CPU), spread over the cluster's nodes; a
    single task on a local Ray runs in-process, since starting Ray would cost more than it saves.
    Nodes share no disk (unless runtime.shared_disk): `on_driver` keeps the tasks on the driver's node (they read its files),
    and `writes_into` names the driver's folder that fn's first argument is: a task on another
    node writes a temporary folder of its own instead, whose files come back through Ray's
    object store and are written into `writes_into` here.
    """
    if runtime.executor == "local" or (len(args) <= 1 and runtime.ray_address == "local"):
        results = []
        for i, a in enumerate(args):
            results.append(fn(*a))
            if on_done:
                on_done(i, results[-1])
        return results
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    ensure_ray(runtime)
    driver = node_id()
    if runtime.shared_disk:  # every node sees the driver's paths
        on_driver, writes_into = False, None
    strategy = NodeAffinitySchedulingStrategy(driver, soft=False) if on_driver else "SPREAD"
    if writes_into is not None:
        fn = _writing_where_possible(fn, driver)
    remote = ray.remote(num_cpus=1, max_retries=2, scheduling_strategy=strategy)(fn)
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
        if writes_into is not None:
            results[i] = _write_files(Path(writes_into), *results[i])
        if on_done:
            on_done(i, results[i])
    return results


def _writing_where_possible(fn: Callable, driver: str) -> Callable:
    """fn(folder, *args) on the driver's node; elsewhere fn(a temporary folder, *args), returning
    (its result, {relative name: bytes} of the files it wrote)."""
    @functools.wraps(fn)
    def task(folder: str, *args) -> tuple[Any, dict[str, bytes]]:
        if node_id() == driver:
            return fn(folder, *args), {}
        with tempfile.TemporaryDirectory(prefix="seqpipe-task-") as scratch:
            result = fn(scratch, *args)
            root = Path(scratch)
            return result, {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}
    return task


def _write_files(folder: Path, result: Any, files: dict[str, bytes]) -> Any:
    for rel, data in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(data)
    return result
