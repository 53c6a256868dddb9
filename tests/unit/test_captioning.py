"""The image captioner: region grid shapes, attention over the regions, beam 1 = greedy, a
tiny set learnt exactly; its captions reader names file and line of a bad row or image."""

import numpy as np
import pytest
import torch

from seqpipe.config import CaptioningConfig, EncoderConfig
from seqpipe.core.errors import InputError
from seqpipe.decoding.search import beam_search, greedy
from seqpipe.models.captioner import Captioner, ConvEncoder
from seqpipe.models.embedding import word_embedding
from seqpipe.tasks.captioning import data
from seqpipe.tasks.captioning.demo import build_captioning_demo, describe, draw
from seqpipe.tasks.captioning.predictor import ImageCaptioner
from seqpipe.tasks.captioning.task import BOS, EOS, build_task, caption_scores
from seqpipe.training.loop import make_optimizer


def tiny_captioner(**kwargs) -> Captioner:
    torch.manual_seed(0)
    return Captioner(word_embedding(12, 8), (8, 16), 32, "gru", 16, 1, 0.0, **kwargs).eval()


def test_the_encoder_gives_a_grid_of_regions():
    regions = ConvEncoder((8, 16), image_size=32)(torch.rand(2, 3, 32, 32))
    assert regions.shape == (2, 8 * 8, 16 + 2)
    assert regions[0, 0, -2:].tolist() == [-1, -1] and regions[1, -1, -2:].tolist() == [1, 1], "x, y of each region"
    with pytest.raises(ValueError, match="to nothing"):
        ConvEncoder((8, 8, 8, 8, 8, 8), image_size=32)


@pytest.mark.parametrize("decoder", ["bahdanau", "luong"])
def test_attention_covers_the_regions_and_respects_a_mask(decoder):
    model = tiny_captioner(decoder=decoder)
    state = model.start(torch.rand(3, 3, 32, 32))
    assert state["mask"].all() and state["memory"].shape == (3, 64, 18)
    _, after = model.step(torch.full((3,), BOS), state)
    assert torch.allclose(after["attention"].sum(-1), torch.ones(3)) and after["attention"].shape == (3, 64)
    state["mask"][:, 32:] = False  # e.g. padding regions of a batch of smaller images
    _, masked = model.step(torch.full((3,), BOS), state)
    assert torch.all(masked["attention"][:, 32:] == 0)


def test_beam_of_one_is_greedy():
    model, images = tiny_captioner(), torch.rand(4, 3, 32, 32)
    lengths = torch.full((4,), 32)
    found = greedy(model, images, lengths, BOS, EOS, max_len=7)
    beams = beam_search(model, images, lengths, BOS, EOS, beam=1, alpha=0.0, max_len=7)
    assert [h.tokens for h in found] == [b[0].tokens for b in beams]
    assert np.allclose([h.log_prob for h in found], [b[0].log_prob for b in beams])


def write_scenes(folder, scenes):
    """scenes: [(name, [(thing, centre)], captions)] -> a Flickr8k-style captions file."""
    (folder / "images").mkdir(parents=True, exist_ok=True)
    lines = []
    for name, things, captions in scenes:
        draw(things).save(folder / "images" / name)
        lines += [f"{name}#{n}\t{c}\n" for n, c in enumerate(captions)]
    (folder / "captions.txt").write_text("".join(lines))
    return folder / "captions.txt"


