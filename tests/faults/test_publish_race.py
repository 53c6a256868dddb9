"""Many writers of one folder on a real S3-compatible server (127.0.0.1): exactly one publishes,
the published folder is that writer's whole output, and a writer stalled past its lease is
cleaned up while a live one is not."""
import json
import os
import signal
import subprocess
import sys
import time

import fsspec
import pytest

from seqpipe.core import store
from seqpipe.core.errors import OutputError

from .conftest import COUNTS
from .test_object_store_faults import temporaries

pytestmark = [pytest.mark.faults, pytest.mark.slow]
URI = "s3://seqpipe/state/lm/lm-0123456789abcdef"
WRITERS, FILES = 6, 150
WRITE = """
import sys, time
from pathlib import Path
from seqpipe.core.store import publish
start = float(sys.argv[3])
time.sleep(max(0.0, start - time.time()))
print("won" if publish(Path(sys.argv[1]), sys.argv[2]) else "lost", flush=True)
"""


def writer_folder(path, writer: int, files: int = FILES):
    """A folder whose every file says which writer made it."""
    (path / "parts").mkdir(parents=True)
    for k in range(files):
        (path / "parts" / f"{k:04d}.txt").write_text(f"writer {writer} part {k}\n" * 50)
    (path / "manifest.json").write_text(json.dumps({"kind": "lm", "content_hash": f"writer-{writer}"}))
    return path


def test_racing_writers_publish_one_whole_folder(tmp_path, s3_server):
    start = time.time() + 8  # every process imported and waiting
    writers = [subprocess.Popen([sys.executable, "-c", WRITE, str(writer_folder(tmp_path / f"w{i}", i)), URI,
                                 str(start)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for i in range(WRITERS)]
    outcomes = [w.communicate(timeout=240) for w in writers]
    assert all(w.returncode == 0 for w in writers), [err[-1500:] for _, err in outcomes]
    said = [out.strip() for out, _ in outcomes]
    assert said.count("won") == 1 and said.count("lost") == WRITERS - 1, said
    COUNTS["faults injected"] += WRITERS - 1

    copy = store.fetch(URI, tmp_path / "copy")
    winner = said.index("won")
    assert json.loads((copy / "manifest.json").read_text())["content_hash"] == f"writer-{winner}"
    parts = {p.read_text().split(" part ")[0] for p in (copy / "parts").iterdir()}
    assert parts == {f"writer {winner}"} and len(list((copy / "parts").iterdir())) == FILES
    assert not temporaries(fsspec.filesystem("s3", skip_instance_cache=True), "seqpipe/state"), "losers clean up"


LIVE = """
import sys, time
from seqpipe.core import store
fs = store.filesystem(sys.argv[1])
with store._Lease(fs, sys.argv[1] + "/files-live.lease"):
    fs.pipe_file(sys.argv[1] + "/files-live/part.txt", b"still uploading")
    print("leased", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def test_a_writer_stalled_past_its_lease_is_cleaned_and_a_live_one_is_not(tmp_path, s3_server, monkeypatch):
    monkeypatch.setenv("SEQPIPE_STORE_LEASE_SECONDS", "3")
    monkeypatch.setattr(store, "LEASE_SECONDS", 3.0)
    s3 = fsspec.filesystem("s3", skip_instance_cache=True)
    live = subprocess.Popen([sys.executable, "-c", LIVE, URI, "30"], stdout=subprocess.PIPE, text=True)
    assert live.stdout.readline().strip() == "leased"
    stalled = subprocess.Popen([sys.executable, "-c", WRITE, str(writer_folder(tmp_path / "stalled", 1, 400)), URI,
                                "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not [p for p in temporaries(s3, "seqpipe/state") if "/files-" in p and "live" not in p and "/parts/" in p]:
        assert stalled.poll() is None and time.monotonic() < deadline, "the writer ended before it was stalled"
        time.sleep(0.05)
    os.kill(stalled.pid, signal.SIGSTOP)
    COUNTS["faults injected"] += 1
    time.sleep(4)  # past the stalled writer's lease; the live one renews its own

    assert store.publish(writer_folder(tmp_path / "next", 2), URI), "the next writer publishes"
    left = temporaries(s3, "seqpipe/state")
    assert left and all("files-live" in p for p in left), f"only the live writer's prefix and lease are left: {left}"
    os.kill(stalled.pid, signal.SIGCONT)
    out, err = stalled.communicate(timeout=120)
    assert stalled.returncode != 0 or out.strip() == "lost", "the stalled writer does not publish"
    assert stalled.returncode == 0 or "OutputError" in err, err[-1500:]
    copy = store.fetch(URI, tmp_path / "copy")
    assert json.loads((copy / "manifest.json").read_text())["content_hash"] == "writer-2"
    live.kill()
    live.wait()


def test_fetch_refuses_a_file_changed_after_publishing(tmp_path, s3_server):
    store.publish(writer_folder(tmp_path / "w", 1, 3), URI)
    s3 = fsspec.filesystem("s3", skip_instance_cache=True)
    files = json.loads(s3.cat_file(f"{URI}/manifest.json"))["published"]["files"]
    s3.pipe_file(f"{URI}/{files}/parts/0001.txt", b"changed")
    with pytest.raises(OutputError, match="parts/0001.txt does not match"):
        store.fetch(URI, tmp_path / "copy")
