"""Training recipes: plain YAML, validated on load. An unknown or mistyped key, a value
of the wrong type or outside its stated range (``RANGES``) is an error that names the
file and line, not a silently ignored setting or a traceback from deep in training."""

from __future__ import annotations

import math
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path

import yaml

from .augment import AugmentConfig
from .errors import EdgemarkError
from .losses import LOSS_NAMES
from .models import MODEL_NAMES
from .scheme import BUILTIN_SCHEMES, load_scheme


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
    # the train/validation split's seed; -1: the same as ``seed``. Set it to train a second
    # seed of a fine-tune on the split its starting checkpoint was chosen on (another split
    # would put faces the starting model trained on into validation)
    split_seed: int = -1
    workers: int = 2
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    # data sources (the folder a face's image sits in) whose labels follow another convention:
    # training learns one offset per point for each, so their labels stop contradicting the rest
    source_offsets: list = field(default_factory=list)
    # crops turned so that the labelled eyes are level (the pipeline's upright crops); the
    # rotation jitter then applies around upright
    upright: bool = False
    # for a scheme whose points are partly a teacher's (``labelled``): each human-labelled
    # point's loss weight relative to a teacher point's
    labelled_weight: float = 1.0
    # for a scheme with eyelids or a mouth: faces with eyes at least half shut or a mouth open
    # wide are drawn this many times as often (train.rare_face_weights)
    rare_weight: float = 1.0
    # strongly turned heads (the labels' nose off the eye midpoint by TURNED or more inter-ocular
    # distances along the eye line) are drawn this many times as often (train.turned_face_weights)
    turned_weight: float = 1.0
    # stochastic weight averaging (weight_average.py): from this epoch on (1-based; 0: off) the
    # learning rate holds at swa_lr and each epoch's weights join an equal average, which is what
    # is validated and saved
    swa_start: int = 0
    swa_lr: float = 5e-4
    # mirror consistency (train.mirror_consistency_loss): each batch also runs mirrored; both
    # views learn their targets, and this weight pulls the mirrored pass, flipped back, onto the
    # plain one (0: off; on, a step costs about twice as much)
    mirror_consistency: float = 0.0

    @property
    def validation_seed(self) -> int:
        """The seed of the train/validation split."""
        return self.seed if self.split_seed < 0 else self.split_seed

    def to_dict(self) -> dict:
        return asdict(self)


_NESTED = {"model": ModelConfig, "augment": AugmentConfig}


@dataclass(frozen=True)
class Range:
    """A closed interval, or open at an end: ``Range(0, 1, low_open=True)`` is (0, 1]."""

    low: float
    high: float
    low_open: bool = False
    high_open: bool = False

    def __contains__(self, value: float) -> bool:
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return above and below  # False for NaN

    def __str__(self) -> str:
        low, high = (str(int(v)) if float(v).is_integer() else f"{v:g}" for v in (self.low, self.high))
        return f"{'(' if self.low_open else '['}{low}, {high}{')' if self.high_open else ']'}"


