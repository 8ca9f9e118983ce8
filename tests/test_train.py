"""Training for real on a 200-face subset: the loss falls, runs are reproducible, and a
run killed after an epoch resumes to exactly the state of an uninterrupted one."""

import signal
import subprocess
import sys
import time

import pytest
import torch

from conftest import TRAIN_THREADS
from edgemark.checkpoint import load_checkpoint
from edgemark.data.lists import read_list
from edgemark.errors import EdgemarkError
from edgemark.recipe import load_recipe
from edgemark.train import train


@pytest.fixture(scope="module")
def faces(small_lists):
    return read_list(small_lists / "trainImageList.txt")


def test_two_epochs_lower_the_loss_and_write_checkpoints(faces, smoke_recipe, tmp_path, trained_checkpoint):
    run = trained_checkpoint.parent
    state = load_checkpoint(run / "last.pt")
    history = state["history"]
    assert [h["epoch"] for h in history] == [1, 2]
    assert history[1]["train_loss"] < history[0]["train_loss"]
    assert (run / "best.pt").exists() and (run / "metrics.csv").read_text().startswith("epoch,train_loss,val_nme")
    assert state["scheme"]["name"] == "cuhk5" and state["crop"]["size"] == 64
    assert set(state["box_rule"]) == {"dx", "dy", "side"}


def test_same_recipe_and_seed_give_the_same_first_epoch_loss(faces, smoke_recipe, tmp_path, trained_checkpoint):
    result = train(load_recipe(smoke_recipe), faces, tmp_path / "again", epochs=2, stop_after_epochs=1, cache_dir=tmp_path / "cache",
                   threads=TRAIN_THREADS)
    reference = load_checkpoint(trained_checkpoint.parent / "last.pt")["history"][0]["train_loss"]
    assert result["history"][0]["train_loss"] == pytest.approx(reference, rel=1e-6)


def test_resume_after_interruption_gives_the_same_state(faces, smoke_recipe, tmp_path, trained_checkpoint):
    recipe = load_recipe(smoke_recipe)
    out = tmp_path / "interrupted"
    train(recipe, faces, out, stop_after_epochs=1, cache_dir=tmp_path / "cache", threads=TRAIN_THREADS)  # "killed" after epoch 1
    assert load_checkpoint(out / "last.pt")["epoch"] == 1
    with pytest.raises(EdgemarkError, match="pass --resume"):
        train(recipe, faces, out, cache_dir=tmp_path / "cache")
    train(recipe, faces, out, resume=True, cache_dir=tmp_path / "cache", threads=TRAIN_THREADS)
    resumed = load_checkpoint(out / "last.pt")
    straight = load_checkpoint(trained_checkpoint.parent / "last.pt")
    assert resumed["epoch"] == straight["epoch"] == 2
    for key in straight["model"]:
        assert torch.equal(resumed["model"][key], straight["model"][key]), key
    assert resumed["history"][1]["train_loss"] == pytest.approx(straight["history"][1]["train_loss"], rel=1e-6)
    assert resumed["optimizer"]["state"][0]["step"] == straight["optimizer"]["state"][0]["step"]


def test_resume_refuses_another_recipe(faces, smoke_recipe, tmp_path, trained_checkpoint):
    other = tmp_path / "other.yaml"
    other.write_text(smoke_recipe.read_text().replace("lr: 0.003", "lr: 0.001"))
    with pytest.raises(EdgemarkError, match="another recipe"):
        train(load_recipe(other), faces, trained_checkpoint.parent, resume=True)


