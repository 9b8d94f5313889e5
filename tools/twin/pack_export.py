"""Packs a `medrecon train --export-data DIR` folder into one compressed npz for train_twin.py.

Real slices become float16 (`slicesK`), or, for CT, integer HU (`slicesK_hu`, lossless for DICOM data: the fixed map
x = 2 (HU + 1024) / 4095 − 1 is inverted and rounded, and the rounding error is checked); phantoms become float16.
The manifest is copied beside the npz. Usage: pack_export.py EXPORT_DIR OUT.npz
"""
import json
import os
import shutil
import sys

import numpy as np


def main(argv):
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    src, out = argv
    manifest = json.load(open(os.path.join(src, "manifest.json")))
    arrays = {}
    for i, v in enumerate(manifest["volumes"]):
        a = np.load(os.path.join(src, v["file"]))
        if manifest["modality"] == "ct":
            hu = (a.astype(np.float64) + 1.0) * 4095.0 / 2.0 - 1024.0
            r = np.round(hu)
            if np.abs(hu - r).max() > 0.01 or r.min() < -32768 or r.max() > 32767:
                arrays[f"slices{i}"] = a.astype(np.float16)  # not integer HU: keep float16
            else:
                arrays[f"slices{i}_hu"] = r.astype(np.int16)
        else:
            arrays[f"slices{i}"] = a.astype(np.float16)
    if manifest.get("phantoms"):
        arrays["phantoms"] = np.load(os.path.join(src, manifest["phantoms"])).astype(np.float16)
    np.savez_compressed(out, **arrays)
    shutil.copy(os.path.join(src, "manifest.json"), os.path.splitext(out)[0] + "-manifest.json")
    for k, a in arrays.items():
        print(f"{k}: {a.shape} {a.dtype}")
    print(f"{out}: {os.path.getsize(out) / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
