"""Store a shipped model's weights in fp16: the same tensors rounded, a new model id, and
the fp32 form's id recorded under "supersedes" so that its files still decode (within the
golden tolerance, tests/golden.py). Measure first with scripts/weights_precision.py.

    python scripts/store_half.py imf-hybrid-v1
"""

from __future__ import annotations

import argparse
import re

import torch

from imfcodec.model.weights import SHIPPED_DIR, load_weights, resolve_model, save_weights


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("name")
    parser.add_argument("--measured", default="", help="A sentence for the provenance: what scripts/weights_precision.py gave.")
    args = parser.parse_args()
    path = resolve_model(args.name)
    if path.suffix != ".safetensors":
        raise SystemExit(f"{args.name}: shares another model's tensors; store that model instead")
    loaded = load_weights(path)
    provenance = dict(loaded.provenance)
    provenance["stored"] = {"dtype": "float16", "rounded_from": loaded.model_id, "measured": args.measured}
    supersedes = (*loaded.supersedes, loaded.model_id)
    model_id = save_weights(loaded.model, SHIPPED_DIR / path.name, loaded.tables, provenance, torch.float16, supersedes)
    card = SHIPPED_DIR / f"{path.stem}.md"
    if card.is_file():
        text = re.sub(r"Model id \(SHA-256 of the \.safetensors\): `[0-9a-f]{64}`", f"Model id (SHA-256 of the .safetensors): `{model_id}`", card.read_text())
        text += f"\n\n## Stored in fp16\n\nThe weights are the fp32 export's (`{loaded.model_id}`) rounded to fp16; that id's files decode with these weights within the golden tolerance (tests/golden.py). {args.measured}\n"
        card.write_text(text)
    print(f"{path.name}: {model_id} (supersedes {', '.join(supersedes)})")


if __name__ == "__main__":
    main()
