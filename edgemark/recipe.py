"""Training recipes: plain YAML, validated on load. An unknown or mistyped key is an
error that names the file and line, not a silently ignored setting."""

from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path

import yaml

from .augment import AugmentConfig
from .errors import EdgemarkError


@dataclass(frozen=True)
class ModelConfig:
    name: str = "mobilenetv2"
    width: float = 1.0
    head_channels: int = 64
    head_pooling: str = "flatten"
    dropout: float = 0.0


@dataclass(frozen=True)
class Recipe:
    scheme: str = "cuhk5"
    input_size: int = 112
    margin: float = 0.2
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: str = "wing"
    epochs: int = 60
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup_epochs: int = 1
    val_fraction: float = 0.1
    seed: int = 0
    workers: int = 2
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    # data sources (the folder a face's image sits in) whose labels follow another convention:
    # training learns one offset per point for each, so their labels stop contradicting the rest
    source_offsets: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


_NESTED = {"model": ModelConfig, "augment": AugmentConfig}


def _build(cls, data, path: str, node, where: str):
    if not isinstance(data, dict):
        raise EdgemarkError(f"{path}:{node.start_mark.line + 1}: {where or 'recipe'} must be a mapping of keys to values")
    known = {f.name: f for f in fields(cls)}
    key_nodes = {k.value: (k, v) for k, v in node.value} if hasattr(node, "value") and isinstance(node.value, list) else {}
    kwargs = {}
    for key, value in data.items():
        knode, vnode = key_nodes.get(key, (node, node))
        line = knode.start_mark.line + 1
        if key not in known:
            raise EdgemarkError(f"{path}:{line}: unknown key {where}{key!r}; known keys: {', '.join(known)}")
        if cls is Recipe and key in _NESTED:
            kwargs[key] = _build(_NESTED[key], value, path, vnode, f"{key}.")
            continue
        f = known[key]
        expected = type(f.default if f.default is not MISSING else f.default_factory())
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise EdgemarkError(f"{path}:{line}: {where}{key} must be {expected.__name__}, got {value!r}")
        kwargs[key] = value
    return cls(**kwargs)


def load_recipe(path: str | Path) -> Recipe:
    path = str(path)
    try:
        text = Path(path).read_text()
    except OSError as e:
        raise EdgemarkError(f"{path}: cannot read recipe: {e.strerror or e}") from None
    try:
        node = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise EdgemarkError(f"{path}: invalid YAML: {e}") from None
    if data is None:
        return Recipe()
    recipe = _build(Recipe, data, path, node, "")
    if recipe.epochs < 1 or recipe.batch_size < 1 or recipe.input_size < 16:
        raise EdgemarkError(f"{path}: epochs and batch_size must be >= 1 and input_size >= 16")
    if not all(isinstance(s, str) and s for s in recipe.source_offsets):
        line = next((k.start_mark.line + 1 for k, _ in node.value if k.value == "source_offsets"), 1)
        raise EdgemarkError(f"{path}:{line}: source_offsets must be a list of source folder names, e.g. [lfw_5590]")
    return recipe


def recipe_from_dict(d: dict) -> Recipe:
    d = dict(d)
    return Recipe(**{**d, "model": ModelConfig(**d["model"]), "augment": AugmentConfig(**d["augment"])})
