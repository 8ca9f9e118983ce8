"""Model soup study (issue 18, benchmarks/accuracy.md): the uniform average of checkpoints
fine-tuned from the same weights (Wortsman et al., "Model soups", ICML 2022), BatchNorm's
statistics measured again (edgemark.weight_average) on the training crops of the first
checkpoint's split (its recipe's seed, so never on its validation faces). The result is
an ordinary checkpoint (the first one's metadata, the averaged weights) for ``edgemark eval``.

    python tools/model_soup.py OUT.pt A.pt B.pt [C.pt ...] [--data DIR]
"""

from __future__ import annotations

import argparse
import os

import torch

from edgemark.checkpoint import LoadedModel, load_checkpoint, save_checkpoint
from edgemark.data.cache import load_or_build_cache
from edgemark.data.dataset import LandmarkDataset
from edgemark.data.lists import read_list
from edgemark.train import split_train_val
from edgemark.weight_average import WeightAverage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("checkpoints", nargs="+")
    parser.add_argument("--data", default=os.environ.get("EDGEMARK_DATA", "../shared/datasets/cuhk_facepoint"))
    args = parser.parse_args()
    states = [load_checkpoint(p) for p in args.checkpoints]
    first = LoadedModel(states[0], args.checkpoints[0])  # the model, its recipe, scheme and crop
    average = WeightAverage(first.model)
    for state in states:
        first.model.load_state_dict(state["model"])
        average.add(first.model)
    recipe, crop = first.recipe, first.crop
    faces = read_list(os.path.join(args.data, "trainImageList.txt"))
    cache = load_or_build_cache(faces, crop.size, crop.margin, None)
    train_idx, _ = split_train_val(len(faces), recipe.val_fraction, recipe.seed)  # never the validation faces
    crops = LandmarkDataset(cache, train_idx, crop, first.scheme, recipe.augment, recipe.seed)
    soup = average.model_with_bn(crops, recipe.batch_size, seed=recipe.seed)
    save_checkpoint(args.out, {**states[0], "model": soup.state_dict(), "soup": [str(p) for p in args.checkpoints]})
    print(f"wrote {args.out}: the average of {len(states)} checkpoints")


if __name__ == "__main__":
    torch.set_num_threads(2)
    main()
