"""How the embedding trainers' workers merge their moves (seqpipe.training.scaling): unrelated
moves add up as one process's steps would, equal moves are not counted N times, and the
frequency-tiered schedule merges the leading rows often and every row at an epoch's end.

Two real processes joined by torch.distributed (gloo on 127.0.0.1); no Ray needed.
"""
from __future__ import annotations

import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from seqpipe.training.scaling import merge_leading_rows, merge_summed_moves, rows_to_merge, worker_lr


def _moves(rank: int) -> torch.Tensor:
    """One worker's moves of 4 rows from zero."""
    moves = torch.zeros(4, 2)
    moves[0] = torch.tensor([1.0, 0.0]) if rank == 0 else torch.tensor([0.0, 1.0])  # unrelated directions
    moves[1] = torch.tensor([2.0, 2.0])                                                # the same move on both
    moves[2] = torch.tensor([3.0, 0.0]) if rank == 0 else torch.zeros(2)              # one worker's
    return moves                                                                       # row 3: no one's


def _worker(rank: int, port: int, out: str) -> None:
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    torch.set_num_threads(1)
    merged = _moves(rank)
    merge_summed_moves([merged], [torch.zeros(4, 2)], dist.all_reduce)
    biases = torch.tensor([1.0, 2.0]) if rank == 0 else torch.tensor([-1.0, 2.0])  # 1-D: per element
    merge_summed_moves([biases], [torch.zeros(2)], dist.all_reduce)

    tiered, before = _moves(rank), torch.zeros(4, 2)
    merge_leading_rows([tiered], [before], dist.all_reduce, rows=2)
    after_first = (tiered.clone(), before.clone())
    tiered[3] += 1.0 + rank                      # a later move of a row not merged yet
    merge_leading_rows([tiered], [before], dist.all_reduce, rows=4)
    if rank == 0:
        torch.save({"merged": merged, "biases": biases, "first": after_first, "tiered": tiered}, out)
    dist.destroy_process_group()


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = str(tmp_path_factory.mktemp("merge") / "merged.pt")
    mp.spawn(_worker, args=(port, out), nprocs=2, join=True)
    return torch.load(out)


def test_unrelated_moves_add_up_as_one_process_steps_would(two_workers):
    # the mean move of the workers that moved a row (the earlier rule) gave [0.5, 0.5]: each of
    # N workers' steps on a row they all touch counted 1/N, as if the learning rate were lr / N
    assert two_workers["merged"][0].tolist() == [1.0, 1.0]


def test_equal_moves_are_not_counted_twice(two_workers):
    # a plain sum gives [4, 4]: a frequent row each worker already took to the same place
    # overshoots N-fold (the sum diverged with 4 workers)
    assert two_workers["merged"][1].tolist() == pytest.approx([2.0, 2.0])


def test_a_row_one_worker_moved_keeps_its_move_and_an_unmoved_row_stays(two_workers):
    assert two_workers["merged"][2].tolist() == [3.0, 0.0]
    assert two_workers["merged"][3].tolist() == [0.0, 0.0]


def test_one_dimensional_tensors_merge_per_element(two_workers):
    assert two_workers["biases"].tolist() == pytest.approx([0.0, 2.0])  # opposite moves cancel; equal ones: mean


def test_leading_rows_merge_and_the_rest_wait_for_a_later_merge(two_workers):
    first, before = two_workers["first"]
    assert torch.allclose(first[:2], torch.tensor([[1.0, 1.0], [2.0, 2.0]]))
    assert first[2:].tolist() == [[3.0, 0.0], [0.0, 0.0]]          # rank 0's own moves, not merged yet
    assert before[:2].tolist() == first[:2].tolist() and before[2:].abs().sum() == 0
    # the full merge counts every move since a row's last merge: rank 0's [3, 0] and both workers' row 3
    tiered = two_workers["tiered"]
    assert tiered[:2].tolist() == first[:2].tolist()
    assert tiered[2].tolist() == [3.0, 0.0]
    # moves [1, 1] and [2, 2] point the same way: their sum [3, 3] shrunk by (2 + 8) / 18
    assert tiered[3].tolist() == pytest.approx([5 / 3, 5 / 3])


def test_rows_to_merge_doubles_with_the_trailing_zero_bits_and_takes_every_row_last():
    assert [rows_to_merge(m, 9, 16, 2) for m in range(1, 10)] == [2, 4, 2, 8, 2, 4, 2, 16, 16]
    assert [rows_to_merge(m, 3, 100, 8) for m in range(1, 4)] == [8, 16, 100]
    assert rows_to_merge(1, 1, 5, 1024) == 5


def test_workers_start_from_the_learning_rate_times_the_root_of_their_number():
    """One worker trains at the configured rate; N workers, whose agreeing moves merge to their mean,
    at sqrt(N) times it (the book-corpus figures are in scaling.worker_lr)."""
    assert worker_lr(0.025, 1) == 0.025
    assert worker_lr(0.025, 4) == pytest.approx(0.05)
    assert worker_lr(0.025, 8) == pytest.approx(0.025 * 8 ** 0.5)
