"""How far the running stages are, for whoever shows it.

The library reports (`report`): a stage is queued, starts, advances (shards written, epochs trained,
with that epoch's metrics), ends. Listeners show it: the command line's live lines
(seqpipe.cli.live), the Prefect UI's progress artifacts (flows.pipeline). The library
never imports a listener, and a listener that fails never stops a run.
"""
from __future__ import annotations

import contextlib
import logging
import threading
from dataclasses import dataclass, field
from typing import Callable, Iterator

log = logging.getLogger(__name__)


@dataclass
class Update:
    stage: str                  # the run's name: ingest, pretrain, ner, lm-char, ...
    kind: str                   # "queued" (waits for room on the cluster), "start", "advance" or "end"
    done: int = 0
    total: int = 0
    unit: str = ""              # "shards", "epochs"
    metrics: dict = field(default_factory=dict)
    summary: dict = field(default_factory=dict)  # at "end": reused, headline metric, model version, decision


Listener = Callable[[Update], None]
_listeners: list[Listener] = []
_lock = threading.Lock()


@contextlib.contextmanager
def listening(listener: Listener) -> Iterator[None]:
    """Call `listener` with every update reported while the block runs (from any thread)."""
    with _lock:
        _listeners.append(listener)
    try:
        yield
    finally:
        with _lock:
            _listeners.remove(listener)


def report(update: Update) -> None:
    with _lock:
        listeners = list(_listeners)
    for listener in listeners:
        try:
            listener(update)
        except Exception as err:  # showing progress must never stop a run
            log.debug("progress listener %r failed: %s", listener, err)
