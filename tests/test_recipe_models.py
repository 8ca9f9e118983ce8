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