# Every value a recipe can hold: numbers inside a range, names from a list. A value outside
# is an error naming the recipe's file and the line of its key.
RANGES: dict[str, Range | tuple[str, ...]] = {
    "scheme": BUILTIN_SCHEMES,  # or a scheme YAML file
    "input_size": Range(16, 512),  # crop side, pixels
    "margin": Range(0, 2),  # context around the box, fraction of its side
    "loss": LOSS_NAMES,
    "epochs": Range(1, 10_000),
    "batch_size": Range(1, 65_536),
    "lr": Range(0, 1, low_open=True),  # peak learning rate (AdamW)
    "weight_decay": Range(0, 1),
    "warmup_epochs": Range(0, 10_000),
    "val_fraction": Range(0, 1, low_open=True, high_open=True),  # share of the list held out for validation
    "seed": Range(0, 2**32 - 1),
    "split_seed": Range(-1, 2**32 - 1),  # -1: the same as seed
    "workers": Range(0, 256),  # data loader processes
    "model.name": MODEL_NAMES,
    "model.width": Range(0, 4, low_open=True),  # width multiplier
    "model.head_channels": Range(1, 4096),
    "model.head_pooling": ("flatten", "pool"),
    "model.dropout": Range(0, 1, high_open=True),  # probability
    "labelled_weight": Range(0, 1000, low_open=True),
    "rare_weight": Range(1, 1000),
    "turned_weight": Range(1, 1000),
    "swa_start": Range(0, 10_000),  # epoch, 1-based; 0: no weight averaging
    "swa_lr": Range(0, 1, low_open=True),  # the constant learning rate while averaging
    "mirror_consistency": Range(0, 100),  # weight of the mirrored pass's disagreement
    "augment.flip": Range(0, 1),  # probability
    "augment.rotation": Range(0, 180),  # degrees, either way
    "augment.scale": Range(0, 1, high_open=True),  # box side factor in [1 - scale, 1 + scale]
    "augment.shift": Range(0, 1),  # fraction of the box side
    "augment.color": Range(0, 1),  # strength
    "augment.blur": Range(0, 1),  # probability
    "augment.jpeg": Range(0, 1),  # probability
    "augment.occlusion": Range(0, 1),  # probability
    "augment.wide_scale": Range(0, 1),  # probability
    "augment.gamma": Range(0, 1),  # probability
}


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _check_range(name: str, value, original, where: str) -> None:
    """``where`` is "FILE:LINE"; ``original`` the value as written (before int -> float)."""
    allowed = RANGES[name]
    if isinstance(allowed, Range):
        if value not in allowed:
            raise EdgemarkError(f"{where}: {name} must be in {allowed}, got {_short(original)}")
    elif name == "scheme":
        _check_scheme(value, where)
    elif value not in allowed:
        raise EdgemarkError(f"{where}: {name} must be one of {', '.join(allowed)}, got {_short(original)}")


def _check_scheme(value: str, where: str) -> None:
    if value in BUILTIN_SCHEMES:
        return
    try:
        is_file = Path(value).is_file()
    except OSError:  # a name too long for the file system, say
        is_file = False
    if not is_file:
        raise EdgemarkError(f"{where}: scheme must be one of {', '.join(BUILTIN_SCHEMES)} or a scheme YAML file, got {_short(value)}")
    try:
        load_scheme(value)
    except EdgemarkError as e:
        raise EdgemarkError(f"{where}: scheme: {e}") from None


def _build(cls, data, path: str, node, where: str):
    if not isinstance(data, dict):
        raise EdgemarkError(f"{path}:{node.start_mark.line + 1}: {where.rstrip('.') or 'recipe'} must be a mapping of keys to values")
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
        original = value
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value) if abs(value) < 2**1023 else math.inf  # a 400-digit integer is out of every range
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise EdgemarkError(f"{path}:{line}: {where}{key} must be {expected.__name__}, got {_short(value)}")
        if f"{where}{key}" in RANGES:
            _check_range(f"{where}{key}", value, original, f"{path}:{line}")
        elif key == "source_offsets" and not all(isinstance(s, str) and s for s in value):
            raise EdgemarkError(f"{path}:{line}: source_offsets must be a list of source folder names, e.g. [lfw_5590]")
        kwargs[key] = value
    return cls(**kwargs)


def load_recipe(path: str | Path) -> Recipe:
    path = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise EdgemarkError(f"{path}: cannot read recipe: {e.strerror or e}") from None
    except UnicodeDecodeError as e:
        raise EdgemarkError(f"{path}: not UTF-8 text (byte {e.start})") from None
    try:
        node = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise EdgemarkError(f"{path}: invalid YAML: {e}") from None
    except RecursionError:
        raise EdgemarkError(f"{path}: invalid YAML: nested too deeply") from None
    if data is None:
        return Recipe()
    return _build(Recipe, data, path, node, "")


def recipe_from_dict(d: dict) -> Recipe:
    d = dict(d)
    return Recipe(**{**d, "model": ModelConfig(**d["model"]), "augment": AugmentConfig(**d["augment"])})
