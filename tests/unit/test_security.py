"""Security defaults: servers on 127.0.0.1, no secrets in logged params or printed URIs,
no unpickling of arbitrary objects, and data paths kept inside runtime.data_roots when
strict_paths is on, object keys kept inside the folder they are fetched into. Nothing here
starts Ray or MLflow; one test starts the S3-compatible test server (moto) on 127.0.0.1."""
from __future__ import annotations

import ast
import os
import pickle
from pathlib import Path

import pytest
import torch

from seqpipe.config import NerConfig, PipelineConfig, RuntimeConfig, ServicesConfig, load_config
from seqpipe.core.errors import InputError
from seqpipe.core.paths import check_path, is_within, load_weights
from seqpipe.core.secrets import is_secret_key, redact_params, redact_uri, without_userinfo

REPO = Path(__file__).resolve().parents[2]


# ----------------------------------------------------------------------------- binding


@pytest.mark.parametrize("name", ["prefect", "mlflow"])
def test_servers_bind_to_loopback_by_default(tmp_path, name):
    from seqpipe.cli.services import server_command

    assert ServicesConfig().host == "127.0.0.1" == load_config(REPO / "conf/pipeline.yaml").services.host
    cfg = PipelineConfig(runtime=RuntimeConfig(state_dir=str(tmp_path)))
    argv, env, url, health = server_command(name, cfg)
    assert argv[argv.index("--host") + 1] == "127.0.0.1"
    assert "0.0.0.0" not in argv
    assert url.startswith("http://127.0.0.1:") and health.startswith(url)


def test_a_configured_host_is_honoured_and_browsed_on_loopback(tmp_path):
    from seqpipe.cli.services import server_command

    cfg = PipelineConfig(runtime=RuntimeConfig(state_dir=str(tmp_path)), services=ServicesConfig(host="0.0.0.0"))
    argv, _, url, _ = server_command("mlflow", cfg)
    assert argv[argv.index("--host") + 1] == "0.0.0.0" and url.startswith("http://127.0.0.1:")


def test_local_ray_starts_without_dashboard_and_nothing_binds_all_interfaces():
    for path, tree in _package_trees():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _dotted(node.func) == "ray.init":
                keywords = {k.arg: k.value for k in node.keywords}
                assert "address" in keywords or _is_const(keywords.get("include_dashboard"), False), \
                    f"{path}:{node.lineno}: a local ray.init without include_dashboard=False"
            if isinstance(node, ast.keyword) and node.arg in ("host", "dashboard_host", "bind", "address"):
                assert not _is_const(node.value, "0.0.0.0"), f"{path}:{node.value.lineno}: binds 0.0.0.0"


# ----------------------------------------------------------------------------- redaction


@pytest.mark.parametrize("key", ["password", "db_passwd", "apiKey", "api_key", "AWS_SECRET_ACCESS_KEY", "auth_token",
                                 "credentials", "private_key", "access_key", "client_secret", "token", "HF_TOKEN",
                                 "auth"])
def test_secret_like_keys_are_recognised(key):
    assert is_secret_key(key)


@pytest.mark.parametrize("key", ["tokenize", "max_tokens", "token_column", "author", "specials", "key", "host",
                                 "tracking_uri"])
def test_ordinary_keys_are_not(key):
    assert not is_secret_key(key)


@pytest.mark.parametrize("uri, expected", [
    ("postgresql://user:pass@host/db", "postgresql://user:***@host/db"),
    ("s3://KEY:SECRET@bucket/corpus/*.txt", "s3://KEY:***@bucket/corpus/*.txt"),
    ("http://user:pw@mlflow:5000", "http://user:***@mlflow:5000"),
    ("postgresql://u:p@ss@db:5432/x?sslmode=require&password=hunter2",
     "postgresql://u:***@db:5432/x?sslmode=require&password=***"),
    ("http://mlflow:5000", "http://mlflow:5000"),
    ("sqlite:////tmp/state/mlflow.db", "sqlite:////tmp/state/mlflow.db"),
    ("['s3://a:b@x/1', 's3://c:d@y/2']", "['s3://a:***@x/1', 's3://c:***@y/2']"),
])
def test_passwords_in_uris_are_redacted_and_users_kept(uri, expected):
    assert redact_uri(uri) == expected


def test_links_drop_the_credentials():
    assert without_userinfo("http://bob:pw@mlflow:5000/#/runs") == "http://mlflow:5000/#/runs"


