"""The run console: what the libraries print goes to the run's log file, the terminal gets
the first line, one line per stage and the summary."""
import os

from seqpipe.cli.live import RunConsole
from seqpipe.core import progress
from seqpipe.core.progress import Update


def test_output_of_the_libraries_goes_to_the_log_and_the_console_gets_stage_lines(tmp_path, capfd):
    with RunConsole(str(tmp_path), "pipeline") as run_console, progress.listening(run_console):
        os.write(1, b"(RayTrainWorker pid=1) epoch 1: loss 2.3\n")  # what Ray forwards, at the file descriptor
        os.write(2, b"prefect INFO: task run finished\n")
        progress.report(Update("ner", "start", total=3, unit="epochs"))
        progress.report(Update("ner", "advance", 1, 3, "epochs", {"dev_f1": 0.5, "loss": 1.0}))
        progress.report(Update("ner", "end", summary={"reused": False, "seconds": 12.0, "version": "2",
                                                      "metric": ("test_f1", 0.81), "baseline": None,
                                                      "decision": {"model": "seqpipe-ner", "version": "2",
                                                                   "promoted": True}}))
        progress.report(Update("lm", "end", summary={"reused": True, "seconds": 0.4, "version": None,
                                                     "metric": ("dev_perplexity", 120.5),
                                                     "baseline": ("unigram_perplexity", 480.0), "decision": None}))
    run_console.summary({"MLflow": "http://127.0.0.1:5000/#/experiments/1/runs/abc"})
    shown = capfd.readouterr().out
    log = run_console.log.read_text()
    assert "epoch 1: loss 2.3" in log and "task run finished" in log
    assert "epoch 1: loss" not in shown and "prefect INFO" not in shown
    lines = shown.splitlines()
    assert lines[0] == f"log of Ray, Prefect, MLflow and the workers: {run_console.log}"
    assert any(line.startswith("ner") and "new" in line and "test_f1 0.81" in line for line in lines)
    assert "dev_perplexity 120.5 (unigram_perplexity 480)" in shown and "reused" in shown
    assert "v2 champion" in shown and "MLflow: http://127.0.0.1:5000/" in shown
    os.write(1, b"after the run\n")  # the descriptors are back
    assert "after the run" in capfd.readouterr().out


def test_a_failing_listener_never_stops_the_run():
    def broken(update):
        raise RuntimeError("display gone")

    with progress.listening(broken):
        progress.report(Update("ner", "start"))  # no exception
