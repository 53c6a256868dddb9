"""The driver's files on machines that do not share its disk (seqpipe.core.driver_files, the
fan-out's `writes_into`): what a task or worker on another node gets is the driver's bytes."""
from pathlib import Path

from seqpipe.config import RuntimeConfig
from seqpipe.core import store
from seqpipe.core.driver_files import Sent, published_uri, received, received_paths, send, send_paths
from seqpipe.core.fanout import _write_files, _writing_where_possible, node_id
from tests.unit.test_stage_publish import folder_with

URI = "s3://seqpipe/state/corpus/corpus-0123"


def test_on_one_machine_a_path_is_sent_as_itself(tmp_path):
    runtime = RuntimeConfig(executor="local", state_dir=str(tmp_path / "state"))
    (tmp_path / "data.json").write_text("{}")
    config = {"folder": str(tmp_path), "nested": [str(tmp_path / "data.json")], "relative": "data.json", "n": 3}
    sent = send_paths(config, runtime)
    assert sent["folder"] == Sent(str(tmp_path), node_id()) and sent["relative"] == "data.json" and sent["n"] == 3
    with received_paths(sent, runtime) as config_here:
        assert config_here == config


def test_a_published_working_copy_is_fetched_from_the_bucket_on_another_node(s3_server, tmp_path):
    driver = RuntimeConfig(state_dir="s3://seqpipe/state", work_dir=str(tmp_path / "driver"))
    elsewhere = driver.model_copy(update={"work_dir": str(tmp_path / "other-machine")})
    copy = store.working_copy(URI, driver.store_cache)
    store.publish(folder_with(copy, {}, "shards"), URI)
    assert published_uri(copy, driver.store_cache) == URI
    assert published_uri(copy.parent / ".tmp-corpus-0123-1-ab", driver.store_cache) is None, "being built"

    here = received(Sent(str(copy), "the-driver's-node", URI), elsewhere, tmp_path / "scratch")
    assert Path(here) == store.working_copy(URI, elsewhere.store_cache)
    assert (Path(here) / "model.pt").read_text() == "shards"


def test_a_copy_another_worker_finishes_meanwhile_is_left_alone(s3_server, tmp_path, monkeypatch):
    """Two workers of one machine fetch one folder side by side: the slower one must not delete
    the copy the faster one finished while it was downloading (the faster one is reading it)."""
    store.publish(folder_with(tmp_path / "built", {}, "shards"), URI)
    real = store._published_files
    inode = {}

    def meanwhile_another_worker_finishes(*args):
        monkeypatch.setattr(store, "_published_files", real)
        store.fetch(URI, tmp_path / "copy")
        inode["before"] = (tmp_path / "copy" / "model.pt").stat().st_ino
        return real(*args)

    monkeypatch.setattr(store, "_published_files", meanwhile_another_worker_finishes)
    store.fetch(URI, tmp_path / "copy")
    assert (tmp_path / "copy" / "model.pt").stat().st_ino == inode["before"], "the finished copy was replaced"
    assert (tmp_path / "copy" / "model.pt").read_text() == "shards"


def test_a_task_on_another_node_writes_its_own_folder_and_the_driver_gets_the_files(tmp_path):
    def write_shard(folder: str, name: str) -> int:
        (Path(folder) / "data").mkdir(parents=True, exist_ok=True)
        (Path(folder) / "data" / name).write_bytes(b"rows")
        return 4

    elsewhere = _writing_where_possible(write_shard, driver="the-driver's-node")  # not this process's node
    result, files = elsewhere(str(tmp_path / "driver-folder"), "part-00000.parquet")
    assert not (tmp_path / "driver-folder").exists(), "the driver's folder is not written on another node"
    assert _write_files(tmp_path / "driver-folder", result, files) == 4
    assert (tmp_path / "driver-folder" / "data" / "part-00000.parquet").read_bytes() == b"rows"

    on_driver = _writing_where_possible(write_shard, driver=node_id())
    assert on_driver(str(tmp_path / "driver-folder"), "part-00001.parquet") == (4, {})
    assert (tmp_path / "driver-folder" / "data" / "part-00001.parquet").exists()


def test_shared_disk_sends_paths_as_they_are_on_a_cluster_too(tmp_path, monkeypatch):
    from seqpipe.core import driver_files

    monkeypatch.setattr(driver_files, "several_nodes", lambda: True)  # else no files would be sent anyway
    runtime = RuntimeConfig(executor="local", state_dir=str(tmp_path), shared_disk=True)
    assert send(tmp_path, runtime) == Sent(str(tmp_path.resolve()), node_id())