def test_redact_params_masks_secret_keys_and_uris_at_any_depth():
    params = {"db": {"password": "hunter2", "user": "bob", "url": "postgresql://bob:hunter2@db/x"},
              "api_key": "sk-123", "aws": {"AWS_SECRET_ACCESS_KEY": "abc"}, "credentials": {"user": "u", "key": "k"},
              "sources": ["s3://AKIA:SECRET@bucket/a"], "empty_token": None, "max_tokens": 100}
    out = redact_params(params)
    assert out == {"db": {"password": "***", "user": "bob", "url": "postgresql://bob:***@db/x"},
                   "api_key": "***", "aws": {"AWS_SECRET_ACCESS_KEY": "***"}, "credentials": "***",
                   "sources": ["s3://AKIA:***@bucket/a"], "empty_token": None, "max_tokens": 100}
    assert params["db"]["password"] == "hunter2"  # a copy: the config itself is untouched


def test_default_config_logs_unchanged():
    defaults = PipelineConfig().model_dump(mode="json")
    assert redact_params(defaults) == defaults


def test_logged_params_of_a_config_never_hold_a_password():
    from seqpipe.tracking.runs import _flatten

    cfg = PipelineConfig(runtime=RuntimeConfig(tracking_uri="http://bob:hunter2@mlflow:5000"))
    cfg.ingest.sources = ["s3://AKIAXXX:S3CR3T@bucket/corpus/*.txt"]
    params = _flatten(cfg.model_dump(mode="json"))
    text = "\n".join(params.values())
    assert "hunter2" not in text and "S3CR3T" not in text
    assert params["runtime.tracking_uri"] == "http://bob:***@mlflow:5000"
    assert _flatten({"store": {"password": "x", "port": 1}}) == {"store.password": "***", "store.port": "1"}


def test_status_prints_no_password(tmp_path):
    from typer.testing import CliRunner

    from seqpipe.cli import app

    result = CliRunner().invoke(app, ["status", "--set", f"runtime.state_dir={tmp_path}",
                                      "--set", "runtime.tracking_uri=http://bob:hunter2@mlflow:5000"])
    assert result.exit_code == 0, result.output
    assert "hunter2" not in result.output and "http://bob:***@mlflow:5000" in result.output


# ----------------------------------------------------------------------------- deserialisation


def _package_trees():
    for folder in ("seqpipe", "flows", "bench"):
        for path in sorted((REPO / folder).rglob("*.py")):
            yield path.relative_to(REPO), ast.parse(path.read_text(encoding="utf-8"), str(path))


def _dotted(node) -> str:
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return node.id if isinstance(node, ast.Name) else ""


def _is_const(node, value) -> bool:
    return isinstance(node, ast.Constant) and node.value == value and type(node.value) is type(value)


def unsafe_calls(tree) -> list[tuple[int, str]]:
    """(line, call) of every deserialisation that can run arbitrary code."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name, keywords = _dotted(node.func), {k.arg: k.value for k in node.keywords}
        if name == "torch.load" and not _is_const(keywords.get("weights_only"), True):
            found.append((node.lineno, "torch.load without weights_only=True"))
        elif name.split(".")[0] in ("pickle", "cPickle", "dill", "cloudpickle", "joblib") and \
                name.rsplit(".", 1)[-1] in ("load", "loads", "Unpickler"):
            found.append((node.lineno, name))
        elif name in ("np.load", "numpy.load") and "allow_pickle" in keywords and \
                not _is_const(keywords["allow_pickle"], False):
            found.append((node.lineno, f"{name} with allow_pickle"))
        elif name in ("yaml.unsafe_load", "yaml.full_load", "yaml.unsafe_load_all", "yaml.full_load_all"):
            found.append((node.lineno, name))
        elif name in ("yaml.load", "yaml.load_all"):
            loader = keywords.get("Loader", node.args[1] if len(node.args) > 1 else None)
            if not (loader is not None and _dotted(loader).rsplit(".", 1)[-1] in ("SafeLoader", "CSafeLoader")):
                found.append((node.lineno, f"{name} without SafeLoader"))
    return found


def test_the_scanner_finds_unsafe_calls():
    bad = ast.parse("torch.load(p)\ntorch.load(p, weights_only=False)\npickle.loads(b)\nnp.load(p, allow_pickle=True)\n"
                    "yaml.load(t)\nyaml.load(t, Loader=yaml.FullLoader)\nyaml.unsafe_load(t)\n")
    good = ast.parse("torch.load(p, weights_only=True)\nnp.load(p)\nyaml.safe_load(t)\n"
                     "yaml.load(t, Loader=yaml.SafeLoader)\n")
    assert [line for line, _ in unsafe_calls(bad)] == [1, 2, 3, 4, 5, 6, 7]
    assert unsafe_calls(good) == []


def test_no_unsafe_deserialisation_in_the_package():
    problems = [f"{path}:{line}: {what}" for path, tree in _package_trees() for line, what in unsafe_calls(tree)]
    assert not problems, "\n".join(problems)


class _Payload:
    """Unpickling this creates `marker`: what a hostile checkpoint would do (with worse)."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


