"""Outputs that cannot be written: a full disk (a real file-size limit, RLIMIT_FSIZE) and an
output path that is not a folder. A clear error, nothing published, and a clean rerun."""
import resource
import signal
import subprocess
import sys

import numpy as np
import pytest

from seqpipe.core.artifacts import read_json
from tests.conftest import PROSE, write_lines

from .conftest import COUNTS

pytestmark = pytest.mark.faults
SEQPIPE = [sys.executable, "-m", "seqpipe.cli"]


def ingest(source, out, state, limit_bytes: int | None = None) -> subprocess.CompletedProcess:
    def limit_file_size():  # writes past the limit fail with EFBIG, as on a full disk
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    return subprocess.run([*SEQPIPE, "ingest", str(source), "--out", str(out), "--set", "runtime.executor=local",
                           "--set", f"runtime.state_dir={state}"], capture_output=True, text=True, timeout=300,
                          preexec_fn=limit_file_size if limit_bytes else None)


def test_a_full_disk_is_a_clear_error_and_nothing_is_published(tmp_path):
    rng = np.random.default_rng(0)
    words = " ".join(PROSE).split()
    lines = [" ".join(rng.choice(words, size=12)) for _ in range(16_000)]  # its shard outgrows the limit
    source = write_lines(tmp_path / "in.txt", lines)
    full = ingest(source, tmp_path / "out", tmp_path / "state", limit_bytes=64 * 1024)
    COUNTS["faults injected"] += 1
    assert full.returncode == 1, full.stderr[-2000:]
    assert "File too large" in full.stderr and "nothing was published" in full.stderr
    assert "Traceback" not in full.stderr
    assert not list((tmp_path / "out").iterdir()), "no corpus and no temporary folder left behind"

    again = ingest(source, tmp_path / "out", tmp_path / "state")
    assert again.returncode == 0, again.stderr[-2000:]
    [corpus] = (tmp_path / "out").glob("corpus-*")
    assert read_json(corpus / "manifest.json")["counts"]["documents"] == 16_000


def test_an_output_path_that_is_a_file_is_a_clear_error(tmp_path):
    source = write_lines(tmp_path / "in.txt", PROSE)
    (tmp_path / "taken").write_text("a file, not a folder")
    out = ingest(source, tmp_path / "taken", tmp_path / "state")
    COUNTS["faults injected"] += 1
    assert out.returncode == 1 and f"cannot write to {tmp_path / 'taken'}" in out.stderr, out.stderr[-2000:]
    assert "Traceback" not in out.stderr


def test_writers_finishing_one_folder_at_once_publish_one_and_raise_nothing(tmp_path):
    """Two runs building the same folder on a local disk: checking that it exists and then
    renaming raced, and the loser failed with 'Directory not empty'."""
    import threading

    from seqpipe.core.artifacts import atomic_folder

    for round_ in range(10):
        final, barrier, errors = tmp_path / f"lm-{round_}", threading.Barrier(8), []

        def write(writer: int) -> None:
            try:
                with atomic_folder(final) as tmp:
                    (tmp / "model.pt").write_text(str(writer))
                    (tmp / "manifest.json").write_text(str(writer))
                    barrier.wait()
            except Exception as error:  # noqa: BLE001 - the test reports any
                errors.append(repr(error))

        threads = [threading.Thread(target=write, args=(w,)) for w in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        COUNTS["faults injected"] += 7
        assert not errors, errors
        assert (final / "model.pt").read_text() == (final / "manifest.json").read_text()
        assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".tmp-")] == []
