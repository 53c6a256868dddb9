"""How many Ray Train workers, with how many CPUs and torch threads each."""
from __future__ import annotations


def worker_scaling(num_workers: int, use_gpu: bool, threads_per_worker: int | None):
    """(ScalingConfig, torch threads per worker) sharing the cluster's CPUs between the workers.

    A worker asks for no more than its share of the CPUs (fractional when there are
    fewer CPUs than workers), so a small machine can still place them all.
    """
    import ray
    import ray.train

    cores = int(ray.cluster_resources().get("CPU", 1))
    per_worker = max(1, cores // num_workers)
    scaling = ray.train.ScalingConfig(num_workers=num_workers, use_gpu=use_gpu,
                                      resources_per_worker={"CPU": min(per_worker, cores / num_workers)})
    return scaling, threads_per_worker or per_worker
