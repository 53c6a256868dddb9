"""The `seqpipe` command as a user runs it (subprocesses, real files)."""
import subprocess
import sys
from pathlib import Path

from tests.conftest import PROSE, write_lines

SEQPIPE = [sys.executable, "-m", "seqpipe.cli"]


def run(*args, cwd=None):
    return subprocess.run([*SEQPIPE, *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=300)


def test_every_command_has_help():
    for command in ["ingest", "vocab", "pipeline", "demo-corpus"]:
        out = run(command, "--help")
        assert out.returncode == 0 and "Usage" in out.stdout


def test_ingest_then_vocab(tmp_path):
    src = write_lines(tmp_path / "a.txt", PROSE * 3)
    common = ["--set", "runtime.executor=local", "--set", f"runtime.state_dir={tmp_path / 'state'}"]
    ingested = run("ingest", src, "--out", tmp_path / "corpus", *common)
    assert ingested.returncode == 0, ingested.stderr
    corpus = ingested.stdout.strip().splitlines()[-1]
    assert Path(corpus, "manifest.json").exists() and "12 documents" in ingested.stderr
    vocab = run("vocab", corpus, "--out", tmp_path / "vocab", "--set", "vocab.min_count=1", *common)
    assert vocab.returncode == 0, vocab.stderr
    assert Path(vocab.stdout.strip().splitlines()[-1], "vocab.parquet").exists()


def test_bad_config_is_one_clear_line_not_a_traceback(tmp_path):
    out = run("vocab", tmp_path, "--set", "vocab.min_count=0")
    assert out.returncode == 1
    assert "vocab.min_count" in out.stderr and "got 0" in out.stderr and "Traceback" not in out.stderr


def test_bad_input_names_the_file(tmp_path):
    src = tmp_path / "a.csv"
    src.write_text("id,body\n1,x\n")
    out = run("ingest", src, "--set", "runtime.executor=local", "--set", f"runtime.state_dir={tmp_path}")
    assert out.returncode == 1 and "a.csv: no column 'text'" in out.stderr and "Traceback" not in out.stderr