def test_the_captioner_learns_a_tiny_set_exactly(tmp_path):
    things = [(("small", "red", "circle"), (20, 20)), (("large", "blue", "square"), (40, 40)),
              (("small", "green", "triangle"), (30, 45)), (("large", "yellow", "circle"), (45, 20))]
    captions = write_scenes(tmp_path, [(f"{i}.png", [t], [describe(t[0])]) for i, t in enumerate(things)])
    cfg = CaptioningConfig(train_captions=str(captions), dev_captions=str(captions), images=str(tmp_path / "images"),
                           image_size=32, channels=[8, 16],
                           encoder=EncoderConfig(cell="gru", hidden=32, dropout=0.0))
    data.prepare(tmp_path, cfg, data.read_splits(cfg, data.split_files(cfg)))
    task = build_task({"folder": str(tmp_path), "max_words": cfg.max_words}, torch.device("cpu"))
    torch.manual_seed(0)
    optimizer = make_optimizer(cfg.train.model_copy(update={"lr": 0.01}), task.model.parameters())
    batch = task.collate(task.train, True)
    for _ in range(150):
        loss, _ = task.model(**batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    task.model.eval()
    assert task.summarize(task.evaluate(task.model, task.dev))["exact_match"] == 1.0
    torch.save(task.model.state_dict(), tmp_path / "model.pt")
    assert ImageCaptioner(tmp_path).caption([str(tmp_path / "images" / "1.png")]) == ["a large blue square"]


def test_scores_take_every_reference():
    outcomes = [("a red circle", ["a blue square", "a red circle"]), ("a cat", ["a dog"])]
    assert caption_scores(outcomes)["exact_match"] == 0.5


def test_cider_rewards_the_words_the_references_agree_on():
    refs = [["a dog runs on the grass", "a brown dog runs"], ["a man rides a bike", "a man on a bicycle"],
            ["two children play in the snow", "kids playing in snow"]]
    right = [("a dog runs on the grass", refs[0]), ("a man rides a bike", refs[1]), ("kids playing in snow", refs[2])]
    generic = [("a man is outside", r) for r in refs]
    assert caption_scores(right)["cider"] > 100 > caption_scores(generic)["cider"] >= 0


def test_demo_evaluation_scenes_are_new_combinations(tmp_path):
    demo = build_captioning_demo(tmp_path, images=200)
    train = {line.split("\t")[1] for line in (demo / "train.txt").read_text().splitlines()}
    test = [line.split("\t")[1] for line in (demo / "test.txt").read_text().splitlines()]
    assert test and not set(test) & train


def test_bad_rows_and_images_name_file_and_line(tmp_path):
    good = (("small", "red", "circle"), (20, 20))
    captions = write_scenes(tmp_path, [("a.png", [good], ["a small red circle"])])
    (tmp_path / "images" / "broken.png").write_bytes(b"\x89PNG not really")
    captions.write_text("a.png#0\ta small red circle\nbroken.png#0\tsomething\nmissing.png#0\tx\na.png#1\t \n")
    images = str(tmp_path / "images")
    with pytest.raises(InputError, match=r"captions\.txt:2: .*broken\.png is not a readable image"):
        data.read_captions(captions, CaptioningConfig(images=images))
    kept = data.read_captions(captions, CaptioningConfig(images=images, max_reject_rate=0.9))
    assert kept.captions == [["a small red circle"]] and [(r.line, r.reason.split(" ")[0]) for r in kept.rejects] == [
        (2, str(tmp_path / "images" / "broken.png")), (3, "no"), (4, "no")]
    table = tmp_path / "captions.csv"
    table.write_text("image,caption\na.png,a small red circle\n")
    assert data.read_captions(table, CaptioningConfig(images=images)).captions == [["a small red circle"]]


def test_strict_paths_refuse_images_outside_the_data_roots(tmp_path):
    """With runtime.strict_paths, a captions file cannot make the stage open `../` or a symlink
    out of the data roots: such a row is a reject naming the line, and the image is never read."""
    good = (("small", "red", "circle"), (20, 20))
    captions = write_scenes(tmp_path / "data", [("a.png", [good], ["a small red circle"])])
    secret = write_scenes(tmp_path / "elsewhere", [("s.png", [good], ["x"])]).parent / "images" / "s.png"
    (tmp_path / "data" / "images" / "link.png").symlink_to(secret)
    captions.write_text("a.png#0\ta small red circle\n../../elsewhere/images/s.png#0\tx\nlink.png#0\tx\n")
    cfg, roots = CaptioningConfig(images=str(tmp_path / "data" / "images"), max_reject_rate=0.9), [str(tmp_path / "data")]
    kept = data.read_captions(captions, cfg, roots)
    assert kept.captions == [["a small red circle"]]
    assert [(r.line, r.reason.startswith("outside the data roots")) for r in kept.rejects] == [(2, True), (3, True)]
    assert len(data.read_captions(captions, cfg).captions) == 3  # strict_paths off: nothing is checked


def test_captions_are_scored_against_their_raw_text(tmp_path):
    """A test caption is scored as written (lowercased, its final full stop dropped, like the
    captions written): a word the training captions never use is not <unk>, and a caption
    longer than max_words is not cut. The gate's evaluation identity says so."""
    from seqpipe.tasks.captioning.evaluate import evaluation_set
    from seqpipe.tasks.captioning.task import examples_of

    good = (("small", "red", "circle"), (20, 20))
    write_scenes(tmp_path, [("a.png", [good], []), ("b.png", [good], [])])
    (tmp_path / "train.txt").write_text("a.png#0\ta small red circle\n")
    long = "a small red circle on a white ground with nothing else in the picture"
    (tmp_path / "test.txt").write_text(f"b.png#0\tA small crimson circle .\nb.png#1\t{long}\n")
    cfg = CaptioningConfig(train_captions=str(tmp_path / "train.txt"), dev_captions=str(tmp_path / "train.txt"),
                           test_captions=str(tmp_path / "test.txt"), images=str(tmp_path / "images"),
                           image_size=32, channels=[8, 16], max_words=8)
    (tmp_path / "model").mkdir()
    data.prepare(tmp_path / "model", cfg, data.read_splits(cfg, data.split_files(cfg)))
    [test] = examples_of(tmp_path / "model", "test", training=False)
    assert test["refs"] == ["a small crimson circle", long]
    assert caption_scores([("a small crimson circle", test["refs"])])["exact_match"] == 1.0
    assert caption_scores([(long, test["refs"])])["bleu"] == pytest.approx(100)
    assert "raw" in evaluation_set(cfg, None)[1].get("references", "")