def _ner_folder(folder: Path) -> Path:
    from seqpipe.tasks.ner.conll import ConllData, Sentence
    from seqpipe.tasks.ner.data import prepare

    sentence = Sentence(["Ada", "lives", "in", "London", "."], ["S-PER", "O", "O", "S-LOC", "O"], "toy.txt", 1)
    data = ConllData([sentence], [], 1, "bioes", ["toy.txt"])
    folder.mkdir()
    prepare(folder, NerConfig(embeddings={"pretrained": False}), {"train": data, "dev": data}, pretrained=None)
    return folder


@pytest.mark.parametrize("writer", ["torch.save", "pickle.dump"])
def test_a_checkpoint_with_a_pickled_payload_is_refused(tmp_path, writer):
    from seqpipe.tasks.ner.predictor import NerTagger

    folder, marker = _ner_folder(tmp_path / "ner"), tmp_path / "pwned"
    payload = {"words.weight": _Payload(marker)}
    with open(folder / "model.pt", "wb") as f:
        torch.save(payload, f) if writer == "torch.save" else pickle.dump(payload, f, protocol=2)
    with pytest.raises(InputError, match=r"model\.pt: refused to load"):
        NerTagger(folder)
    assert not marker.exists()
    with open(folder / "model.pt", "rb") as f:  # the payload is real: plain unpickling runs it
        (torch.load(f, weights_only=False) if writer == "torch.save" else pickle.load(f))
    assert marker.exists()