def test_killed_cli_training_resumes(small_lists, smoke_recipe, tmp_path):
    """SIGKILL a real `edgemark train` once it has written last.pt; --resume finishes the run."""
    out, cache = tmp_path / "run", tmp_path / "cache"
    recipe = tmp_path / "long.yaml"
    recipe.write_text(smoke_recipe.read_text().replace("epochs: 2", "epochs: 4"))
    cmd = [sys.executable, "-m", "edgemark", "train", "--recipe", str(recipe), "--list", str(small_lists / "trainImageList.txt"),
           "--out", str(out), "--cache", str(cache)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while not (out / "last.pt").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    epoch = load_checkpoint(out / "last.pt")["epoch"]  # whatever moment it died at, last.pt is whole
    assert 1 <= epoch < 4
    done = subprocess.run(cmd + ["--resume"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"resuming {out}" in done.stdout.replace("\n", "")
    assert load_checkpoint(out / "last.pt")["epoch"] == 4


def test_distillation_from_teachers(faces, smoke_recipe, tmp_path, trained_checkpoint):
    from edgemark.checkpoint import file_sha256

    recipe = load_recipe(smoke_recipe)
    # first epochs of 3 (a resumed run keeps its planned epoch count)
    plain = train(recipe, faces, tmp_path / "plain", epochs=3, stop_after_epochs=1, cache_dir=tmp_path / "cache")
    taught = train(recipe, faces, tmp_path / "taught", epochs=3, stop_after_epochs=1, cache_dir=tmp_path / "cache",
                   teachers=[trained_checkpoint, trained_checkpoint], distill_weight=0.7)
    # the teachers' targets change the loss the student minimises
    assert taught["history"][0]["train_loss"] != pytest.approx(plain["history"][0]["train_loss"], rel=1e-3)
    state = load_checkpoint(tmp_path / "taught" / "last.pt")
    assert state["teacher"]["sha256"] == [file_sha256(trained_checkpoint)] * 2
    assert state["teacher"]["weight"] == 0.7 and state["teacher"]["mirror"] is True
    with pytest.raises(EdgemarkError, match="other --teacher settings"):
        train(recipe, faces, tmp_path / "taught", resume=True, cache_dir=tmp_path / "cache")
    with pytest.raises(EdgemarkError, match="other --teacher settings"):
        train(recipe, faces, tmp_path / "taught", resume=True, cache_dir=tmp_path / "cache",
              teachers=[trained_checkpoint, trained_checkpoint], distill_weight=0.7, teacher_mirror=False)
    resumed = train(recipe, faces, tmp_path / "taught", resume=True, stop_after_epochs=1, cache_dir=tmp_path / "cache",
                    teachers=[trained_checkpoint, trained_checkpoint], distill_weight=0.7)
    assert [r["epoch"] for r in resumed["history"]] == [1, 2]
    with pytest.raises(EdgemarkError, match="teacher checkpoint not found"):
        train(recipe, faces, tmp_path / "taught", resume=True, cache_dir=tmp_path / "cache",
              teachers=[tmp_path / "gone.pt"], distill_weight=0.7)
    # the same teacher file, moved: recognised by its hash
    import shutil

    moved = shutil.copy(trained_checkpoint, tmp_path / "moved.pt")
    again = train(recipe, faces, tmp_path / "taught", resume=True, cache_dir=tmp_path / "cache",
                  teachers=[moved, moved], distill_weight=0.7)
    assert [r["epoch"] for r in again["history"]] == [1, 2, 3]
    # a teacher that was trained on another split has seen validation faces: training says so
    import dataclasses
    import io

    from rich.console import Console

    said = io.StringIO()
    train(dataclasses.replace(recipe, seed=recipe.seed + 1), faces, tmp_path / "other_split", epochs=1,
          cache_dir=tmp_path / "cache", teachers=[trained_checkpoint], console=Console(file=said, width=300))
    assert "another train/validation split" in said.getvalue()


def test_teacher_targets_are_mirror_averaged_predictions_moved_with_the_crop(faces, smoke_recipe, tmp_path, trained_checkpoint):
    """The stored targets, cut out with a sample's augmentation, must equal what the teacher
    predicts on that face (averaged with its mirror image), within the model's own error
    under the small jitter; and they must not be the labels."""
    import numpy as np

    from edgemark.checkpoint import load_model
    from edgemark.data.cache import load_or_build_cache
    from edgemark.data.dataset import LandmarkDataset
    from edgemark.distill import teacher_targets
    from edgemark.metrics import summarize

    teacher = load_model(trained_checkpoint)
    spec = teacher.crop
    cache = load_or_build_cache(faces, spec.size, spec.margin, tmp_path / "cache")
    idx = np.arange(8)
    plain = teacher_targets([teacher], cache, idx, mirror=False)
    mirrored = teacher_targets([teacher], cache, idx, mirror=True)
    assert np.isnan(plain[8:]).all() and not np.isnan(plain[:8]).any()
    # mirror averaging changes the targets, but only by the model's left/right disagreement
    delta = np.abs(mirrored[:8] - plain[:8])
    assert delta.max() > 1e-3 and delta.mean() < 0.1 * spec.size
    # ensemble of the same teacher twice = that teacher
    np.testing.assert_allclose(teacher_targets([teacher, teacher], cache, idx), mirrored, rtol=0, atol=1e-4)
    # the data set moves them with the augmentation exactly as the labels
    data = LandmarkDataset(cache, idx, spec, teacher.scheme, None, 0, None, plain)
    x, y, _, _, y_teacher = data[0]
    uv = teacher.model(x[None]).detach().numpy()[0]
    np.testing.assert_allclose(y_teacher.numpy(), uv, atol=1e-4)
    assert summarize(mirrored[:8], cache.landmarks[:8], teacher.scheme.interocular)["nme"] > 0.001


def test_init_starts_from_a_checkpoint_of_the_same_model(faces, smoke_recipe, tmp_path, trained_checkpoint):
    import dataclasses

    from edgemark.recipe import ModelConfig

    recipe = load_recipe(smoke_recipe)
    tuned = train(recipe, faces, tmp_path / "tuned", epochs=1, cache_dir=tmp_path / "cache", init=trained_checkpoint)
    fresh = train(recipe, faces, tmp_path / "fresh", epochs=1, cache_dir=tmp_path / "cache")
    # one epoch on top of two trained ones lands below one epoch from scratch
    assert tuned["best_val_nme"] < fresh["best_val_nme"]
    assert load_checkpoint(tmp_path / "tuned" / "last.pt")["init"]["file"] == str(trained_checkpoint)
    wider = dataclasses.replace(recipe, model=ModelConfig(name=recipe.model.name, width=1.0, head_channels=recipe.model.head_channels))
    with pytest.raises(EdgemarkError, match="same model"):
        train(wider, faces, tmp_path / "wider", epochs=1, cache_dir=tmp_path / "cache", init=trained_checkpoint)
    # another input size: taken where every weight keeps its shape (the last feature map the same
    # size: 56 and 64 px both give 2x2 after MobileNetV2's stride 32), refused where the head's does not
    assert recipe.input_size == 64
    smaller = train(dataclasses.replace(recipe, input_size=56), faces, tmp_path / "smaller", epochs=1, cache_dir=tmp_path / "cache",
                    init=trained_checkpoint)
    assert smaller["best_val_nme"] < fresh["best_val_nme"]
    with pytest.raises(EdgemarkError, match="unless every weight keeps its shape"):
        train(dataclasses.replace(recipe, input_size=96), faces, tmp_path / "larger", epochs=1, cache_dir=tmp_path / "cache",
              init=trained_checkpoint)


def test_teacher_with_another_scheme_is_refused(faces, smoke_recipe, tmp_path):
    from edgemark.checkpoint import save_checkpoint
    from edgemark.models import build_model
    from edgemark.preprocess import CropSpec
    from edgemark.recipe import ModelConfig, Recipe
    from edgemark.scheme import load_scheme

    other = Recipe(scheme="wflw98", input_size=64, model=ModelConfig(width=0.35, head_channels=16))
    path = tmp_path / "wflw.pt"
    save_checkpoint(path, {"recipe": other.to_dict(), "scheme": load_scheme("wflw98").to_dict(), "crop": CropSpec(size=64).to_dict(),
                           "box_rule": None, "model": build_model("mobilenetv2", 98, 64, 0.35, 16).state_dict()})
    with pytest.raises(EdgemarkError, match="teacher predicts the wflw98 scheme"):
        train(load_recipe(smoke_recipe), faces, tmp_path / "x", epochs=1, cache_dir=tmp_path / "cache", teachers=[path])


def test_source_offsets_recover_a_convention_shift_through_flips():
    """Labels of source 1 sit a known offset from the truth in the unflipped face; half the
    samples are mirrored (the offset mirrors with them). Fitting only the offsets must
    recover it, which fails if the mirroring of offsets is wrong."""
    import numpy as np

    from edgemark.scheme import load_scheme
    from edgemark.source_offsets import SourceOffsets

    scheme = load_scheme("cuhk5")
    perm = torch.as_tensor(scheme.flip_permutation())
    true_offset = torch.tensor([[0.03, -0.01], [0.02, 0.0], [0.0, 0.01], [-0.01, 0.02], [0.01, 0.0]])
    offsets = SourceOffsets(["lfw_5590"], 5, scheme.flip_permutation())
    assert offsets.source_ids(["net_7876", "lfw_5590"]).tolist() == [0, 1]
    gen = torch.Generator().manual_seed(0)
    truth = torch.rand(256, 5, 2, generator=gen)
    source = torch.randint(0, 2, (256,), generator=gen)
    flipped = torch.rand(256, generator=gen) < 0.5
    shift = torch.where(flipped.view(-1, 1, 1), true_offset[perm] * torch.tensor([-1.0, 1.0]), true_offset)
    labels = truth + shift * (source == 1).view(-1, 1, 1)
    opt = torch.optim.Adam(offsets.parameters(), lr=0.01)
    for step in range(400):
        if step == 200:
            opt.param_groups[0]["lr"] = 0.0005
        loss = (offsets(truth, source, flipped) - labels).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert np.allclose(offsets.offsets[0].detach().numpy(), true_offset.numpy(), atol=2e-3)
    # unlisted sources (id 0) get no offset
    assert torch.equal(offsets(truth[:3], torch.zeros(3, dtype=torch.long), flipped[:3]), truth[:3])


def test_training_with_source_offsets_saves_and_resumes_them(faces, smoke_recipe, tmp_path):
    recipe_file = tmp_path / "offsets.yaml"
    recipe_file.write_text(smoke_recipe.read_text() + "source_offsets: [lfw_5590]\n")
    recipe = load_recipe(recipe_file)
    out = tmp_path / "run"
    train(recipe, faces, out, stop_after_epochs=1, cache_dir=tmp_path / "cache")
    first = load_checkpoint(out / "last.pt")
    assert set(first["source_offsets_px"]) == {"lfw_5590"} and first["history"][0]["max_source_offset_px"] > 0
    assert 0 < first["history"][0]["val_nme_corrected"] and 0 < first["history"][0]["val_nme_reference"]
    train(recipe, faces, out, resume=True, cache_dir=tmp_path / "cache")
    second = load_checkpoint(out / "last.pt")
    assert second["epoch"] == 2 and not torch.equal(second["source_offsets"]["offsets"], first["source_offsets"]["offsets"])
    bad = tmp_path / "bad.yaml"
    bad.write_text(smoke_recipe.read_text() + "source_offsets: [no_such_source]\n")
    with pytest.raises(EdgemarkError, match="no_such_source"):
        train(load_recipe(bad), faces, tmp_path / "bad", epochs=1, cache_dir=tmp_path / "cache")
    bad.write_text(smoke_recipe.read_text() + "source_offsets: [1, 2]\n")
    with pytest.raises(EdgemarkError, match=r"bad.yaml:\d+: source_offsets"):
        load_recipe(bad)


def test_a_run_started_before_a_recipe_key_existed_resumes(faces, smoke_recipe, tmp_path):
    from edgemark.checkpoint import save_checkpoint

    recipe = load_recipe(smoke_recipe)
    out = tmp_path / "old"
    train(recipe, faces, out, stop_after_epochs=1, cache_dir=tmp_path / "cache")
    state = load_checkpoint(out / "last.pt")
    del state["recipe"]["source_offsets"]  # as written by an edgemark without that key
    save_checkpoint(out / "last.pt", state)
    assert train(recipe, faces, out, resume=True, cache_dir=tmp_path / "cache")["history"][-1]["epoch"] == 2


def test_resume_refuses_another_epoch_count(faces, smoke_recipe, tmp_path, trained_checkpoint):
    """The cosine schedule of a run ends at its planned epoch count: resuming with more
    epochs would train them at a learning rate of ~0. Refused, saying what to do instead."""
    import shutil

    run = shutil.copytree(trained_checkpoint.parent, tmp_path / "run")
    before = load_checkpoint(run / "last.pt")
    with pytest.raises(EdgemarkError, match=r"last.pt: the run was planned for 2 epochs .* --init .*best.pt"):
        train(load_recipe(smoke_recipe), faces, run, resume=True, epochs=3, cache_dir=tmp_path / "cache")
    assert load_checkpoint(run / "last.pt")["epoch"] == before["epoch"] == 2
    # the planned count, given or not, resumes (here: nothing left to do)
    assert len(train(load_recipe(smoke_recipe), faces, run, resume=True, epochs=2, cache_dir=tmp_path / "cache")["history"]) == 2


def test_upright_training_crops_level_the_labelled_eyes(faces, tmp_path):
    """With ``upright``, a rolled face's crop is turned so that its labelled eyes are level
    (the rotation jitter then applies around upright); without it the roll stays."""
    import numpy as np

    from edgemark.data.cache import load_or_build_cache
    from edgemark.data.dataset import LandmarkDataset
    from edgemark.preprocess import CropSpec
    from edgemark.scheme import load_scheme

    spec, scheme = CropSpec(64, 0.2), load_scheme("cuhk5")
    cache = load_or_build_cache(faces, spec.size, spec.margin, tmp_path / "cache")
    rolls = [abs(np.degrees(np.arctan2(*(p[1] - p[0])[::-1]))) for p in cache.landmarks[:40]]
    idx = np.array([int(np.argmax(rolls))])  # the most rolled of the first faces
    assert max(rolls) > 5
    _, plain, _, _ = LandmarkDataset(cache, idx, spec, scheme, None).sample(0)
    _, level, _, _ = LandmarkDataset(cache, idx, spec, scheme, None, upright=True).sample(0)
    assert abs(plain[0, 1] - plain[1, 1]) > 0.03
    assert abs(level[0, 1] - level[1, 1]) < 1e-4
    # the eyes keep their distance: only turned, not scaled
    assert np.linalg.norm(level[1] - level[0]) == __import__("pytest").approx(np.linalg.norm(plain[1] - plain[0]), rel=1e-4)


def test_wide_box_scale_and_exposure_augmentation():
    import numpy as np

    from edgemark.augment import GAMMA, WIDE_SCALE, AugmentConfig, jitter_box, photometric

    rng = np.random.default_rng(0)
    wide = AugmentConfig(rotation=0, scale=0.0, shift=0.0, wide_scale=1.0)
    def side(cfg):
        left, _, right, _ = jitter_box((0, 0, 100, 100), rng, cfg)[0]
        return (right - left) / 100

    sides = np.array([side(wide) for _ in range(400)])
    assert sides.min() >= WIDE_SCALE[0] - 1e-9 and sides.max() <= WIDE_SCALE[1] + 1e-9
    assert (sides > 1.5).mean() > 0.2 and (sides < 0.8).mean() > 0.1  # log-uniform: both ends drawn
    plain = AugmentConfig(rotation=0, scale=0.0, shift=0.0)
    assert all(abs(side(plain) - 1) < 1e-9 for _ in range(50))
    crop = np.full((32, 32, 3), 128, np.uint8)
    exposed = AugmentConfig(color=0.0, blur=0.0, jpeg=0.0, gamma=1.0)
    means = [photometric(crop, np.random.default_rng(s), exposed).mean() for s in range(40)]
    assert min(means) < 128 * 0.8 and max(means) > 128 * 1.2  # darker and brighter frames
    assert 255 * (128 / 255) ** GAMMA[1] - 1 <= min(means) and max(means) <= 255 * (128 / 255) ** GAMMA[0] + 1


def test_recipe_checks_the_new_keys(tmp_path):
    import pytest

    from edgemark.errors import EdgemarkError
    from edgemark.recipe import load_recipe

    good = tmp_path / "good.yaml"
    good.write_text("upright: true\naugment:\n  wide_scale: 0.15\n  gamma: 0.2\n")
    rec = load_recipe(good)
    assert rec.upright is True and rec.augment.wide_scale == 0.15 and rec.augment.gamma == 0.2
    bad = tmp_path / "bad.yaml"
    bad.write_text("upright: true\naugment:\n  gamma: 1.5\n")
    with pytest.raises(EdgemarkError, match=r"bad.yaml:3: augment.gamma must be in \[0, 1\]"):
        load_recipe(bad)
    bad.write_text("upright: 2\n")
    with pytest.raises(EdgemarkError, match=r"bad.yaml:1: upright must be bool"):
        load_recipe(bad)


def dataclasses_replace(obj, **changes):
    import dataclasses

    return dataclasses.replace(obj, **changes)


def test_init_from_another_scheme_carries_the_shared_points(small_lists, smoke_recipe, tmp_path, trained_checkpoint, detector_models):
    """The 5-point model starts a drive23 model (teacher points from MediaPipe's mesh): the
    backbone and the five shared points' head rows come over, each new point starts as its
    nearest shared point moved by their mean offset; eval reports labelled and teacher
    points apart, and how the eye and mouth aspect ratios follow the list's."""
    import subprocess
    import sys

    import numpy as np
    import torch

    from edgemark.evaluate import evaluate
    from edgemark.predictors.load import load_predictor
    from edgemark.scheme import load_scheme

    done = subprocess.run([sys.executable, "-m", "edgemark", "data", "pseudo-label", "--list", str(small_lists / "trainImageList.txt"),
                           "--out", str(tmp_path / "pseudo")], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    scheme = load_scheme("drive23")
    faces = read_list(tmp_path / "pseudo" / "trainImageList.drive23.txt", num_points=scheme.num_points, image_root=small_lists)
    recipe = dataclasses_replace(load_recipe(smoke_recipe), scheme="drive23")
    train(recipe, faces, tmp_path / "d23", epochs=1, cache_dir=tmp_path / "cache", init=trained_checkpoint)
    old, new = load_checkpoint(trained_checkpoint)["model"], load_checkpoint(tmp_path / "d23" / "last.pt")
    assert new["init"]["file"] == str(trained_checkpoint) and new["scheme"]["name"] == "drive23"
    # the backbone moved by one epoch of fine-tuning from the old weights, not from a random start
    first = "features.0.0.weight"
    assert torch.allclose(new["model"][first], old[first], atol=0.05) and not torch.equal(new["model"][first], old[first])
    predictor = load_predictor(tmp_path / "d23" / "last.pt")
    result = evaluate(predictor, faces)
    assert result["labelled_points"]["points"] == 5 and result["teacher_points"]["points"] == 18
    train(recipe, faces, tmp_path / "scratch", epochs=1, cache_dir=tmp_path / "cache")
    scratch = evaluate(load_predictor(tmp_path / "scratch" / "last.pt"), faces)
    for part in ("labelled_points", "teacher_points"):  # the carried-over start beats a random one
        assert result[part]["nme"] < scratch[part]["nme"]
    assert -1 <= result["eyes"]["ear_pearson_r"] <= 1 and 0 <= result["eyes"]["open_closed_agreement"] <= 1
    assert "mar_pearson_r" in result["mouth"]
    uv = predictor.predict_crops(np.zeros((1, predictor.crop.size, predictor.crop.size, 3), np.uint8))[0]
    assert np.all((uv > -0.5) & (uv < 1.5))

    # keep-points (the default command: --scheme cuhk5) makes it a 5-point model whose points are
    # exactly the drive23 model's labelled ones; the other way round is refused with the missing name
    kept = tmp_path / "five.pt"
    done = subprocess.run([sys.executable, "-m", "edgemark", "keep-points", "--checkpoint", str(tmp_path / "d23" / "last.pt"),
                           "--out", str(kept), "--data", str(small_lists)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    state = load_checkpoint(kept)
    assert state["scheme"]["name"] == "cuhk5" and state["kept_points_of"]["scheme"] == "drive23" and "optimizer" not in state
    # the box rule is the 5 points' (the 5-point model's, measured on the same faces), not the 23 points'
    assert state["box_rule"] == pytest.approx(load_checkpoint(trained_checkpoint)["box_rule"])
    assert state["box_rule"]["side"] > new["box_rule"]["side"] * 1.05
    five = load_predictor(kept)
    crops = np.stack([np.random.default_rng(0).integers(0, 255, (five.crop.size, five.crop.size, 3), dtype=np.uint8) for _ in range(3)])
    assert np.allclose(five.predict_crops(crops), predictor.predict_crops(crops)[:, list(scheme.label_points)], atol=1e-6)
    assert evaluate(five, read_list(small_lists / "trainImageList.txt"))["nme"] == pytest.approx(result["labelled_points"]["nme"], rel=1e-5)
    refused = subprocess.run([sys.executable, "-m", "edgemark", "keep-points", "--checkpoint", str(kept), "--scheme", "drive23",
                              "--list", str(tmp_path / "pseudo" / "trainImageList.drive23.txt"), "--images", str(small_lists),
                              "--out", str(tmp_path / "no.pt")], capture_output=True, text=True, timeout=300)
    assert refused.returncode == 2 and "no point named" in refused.stderr and not (tmp_path / "no.pt").exists()


def test_rare_faces_are_drawn_more_often():
    """rare_weight: faces whose labels show eyes at least half shut or a mouth open wide get
    that weight in the epoch's draw; the rest 1; no weights for a scheme without eyelids."""
    from types import SimpleNamespace

    import numpy as np

    from edgemark.scheme import load_scheme
    from edgemark.train import rare_face_weights

    scheme = load_scheme("drive23")
    eye = lambda cx, half: [[cx - 20, 100], [cx - 7, 100 - half], [cx + 7, 100 - half], [cx + 20, 100], [cx + 7, 100 + half], [cx - 7, 100 + half]]  # noqa: E731

    def face(half, gap):
        p = np.zeros((23, 2))
        p[list(scheme.eyes[0])], p[list(scheme.eyes[1])] = eye(100, half), eye(200, half)
        m = scheme.mouth  # corners, upper inner lip, lower inner lip
        p[list(m)] = [[115, 200], [135, 200 - gap / 2], [150, 200 - gap / 2], [165, 200 - gap / 2], [185, 200],
                      [165, 200 + gap / 2], [150, 200 + gap / 2], [135, 200 + gap / 2]]
        return p

    points = np.stack([face(6, 2), face(2, 2), face(6, 40), face(6, 2)])  # open, shut eyes, yawn, open
    train_set = SimpleNamespace(cache=SimpleNamespace(landmarks=points), indices=np.array([0, 1, 2, 3]))
    assert rare_face_weights(train_set, scheme, 4.0).tolist() == [1.0, 4.0, 4.0, 1.0]
    assert rare_face_weights(train_set, scheme, 1.0) is None
    assert rare_face_weights(train_set, load_scheme("cuhk5"), 4.0) is None


def test_turned_heads_are_drawn_more_often():
    """turned_weight: faces whose labelled nose sits 0.3+ inter-ocular distances off the eye
    midpoint along the eye line (the robustness suite's most turned bin) get that weight in
    the epoch's draw, whatever the roll; with rare_weight the two multiply."""
    from types import SimpleNamespace

    import numpy as np

    from edgemark.recipe import Recipe
    from edgemark.scheme import load_scheme
    from edgemark.train import draw_weights, turned_face_weights

    def face(turn, roll_degrees=0.0):  # eyes 100 px apart, the nose `turn` IOD along the eye line, then rolled
        p = np.array([[100.0, 100], [200, 100], [150 + 100 * turn, 150], [115, 200], [185, 200]])
        a = np.radians(roll_degrees)
        return (p - 150) @ np.array([[np.cos(a), np.sin(a)], [-np.sin(a), np.cos(a)]]) + 150

    points = np.stack([face(0.0), face(0.35), face(-0.4, 40), face(0.25)])
    train_set = SimpleNamespace(cache=SimpleNamespace(landmarks=points), indices=np.array([0, 1, 2, 3]))
    cuhk5 = load_scheme("cuhk5")
    assert turned_face_weights(train_set, cuhk5, 3.0).tolist() == [1.0, 3.0, 3.0, 1.0]
    assert turned_face_weights(train_set, cuhk5, 1.0) is None
    assert draw_weights(train_set, cuhk5, Recipe(turned_weight=3.0)).tolist() == [1.0, 3.0, 3.0, 1.0]
    assert draw_weights(train_set, cuhk5, Recipe()) is None


def test_lists_with_dotted_names_get_their_own_crop_caches(small_lists, tmp_path):
    """``faces.drive23.txt`` and ``faces.mirror.txt`` (or two ``faces.drive23.clean.txt`` in
    two folders) once shared one cache file (the name was cut at the list name's last dot,
    dropping the key): the second list then trained on the first list's crops and labels, or
    failed to map a file of the wrong length."""
    from edgemark.data.cache import load_or_build_cache

    lines = (small_lists / "trainImageList.txt").read_text().splitlines()
    sizes = {"faces.drive23.txt": 12, "faces.mirror.txt": 9, "a/faces.drive23.clean.txt": 7, "b/faces.drive23.clean.txt": 5}
    for name, n in sizes.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text("\n".join(lines[:n]) + "\n")
    for name, n in sizes.items():
        cache = load_or_build_cache(read_list(tmp_path / name, image_root=small_lists), 32, 0.2, tmp_path / "cache")
        assert len(cache) == len(cache.images) == n, name
    assert len(list((tmp_path / "cache").glob("*.u8"))) == 4


def test_weight_averaging_saves_the_average_and_resumes_to_the_same_state(faces, smoke_recipe, tmp_path):
    """swa_start: from that epoch the learning rate holds at swa_lr and the saved model is the
    equal average of the epochs' weights, its BatchNorm measured again; a run killed while
    averaging resumes to exactly the uninterrupted run's average."""
    recipe_file = tmp_path / "swa.yaml"
    recipe_file.write_text(smoke_recipe.read_text() + "swa_start: 2\nswa_lr: 0.0007\n")
    recipe = load_recipe(recipe_file)
    straight = tmp_path / "straight"
    train(recipe, faces, straight, epochs=3, cache_dir=tmp_path / "cache")
    last = load_checkpoint(straight / "last.pt")
    assert last["swa"]["count"] == 2  # epochs 2 and 3 averaged
    assert [h["lr"] for h in last["history"][1:]] == pytest.approx([0.0007, 0.0007])
    trained, averaged = last["swa"]["train_model"], last["model"]
    weight = "head.fc.weight"
    assert not torch.equal(trained[weight], averaged[weight])
    # the average's BatchNorm statistics were measured for its weights, not carried over
    bn_mean = next(k for k in averaged if k.endswith("running_mean"))
    assert not torch.equal(trained[bn_mean], averaged[bn_mean])

    killed = tmp_path / "killed"
    train(recipe, faces, killed, epochs=3, stop_after_epochs=2, cache_dir=tmp_path / "cache")
    assert load_checkpoint(killed / "last.pt")["swa"]["count"] == 1
    train(recipe, faces, killed, resume=True, cache_dir=tmp_path / "cache")
    resumed = load_checkpoint(killed / "last.pt")
    assert resumed["swa"]["count"] == 2
    for key in averaged:
        assert torch.equal(resumed["model"][key], averaged[key]), key

    late = tmp_path / "late.yaml"
    late.write_text(smoke_recipe.read_text() + "swa_start: 5\n")
    with pytest.raises(EdgemarkError, match="swa_start 5 is past the run's last epoch"):
        train(load_recipe(late), faces, tmp_path / "late", epochs=3, cache_dir=tmp_path / "cache")
    late.write_text(smoke_recipe.read_text() + "swa_lr: 0\n")
    with pytest.raises(EdgemarkError, match=r"late.yaml:\d+: swa_lr must be in \(0, 1\]"):
        load_recipe(late)


def test_a_trained_checkpoint_scores_its_validation_nme_in_the_predictor(faces, smoke_recipe, trained_checkpoint):
    """Training runs in NHWC (channels_last); the checkpoint it writes loads into the NCHW
    predictor every runtime is checked against, and scores there what training recorded."""
    from dataclasses import replace

    from edgemark.evaluate import evaluate
    from edgemark.predictors.load import load_predictor
    from edgemark.train import split_train_val

    state = load_checkpoint(trained_checkpoint)
    recipe = load_recipe(smoke_recipe)
    assert state["model"]["features.0.0.weight"].is_contiguous(memory_format=torch.channels_last)
    _, val_idx = split_train_val(len(faces), recipe.val_fraction, recipe.seed)
    val_faces = replace(faces, records=[faces.records[i] for i in val_idx])
    predictor = load_predictor(trained_checkpoint)
    assert next(predictor.model.parameters()).is_contiguous()
    assert evaluate(predictor, val_faces)["nme"] == pytest.approx(state["best_val_nme"], rel=1e-4)


def test_split_seed_keeps_the_starting_checkpoints_validation_faces(faces, smoke_recipe, tmp_path, trained_checkpoint):
    """A second seed of a fine-tune (seed 1) validates on the faces its starting checkpoint
    (seed 0) was chosen on when split_seed says so; without it the split moves."""
    from edgemark.distill import split_of
    from edgemark.train import split_train_val

    recipe_file = tmp_path / "seed1.yaml"
    recipe_file.write_text(smoke_recipe.read_text().replace("seed: 0", "seed: 1") + "split_seed: 0\n")
    recipe = load_recipe(recipe_file)
    assert (recipe.seed, recipe.validation_seed) == (1, 0)
    assert not set(split_train_val(1000, 0.1, 0)[1]) == set(split_train_val(1000, 0.1, 1)[1])
    train(recipe, faces, tmp_path / "s1", epochs=1, cache_dir=tmp_path / "cache", threads=TRAIN_THREADS,
          init=trained_checkpoint)
    started_from = load_checkpoint(trained_checkpoint)
    second = load_checkpoint(tmp_path / "s1" / "last.pt")
    assert split_of(second) == split_of(started_from)
    assert second["recipe"]["seed"] == 1
    recipe_file.write_text(smoke_recipe.read_text() + "split_seed: -2\n")
    with pytest.raises(EdgemarkError, match=r"seed1.yaml:\d+: split_seed must be in \[-1, "):
        load_recipe(recipe_file)


def test_mirror_consistency_loss_is_the_mirrored_pass_disagreement():
    """The mirrored pass, flipped back, that agrees with the plain pass adds nothing beyond the
    two views' label losses; one that disagrees adds its disagreement times the weight."""
    import dataclasses

    from edgemark.recipe import Recipe
    from edgemark.scheme import load_scheme
    from edgemark.train import _Data, _flip_uv, _loss, mirror_consistency_loss

    scheme = load_scheme("cuhk5")
    perm = torch.as_tensor(scheme.flip_permutation())
    recipe = dataclasses.replace(Recipe(), mirror_consistency=2.0, loss="l1")
    data = _Data(scheme, type("Crop", (), {"size": 64})(), None, None, None, None, None, None, None)
    g = torch.Generator().manual_seed(0)
    y = torch.rand(4, 5, 2, generator=g) * 0.5 + 0.25
    plain = y + 0.01 * torch.randn(4, 5, 2, generator=g)
    batch = (None, y, torch.zeros(4, dtype=torch.long), torch.tensor([False, True, False, True]), y.clone())
    agreeing = torch.cat([plain, _flip_uv(plain, perm)])
    assert torch.allclose(_flip_uv(_flip_uv(plain, perm), perm), plain)
    expected = _loss(recipe, data, plain, batch)  # both views equally wrong about their own targets
    assert mirror_consistency_loss(recipe, data, agreeing, batch) == pytest.approx(float(expected), rel=1e-5)
    shifted = torch.cat([plain, _flip_uv(plain + torch.tensor([0.02, 0.0]), perm)])
    extra = mirror_consistency_loss(recipe, data, shifted, batch) - mirror_consistency_loss(recipe, data, agreeing, batch)
    assert float(extra) > 2.0 * 0.02 * 64 / 2 * 0.9  # weight x mean |dx| in pixels (x only: half the coordinates), less a margin


def test_training_with_mirror_consistency_runs_both_views(faces, smoke_recipe, tmp_path):
    recipe_file = tmp_path / "mirror.yaml"
    recipe_file.write_text(smoke_recipe.read_text() + "mirror_consistency: 0.5\n")
    result = train(load_recipe(recipe_file), faces, tmp_path / "mirror", epochs=1, cache_dir=tmp_path / "cache", threads=TRAIN_THREADS)
    assert result["history"][0]["train_loss"] > 0
    assert load_checkpoint(tmp_path / "mirror" / "last.pt")["recipe"]["mirror_consistency"] == 0.5
