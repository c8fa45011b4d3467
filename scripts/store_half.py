"""Store a shipped model's weights in fp16: the same tensors rounded, a new model id, and
the fp32 form's id recorded under "supersedes" so that its files still decode (within the
golden tolerance, tests/golden.py). Measure first with scripts/weights_precision.py.

    python scripts/store_half.py imf-hybrid-v1
"""

from __future__ import annotations

import argparse
import json
import re

import torch

from imfcodec.model.weights import SHIPPED_DIR, load_weights, resolve_model, save_weights, write_shared_model


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("name")
    parser.add_argument("--keep-fp32", default="", help="Comma-separated tensor name prefixes kept in fp32 (e.g. token_encoder).")
    parser.add_argument("--shared", default="", help="Comma-separated models that share this one's tensors: their JSON is rewritten.")
    parser.add_argument("--measured", default="", help="A sentence for the provenance: what scripts/weights_precision.py gave.")
    args = parser.parse_args()
    path = resolve_model(args.name)
    if path.suffix != ".safetensors":
        raise SystemExit(f"{args.name}: shares another model's tensors; store that model instead")
    loaded = load_weights(path)
    provenance = dict(loaded.provenance)
    keep = tuple(p for p in args.keep_fp32.split(",") if p)
    provenance["stored"] = {"dtype": "float16", "fp32": list(keep), "rounded_from": loaded.model_id, "measured": args.measured}
    supersedes = (*loaded.supersedes, loaded.model_id)
    model_id = save_weights(loaded.model, SHIPPED_DIR / path.name, loaded.tables, provenance, torch.float16, supersedes, keep)
    for name in filter(None, args.shared.split(",")):
        manifest_path = SHIPPED_DIR / f"{name}.json"
        manifest = json.loads(manifest_path.read_text())
        old_id = manifest["model_id"]
        new_id = write_shared_model(manifest["config"], manifest["provenance"], SHIPPED_DIR / path.name, manifest_path)
        manifest = json.loads(manifest_path.read_text())
        manifest["supersedes"] = [*manifest.get("supersedes", []), old_id]
        manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        print(f"{name}: {new_id} (supersedes {old_id})")
    card = SHIPPED_DIR / f"{path.stem}.md"
    if card.is_file():
        text = re.sub(
            r"Model id \(SHA-256 of the \.safetensors\): `[0-9a-f]{64}`",
            f"Model id (SHA-256 of the .safetensors): `{model_id}`",
            card.read_text(),
        )
        text += f"\n\n## Stored in fp16\n\nThe weights are the fp32 export's (`{loaded.model_id}`) rounded to fp16; that id's files decode with these weights within the golden tolerance (tests/golden.py). {args.measured}\n"
        card.write_text(text)
    print(f"{path.name}: {model_id} (supersedes {', '.join(supersedes)})")


if __name__ == "__main__":
    main()