def test_real_weights_still_load_and_garbage_is_a_clear_error(tmp_path):
    from seqpipe.tasks.ner.predictor import NerTagger
    from seqpipe.tasks.ner.task import build_tagger

    folder = _ner_folder(tmp_path / "ner")
    torch.save(build_tagger(folder, with_init=False).state_dict(), folder / "model.pt")
    assert NerTagger(folder).tag_tokens([["Ada", "lives"]])[0]
    (folder / "model.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match=r"model\.pt: "):
        load_weights(folder / "model.pt")


# ----------------------------------------------------------------------------- strict_paths


@pytest.fixture
def layout(tmp_path):
    """data/ (a root) with a file, a symlink out and a manifest; outside/ with a file; state/."""
    (tmp_path / "data").mkdir()
    (tmp_path / "outside").mkdir()
    (tmp_path / "data" / "a.txt").write_text("hello\n")
    (tmp_path / "outside" / "secret.txt").write_text("secret\n")
    os.symlink(tmp_path / "outside" / "secret.txt", tmp_path / "data" / "link.txt")
    strict = RuntimeConfig(state_dir=str(tmp_path / "state"), strict_paths=True, data_roots=[str(tmp_path / "data")])
    return tmp_path, strict


def test_strict_off_accepts_anything(tmp_path):
    runtime = RuntimeConfig(state_dir=str(tmp_path / "state"))
    assert not runtime.strict_paths and runtime.data_roots == []
    assert check_path("/etc/passwd", runtime, "x") == Path("/etc/passwd")
    assert check_path("s3://any/where", runtime, "x") == "s3://any/where"


def test_strict_accepts_paths_under_the_roots_and_the_state_folder(layout):
    tmp_path, strict = layout
    assert check_path(tmp_path / "data" / "a.txt", strict, "x") == (tmp_path / "data" / "a.txt").resolve()
    assert check_path(tmp_path / "data" / "sub" / ".." / "a.txt", strict, "x")
    assert check_path(tmp_path / "state" / "demo" / "ner" / "train.txt", strict, "x")


@pytest.mark.parametrize("path", ["data/../outside/secret.txt", "data/link.txt", "outside/secret.txt", "/etc/passwd"])
def test_strict_refuses_escapes_and_symlinks_out(layout, path):
    tmp_path, strict = layout
    target = path if path.startswith("/") else str(tmp_path / path)
    with pytest.raises(InputError, match=r"NER data file .* is outside the data roots .*runtime\.data_roots"):
        check_path(target, strict, "NER data file")


def test_uris_need_a_uri_root_that_prefixes_them():
    roots = ["s3://bucket/corpora/", "/data"]
    assert is_within("s3://bucket/corpora/wiki/a.txt", roots)
    assert not is_within("s3://bucket/corporate/a.txt", roots)
    assert not is_within("s3://bucket/corpora/../private/a.txt", roots)
    assert not is_within("gs://bucket/corpora/a.txt", roots)
    assert not is_within("hf:wikitext", roots) and is_within("hf:wikitext", ["hf:"])


def test_manifest_rows_outside_the_roots_are_rejected_with_the_reason(layout):
    from seqpipe.tasks.speech.manifest import read_manifest

    tmp_path, strict = layout
    data = tmp_path / "data"
    for name in ("ok.wav", "../outside/x.wav"):
        (data / name).write_bytes(b"RIFF")
    os.symlink(tmp_path / "outside" / "x.wav", data / "sneaky.wav")
    manifest = data / "train.csv"
    manifest.write_text("path,transcript\nok.wav,hello\n../../../../../../etc/passwd,root\n"
                        f"{tmp_path / 'outside' / 'x.wav'},abs\nsneaky.wav,link\n")
    got = read_manifest(manifest, max_reject_rate=1.0, allowed_roots=[str(data)])
    assert [u.transcript for u in got.utterances] == ["hello"]
    assert [(r.line, r.reason.split(":")[0]) for r in got.rejects] == [(n, "outside the data roots") for n in (3, 4, 5)]
    assert got.read == 4
    unchecked = read_manifest(manifest, max_reject_rate=1.0)
    assert not any("outside" in r.reason for r in unchecked.rejects)


def test_ingest_refuses_a_source_outside_the_roots_before_reading_it(layout, monkeypatch):
    from seqpipe.data import sources
    from seqpipe.config import IngestConfig
    from seqpipe.data.ingest import run_ingest

    tmp_path, strict = layout
    strict = strict.model_copy(update={"executor": "local"})
    read = []
    original = sources._fingerprint
    monkeypatch.setattr(sources, "_fingerprint", lambda s, *a: read.append(s.uri) or original(s, *a))
    with pytest.raises(InputError, match="ingest source .*link.txt is outside the data roots"):
        run_ingest(IngestConfig(sources=[str(tmp_path / "data")], out=str(tmp_path / "state" / "corpus")), strict)
    assert read == [str(tmp_path / "data" / "a.txt")]  # refused before it was opened
    done = run_ingest(IngestConfig(sources=[str(tmp_path / "data" / "a.txt")], out=str(tmp_path / "c")),
                      strict.model_copy(update={"strict_paths": False}))
    assert done.counts["documents"] >= 1


def test_stages_check_their_data_paths_before_reading(layout, monkeypatch):
    from seqpipe.config import ParallelFiles, SpeechConfig, TranslationConfig
    from seqpipe.core.stage import StageInputs
    from seqpipe.tasks.ner import data as ner_data
    from seqpipe.tasks.ner import stage as ner_stage
    from seqpipe.tasks.speech import data as speech_data
    from seqpipe.tasks.speech import stage as speech_stage
    from seqpipe.tasks.translation import data as translation_data
    from seqpipe.tasks.translation import stage as translation_stage

    tmp_path, strict = layout
    outside = str(tmp_path / "outside" / "secret.txt")

    def never(*args, **kwargs):
        raise AssertionError("read before the path check")
    for module in (ner_data, translation_data):
        monkeypatch.setattr(module, "read_split", never)
    with pytest.raises(InputError, match="NER data file"):
        ner_stage.run(NerConfig(train_path=outside), StageInputs(), strict)
    inside = str(tmp_path / "data" / "a.txt")
    with pytest.raises(InputError, match="ner.embeddings.path"):
        ner_stage.run(NerConfig(train_path=inside, embeddings={"path": outside}), StageInputs(), strict)
    with pytest.raises(InputError, match="translation data file"):
        translation_stage.run(TranslationConfig(train_data=ParallelFiles(source=inside, target=outside)),
                              StageInputs(), strict)
    with pytest.raises(InputError, match="speech manifest"):
        speech_stage.run(SpeechConfig(train_manifest=outside), StageInputs(), strict)

    class Seen(Exception):
        pass

    def capture(path, *args, allowed_roots=None, **kwargs):
        raise Seen(allowed_roots)
    monkeypatch.setattr(speech_data, "read_manifest", capture)
    with pytest.raises(Seen) as seen:
        speech_stage.run(SpeechConfig(train_manifest=inside), StageInputs(), strict)
    assert seen.value.args[0] == [str(tmp_path / "data"), str(tmp_path / "state")]


def test_fetch_refuses_an_object_key_that_leaves_the_folder(s3_server, tmp_path):
    """Anyone who can write the bucket could otherwise write any file the pipeline's user can."""
    import fsspec

    from seqpipe.core import store
    from seqpipe.core.errors import OutputError

    s3 = fsspec.filesystem("s3", skip_instance_cache=True)
    s3.pipe_file("seqpipe/state/corpus/corpus-1/a.txt", b"ok")
    s3.pipe_file(f"seqpipe/state/corpus/corpus-1/{'../' * 12}{str(tmp_path).lstrip('/')}/escaped.txt", b"evil")
    s3.pipe_file("seqpipe/state/corpus/corpus-1/manifest.json", b"{}")
    with pytest.raises(OutputError, match="refusing object .*escaped.txt"):
        store.fetch("s3://seqpipe/state/corpus/corpus-1", tmp_path / "copy" / "corpus-1")
    assert not (tmp_path / "escaped.txt").exists() and not (tmp_path / "copy" / "corpus-1").exists()
