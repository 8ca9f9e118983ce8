from pathlib import Path

import pytest
import torch

from edgemark.errors import EdgemarkError
from edgemark.models import MODEL_NAMES, build_model
from edgemark.recipe import load_recipe, recipe_from_dict

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("recipe", sorted((ROOT / "recipes").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_recipes_load(recipe):
    r = load_recipe(recipe)
    assert recipe_from_dict(r.to_dict()) == r


def test_unknown_key_names_file_and_line(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("input_size: 64\nmodel:\n  name: mobilenetv2\n  widht: 0.5\n")
    with pytest.raises(EdgemarkError, match=r"r.yaml:4: unknown key model.'widht'"):
        load_recipe(path)
    path.write_text("epochs: 3\nlearning_rate: 0.1\n")
    with pytest.raises(EdgemarkError, match=r"r.yaml:2: unknown key 'learning_rate'"):
        load_recipe(path)


def test_wrong_type_and_bad_yaml(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("epochs: many\n")
    with pytest.raises(EdgemarkError, match=r"r.yaml:1: epochs must be int"):
        load_recipe(path)
    path.write_text("augment: {rotation: [1}\n")
    with pytest.raises(EdgemarkError, match="invalid YAML"):
        load_recipe(path)
    with pytest.raises(EdgemarkError, match="cannot read recipe"):
        load_recipe(tmp_path / "missing.yaml")


def test_int_is_accepted_for_float(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("lr: 1\naugment:\n  rotation: 30\n")
    r = load_recipe(path)
    assert r.lr == 1.0 and r.augment.rotation == 30.0


@pytest.mark.parametrize("name", MODEL_NAMES)
@pytest.mark.parametrize("points, size", [(5, 112), (98, 64)])
def test_models_output_shape(name, points, size):
    model = build_model(name, points, size, width=0.5).eval()
    with torch.no_grad():
        y = model(torch.randn(2, 3, size, size))
    assert y.shape == (2, points, 2)
    # a fresh head predicts the crop centre
    assert torch.allclose(y, torch.full_like(y, 0.5))


def test_width_multiplier_changes_size():
    small = sum(p.numel() for p in build_model("mobilenetv2", 5, 112, width=0.5).parameters())
    big = sum(p.numel() for p in build_model("mobilenetv2", 5, 112, width=1.0).parameters())
    assert small < big / 2
    with pytest.raises(ValueError, match="unknown model"):
        build_model("vgg", 5, 112)


@pytest.mark.parametrize("text, message", [
    ("lr: -1\n", r"r.yaml:1: lr must be in \(0, 1\], got -1"),
    ("epochs: 3\nlr: .nan\n", r"r.yaml:2: lr must be in \(0, 1\], got nan"),
    ("augment:\n  flip: 0.5\n  rotation: 720\n", r"r.yaml:3: augment.rotation must be in \[0, 180\], got 720"),
    ("augment: {occlusion: 1.5}\n", r"r.yaml:1: augment.occlusion must be in \[0, 1\], got 1.5"),
    ("model:\n  width: 0\n", r"r.yaml:2: model.width must be in \(0, 4\], got 0"),
    ("model:\n  name: vgg\n", r"r.yaml:2: model.name must be one of mobilenetv2, .*, got 'vgg'"),
    ("loss: huber\n", r"r.yaml:1: loss must be one of wing, l1, mse, got 'huber'"),
    ("seed: -1\n", r"r.yaml:1: seed must be in \[0, 4294967295\], got -1"),
    ("val_fraction: 0\n", r"r.yaml:1: val_fraction must be in \(0, 1\), got 0"),
    ("input_size: 8\n", r"r.yaml:1: input_size must be in \[16, 512\], got 8"),
    ("batch_size: 0\n", r"r.yaml:1: batch_size must be in \[1, 65536\], got 0"),
    ("scheme: cuhk6\n", r"r.yaml:1: scheme must be one of cuhk5, drive23, dense68, ibug68, wflw98 or a scheme YAML file, got 'cuhk6'"),
    ("lr: " + "9" * 400 + "\n", r"r.yaml:1: lr must be in \(0, 1\]"),
    ("scheme: " + "x" * 300 + "\n", r"r.yaml:1: scheme must be one of cuhk5, drive23, dense68, ibug68, wflw98 or a scheme YAML file"),
    ("[" * 2000 + "\n", r"r.yaml: invalid YAML"),
])
def test_out_of_range_value_names_file_and_line(tmp_path, text, message):
    path = tmp_path / "r.yaml"
    path.write_text(text)
    with pytest.raises(EdgemarkError, match=message):
        load_recipe(path)


def test_every_recipe_key_has_a_stated_range():
    from dataclasses import fields

    from edgemark.augment import AugmentConfig
    from edgemark.recipe import RANGES, ModelConfig, Recipe

    keys = {f.name for f in fields(Recipe)} - {"model", "augment", "source_offsets", "upright"}  # upright: a bool, checked by type
    keys |= {f"model.{f.name}" for f in fields(ModelConfig)} | {f"augment.{f.name}" for f in fields(AugmentConfig)}
    assert keys == set(RANGES)
    for path in sorted((ROOT / "recipes").rglob("*.yaml")):  # every shipped recipe lies inside them
        load_recipe(path)


def test_a_recipe_that_is_not_utf8_or_not_a_mapping(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_bytes(b"lr: \xff\xfe\n")
    with pytest.raises(EdgemarkError, match="r.yaml: not UTF-8 text"):
        load_recipe(path)
    path.write_text("model: 3\n")
    with pytest.raises(EdgemarkError, match=r"r.yaml:1: model must be a mapping"):
        load_recipe(path)
