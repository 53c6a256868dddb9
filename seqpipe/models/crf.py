"""Linear-chain conditional random field (CRF) layer.

Hand-written in plain torch because torch ships no CRF. Shapes: B batch, T time, K tags.
A sequence y_0..y_{L-1} of a row with L = mask.sum() scores

    start[y_0] + sum_t emissions[t, y_t] + sum_{t>0} transitions[y_{t-1}, y_t] + end[y_{L-1}]

and p(y | emissions) = exp(score(y)) / sum_y' exp(score(y')). The partition sum runs the
forward algorithm (logsumexp), decoding runs Viterbi (max); both are vectorised over the
batch and loop over time in Python. Masks are prefix masks: mask[:, 0] is all True and each
row is True for its first L positions. Padding (mask False) never changes a result.

Optional ``allowed`` constraints add a large negative constant to forbidden start tags,
transitions and end tags, in training and decoding alike.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

FORBIDDEN = -1e4  # added to disallowed scores: exp(-1e4) is 0 in float32 and float64


class CRF(nn.Module):
    def __init__(self, num_tags: int, allowed: tuple[Tensor, Tensor, Tensor] | None = None):
        """transitions[from, to] (K, K), start (K,), end (K,), initialised uniform in -0.1..0.1.

        allowed: optional (start_allowed (K,), trans_allowed (K, K), end_allowed (K,)) bools.
        """
        super().__init__()
        self.num_tags = num_tags
        self.transitions = nn.Parameter(torch.empty(num_tags, num_tags).uniform_(-0.1, 0.1))
        self.start = nn.Parameter(torch.empty(num_tags).uniform_(-0.1, 0.1))
        self.end = nn.Parameter(torch.empty(num_tags).uniform_(-0.1, 0.1))
        if allowed is None:
            allowed = (torch.ones(num_tags), torch.ones(num_tags, num_tags), torch.ones(num_tags))
        shapes = [(num_tags,), (num_tags, num_tags), (num_tags,)]
        penalties = []
        for ok, shape in zip(allowed, shapes):
            ok = torch.as_tensor(ok).bool()
            if ok.shape != shape:
                raise ValueError(f"allowed mask has shape {tuple(ok.shape)}, expected {shape}")
            penalties.append(torch.where(ok, 0.0, FORBIDDEN))
        # Buffers, so they follow .to(device); rebuilt from `allowed` on construction.
        self.register_buffer("start_penalty", penalties[0], persistent=False)
        self.register_buffer("trans_penalty", penalties[1], persistent=False)
        self.register_buffer("end_penalty", penalties[2], persistent=False)

    def _scores(self, dtype: torch.dtype) -> tuple[Tensor, Tensor, Tensor]:
        """start (K,), transitions (K, K), end (K,) with the constraints applied, in `dtype`."""
        start = (self.start + self.start_penalty).to(dtype)
        trans = (self.transitions + self.trans_penalty).to(dtype)
        end = (self.end + self.end_penalty).to(dtype)
        return start, trans, end

    def _prepare(self, emissions: Tensor, mask: Tensor, tags: Tensor | None = None):
        """Check shapes; zero emissions (and tags) at padding so no garbage can leak in."""
        if emissions.dim() != 3 or emissions.shape[2] != self.num_tags:
            raise ValueError(f"emissions must be (B, T, {self.num_tags}), got {tuple(emissions.shape)}")
        if mask.shape != emissions.shape[:2] or (tags is not None and tags.shape != mask.shape):
            raise ValueError("mask (and tags) must be (B, T) like emissions[..., 0]")
        mask = mask.bool()
        emissions = emissions.masked_fill(~mask.unsqueeze(2), 0.0)
        if tags is not None:
            tags = tags.long().masked_fill(~mask, 0)
        return emissions, mask, tags

    def log_likelihood(self, emissions: Tensor, tags: Tensor, mask: Tensor) -> Tensor:
        """(B,) log p(tags | emissions): gold path score minus log partition."""
        emissions, mask, tags = self._prepare(emissions, mask, tags)
        start, trans, end = self._scores(emissions.dtype)
        return self._gold_score(emissions, tags, mask, start, trans, end) - self._log_partition(
            emissions, mask, start, trans, end
        )

    @staticmethod
    def _gold_score(emissions, tags, mask, start, trans, end) -> Tensor:
        """(B,) score of the given tag path; padding steps contribute nothing."""
        emit = emissions.gather(2, tags.unsqueeze(2)).squeeze(2)  # (B, T), 0 at padding
        steps = torch.where(mask[:, 1:], trans[tags[:, :-1], tags[:, 1:]], 0.0)  # (B, T-1)
        last = tags.gather(1, mask.sum(1, keepdim=True) - 1).squeeze(1)  # tag at position L-1
        return start[tags[:, 0]] + emit.sum(1) + steps.sum(1) + end[last]

    @staticmethod
    def _log_partition(emissions, mask, start, trans, end) -> Tensor:
        """(B,) log sum over all paths of exp(score): the forward algorithm."""
        alpha = start + emissions[:, 0]  # (B, K): log-sum of paths ending in each tag
        for t in range(1, emissions.shape[1]):
            # (B, from, 1) + (from, to) + (B, 1, to), summed out over `from`
            nxt = torch.logsumexp(alpha.unsqueeze(2) + trans + emissions[:, t].unsqueeze(1), dim=1)
            alpha = torch.where(mask[:, t].unsqueeze(1), nxt, alpha)
        return torch.logsumexp(alpha + end, dim=1)

    @torch.no_grad()
    def decode(self, emissions: Tensor, mask: Tensor) -> list[list[int]]:
        """Viterbi: the best tag sequence per row, each as long as that row's mask sum."""
        emissions, mask, _ = self._prepare(emissions, mask)
        start, trans, end = self._scores(emissions.dtype)
        batch, steps, _ = emissions.shape
        score = start + emissions[:, 0]  # (B, K): best score of a path ending in each tag
        backpointers = []  # per step t >= 1: (B, K) best previous tag for each current tag
        for t in range(1, steps):
            best, prev = (score.unsqueeze(2) + trans).max(dim=1)
            score = torch.where(mask[:, t].unsqueeze(1), best + emissions[:, t], score)
            backpointers.append(prev)
        tag = (score + end).argmax(dim=1)  # (B,) tag at each row's last real position
        path = torch.zeros(batch, steps, dtype=torch.long, device=emissions.device)
        for t in range(steps - 1, 0, -1):  # walk back; padding steps leave `tag` as it is
            here = mask[:, t]
            path[:, t] = torch.where(here, tag, path[:, t])
            prev = backpointers[t - 1].gather(1, tag.unsqueeze(1)).squeeze(1)
            tag = torch.where(here, prev, tag)
        path[:, 0] = tag
        lengths = mask.sum(1).tolist()
        return [row[:n] for row, n in zip(path.tolist(), lengths)]
