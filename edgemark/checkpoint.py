"""Checkpoints: saved atomically, loaded with ``weights_only=True`` (no pickle code
runs), and self-describing: recipe, landmark scheme, crop spec and box rule ride along."""

from __future__ import annotations

from pathlib import Path

import torch

from .errors import EdgemarkError
from .io import atomic_path, file_sha256  # noqa: F401  (re-exported)
from .models import build_model
from .preprocess import CropSpec
from .recipe import Recipe, recipe_from_dict
from .scheme import LandmarkScheme

CHECKPOINT_FORMAT = "edgemark-checkpoint-1"


def save_checkpoint(path, state: dict) -> None:
    with atomic_path(path) as tmp:
        torch.save({"format": CHECKPOINT_FORMAT, **state}, tmp)


def load_checkpoint(path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise EdgemarkError(f"{path}: checkpoint not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many kinds for a corrupt or foreign file
        raise EdgemarkError(f"{path}: not a readable edgemark checkpoint ({type(e).__name__})") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise EdgemarkError(f"{path}: not an edgemark checkpoint (format {state.get('format') if isinstance(state, dict) else type(state).__name__!r})")
    return state


class LoadedModel:
    """A model rebuilt from a checkpoint, with what is needed to feed it."""

    def __init__(self, state: dict, path: str = ""):
        self.path = path
        self.recipe: Recipe = recipe_from_dict(state["recipe"])
        self.scheme = LandmarkScheme.from_dict(state["scheme"])
        self.crop = CropSpec.from_dict(state["crop"])
        self.box_rule: dict = state.get("box_rule") or {}
        m = self.recipe.model
        self.model = build_model(m.name, self.scheme.num_points, self.crop.size, m.width, m.head_channels, m.head_pooling, m.dropout)
        self.model.load_state_dict(state["model"])
        self.model.eval()


def load_model(path) -> LoadedModel:
    return LoadedModel(load_checkpoint(path), str(path))


def keep_points(state: dict, scheme: LandmarkScheme, box_rule: dict, source: str = "") -> dict:
    """The same checkpoint predicting only ``scheme``'s points, picked by name from the head's
    rows (e.g. the 5 labelled points of a model trained with a teacher's points beside them).
    The rest of the network is untouched, so the kept points' outputs are the full model's (up
    to float rounding in the smaller matrix product). ``box_rule`` is the box around the kept
    points (``preprocess.measure_box_rule`` on training faces): the full model's rule spans
    its own points' extent, and refinement re-crops by the rule. The training history stays
    (it describes the full model's run) and ``kept_points_of`` records where the rows came from."""
    theirs = LandmarkScheme.from_dict(state["scheme"])
    missing = [n for n in scheme.names if n not in theirs.names]
    if missing:
        raise EdgemarkError(f"{source or 'checkpoint'}: scheme {theirs.name!r} has no point named {missing[0]!r} "
                            f"(needed by {scheme.name!r}; it has {', '.join(theirs.names[:6])}...)")
    rows = [theirs.names.index(n) for n in scheme.names]
    outputs = torch.tensor([2 * r + c for r in rows for c in (0, 1)])
    model = dict(state["model"])
    model["head.fc.weight"] = model["head.fc.weight"][outputs].clone()
    model["head.fc.bias"] = model["head.fc.bias"][outputs].clone()
    kept = {k: v for k, v in state.items() if k not in ("optimizer", "scheduler", "torch_rng")}  # a model, not a run to resume
    kept_of = {"scheme": theirs.name, "points": [theirs.names[r] for r in rows], "box_rule": state.get("box_rule")}
    if source:
        kept_of.update(file=str(source), sha256=file_sha256(source))
    return {**kept, "model": model, "scheme": scheme.to_dict(), "box_rule": dict(box_rule), "kept_points_of": kept_of}
