"""The reject policy every record reader shares: count, keep, and fail clearly past the limit."""
from __future__ import annotations

from seqpipe.core.errors import InputError, RejectRateExceeded


def enforce_reject_policy(rejects: list[tuple[str, str]], read: int, max_rate: float, unit: str, setting: str,
                          files: list[str], long_unit: str | None = None) -> None:
    """rejects: (file:line, reason) of each rejected record, in reading order; read: records read;
    unit: what a record is ("sentences"), long_unit its name when none is found (default: unit).

    No record at all, any reject with max_rate 0, every record rejected: InputError naming the
    first reject; a reject share over max_rate: RejectRateExceeded with the first three.
    """
    if read == 0:
        raise InputError(f"{', '.join(files)}: no {long_unit or unit} found")
    if not rejects:
        return
    where, reason = rejects[0]
    counts = f"{len(rejects)} of {read} {unit} rejected"
    if max_rate <= 0:
        raise InputError(f"{where}: {reason} ({counts}; set {setting} to accept and skip them)")
    if len(rejects) == read:
        raise InputError(f"{where}: {reason} (all {read} {unit} rejected)")
    rate = len(rejects) / read
    if rate > max_rate:
        examples = "; ".join(f"{w}: {r}" for w, r in rejects[1:3])
        more = f"; then {examples}" if examples else ""
        raise RejectRateExceeded(f"{where}: {reason}{more} ({counts}, {rate:.1%} > {setting} {max_rate:.1%})")
