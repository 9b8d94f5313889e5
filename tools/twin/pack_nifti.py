"""Adds slices of a NIfTI-1 MR volume to a packed training set (pack_export.py's npz and manifest) for train_twin.py.

A 3-D template such as Colin 27 (/usr/share/mricron/templates/ch2.nii.gz) is sliced along several axes, so the
patch-trained prior sees its anatomy in every orientation. The axes are those of the file's data array in its
stored order [k, j, i] (axis 0 = the file's third axis, the one `medrecon train --data` slices along). The volume is
normalised once, as the C# trainer normalises MR volumes: x = 2 v / p - 1, p the nearest-rank 99.5th percentile of
all its voxels (after scl_slope/scl_inter), stored as float16. Each axis becomes one manifest volume with the same
sampling weight, no held-out slices (the template is not evaluated on) and its percentile recorded.

Usage:
  pack_nifti.py BASE.npz VOLUME.nii[.gz] OUT.npz --axes 0,1,2 --slices 0:161:2,22:189:2,8:85:2+96:173:2 --weight 0.15
(BASE-manifest.json is read beside BASE.npz unless --base-manifest names it; OUT-manifest.json is written beside
OUT.npz; --slices: one entry per axis, Python ranges start:stop[:step] joined by '+'.)
"""
import argparse
import gzip
import json
import math
import os
import struct
import sys

import numpy as np

# NIfTI-1 datatype codes this reader takes
DTYPES = {2: "u1", 4: "i2", 8: "i4", 16: "f4", 64: "f8", 256: "i1", 512: "u2", 768: "u4"}


def read_nifti(path):
    """The data array in stored order [k, j, i] (float64, scaled), for a single-file 3-D NIfTI-1."""
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":  # gzip, whatever the file is called
        raw = gzip.decompress(raw)
    if len(raw) < 352:
        raise ValueError(f"{path}: too short for a NIfTI-1 file ({len(raw)} bytes)")
    endian = "<" if struct.unpack("<i", raw[0:4])[0] == 348 else ">"
    if struct.unpack(endian + "i", raw[0:4])[0] != 348 or raw[344:347] != b"n+1":
        raise ValueError(f"{path}: not a single-file NIfTI-1 (.nii) volume")
    dim = struct.unpack(endian + "8h", raw[40:56])
    if not 3 <= dim[0] <= 7 or any(d > 1 for d in dim[4:dim[0] + 1]) or min(dim[1:4]) < 1:
        raise ValueError(f"{path}: expected a 3-D volume, dim = {dim}")
    code = struct.unpack(endian + "h", raw[70:72])[0]
    if code not in DTYPES:
        raise ValueError(f"{path}: NIfTI datatype {code} is not supported (uint8/16/32, int8/16/32, float32/64)")
    vox_offset = struct.unpack(endian + "f", raw[108:112])[0]
    if not math.isfinite(vox_offset):
        raise ValueError(f"{path}: vox_offset is {vox_offset}")
    offset = max(352, int(vox_offset))  # as MedRecon's reader: the data never start inside the header
    slope, inter = struct.unpack(endian + "2f", raw[112:120])
    n = dim[1] * dim[2] * dim[3]
    dtype = np.dtype(endian + DTYPES[code])
    if offset + n * dtype.itemsize > len(raw):
        raise ValueError(f"{path}: truncated ({len(raw)} bytes, need {offset + n * dtype.itemsize})")
    a = np.frombuffer(raw, dtype=dtype, count=n, offset=offset).astype(np.float64)
    if slope != 0 and math.isfinite(slope) and math.isfinite(inter):
        a = a * slope + inter
    if not np.isfinite(a).all():
        raise ValueError(f"{path}: {int((~np.isfinite(a)).sum())} voxels are not finite")
    return a.reshape(dim[3], dim[2], dim[1])


def nearest_rank_percentile(values, q):
    """The smallest value with at least q % of the values at or below it (the C# trainer's nearest rank)."""
    return float(np.percentile(values, q, method="inverted_cdf"))


def parse_ranges(text, length):
    """Slice indices of 'start:stop[:step]' ranges (or single indices) joined by '+', e.g. 8:85:2+96:173:2; each index
    in 0..length-1, none twice."""
    indices = [i for part in text.split("+") for i in parse_range(part, length)]
    if len(set(indices)) != len(indices):
        raise ValueError(f"slice ranges '{text}' select a slice twice")
    return indices


def parse_range(text, length):
    try:
        parts = [int(p) if p else None for p in text.split(":")]
    except ValueError:
        raise ValueError(f"slice range '{text}' is not start:stop[:step] of integers") from None
    if len(parts) == 1 and parts[0] is not None:
        parts = [parts[0], parts[0] + 1]  # a single index
    if not 2 <= len(parts) <= 3:
        raise ValueError(f"slice range '{text}' is not start:stop[:step]")
    start, stop, step = (parts + [None])[:3]
    start, stop, step = start or 0, length if stop is None else stop, 1 if step is None else step
    if step < 1 or not 0 <= start < stop <= length:
        raise ValueError(f"slice range '{text}' must satisfy 0 <= start < stop <= {length} and step >= 1")
    return list(range(start, stop, step))


def write_atomically(path, write):
    """Writes through a temporary file in the same folder and renames it, so a failure leaves no half file."""
    tmp = path + ".partial"
    try:
        with open(tmp, "wb") as f:
            write(f)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("base", help="packed npz (pack_export.py); BASE-manifest.json beside it")
    ap.add_argument("volume", help="NIfTI-1 volume (.nii or .nii.gz)")
    ap.add_argument("out", help="output npz; OUT-manifest.json is written beside it")
    ap.add_argument("--base-manifest", help="the base's manifest (default: BASE-manifest.json)")
    ap.add_argument("--axes", default="0", help="comma-separated axes of the stored [k, j, i] array")
    ap.add_argument("--slices", default=None, help="one start:stop:step per axis (default: every slice)")
    ap.add_argument("--weight", type=float, default=1.0, help="sampling weight of each added axis's slices")
    args = ap.parse_args(argv)
    try:
        return pack(args)
    except (ValueError, OSError) as e:
        raise SystemExit(f"pack_nifti: {e}") from None


def pack(args):
    base_manifest = args.base_manifest or os.path.splitext(args.base)[0] + "-manifest.json"
    out_manifest = os.path.splitext(args.out)[0] + "-manifest.json"
    if not args.out.endswith(".npz"):
        raise ValueError(f"the output {args.out} must end in .npz")
    if {os.path.realpath(args.out), os.path.realpath(out_manifest)} & {os.path.realpath(args.base),
                                                                        os.path.realpath(base_manifest)}:
        raise ValueError("the output would overwrite the base pack or its manifest; name another file")
    manifest = json.load(open(base_manifest))
    if manifest.get("modality") != "mr":
        raise ValueError(f"{base_manifest}: modality {manifest.get('modality')!r}; only MR volumes are added this way")
    if not (args.weight > 0 and math.isfinite(args.weight)):
        raise ValueError("--weight must be positive")
    try:
        axes = [int(a) for a in args.axes.split(",")]
    except ValueError:
        raise ValueError(f"--axes '{args.axes}' is not a list of 0, 1, 2") from None
    ranges = args.slices.split(",") if args.slices else [":"] * len(axes)
    if len(ranges) != len(axes) or any(a not in (0, 1, 2) for a in axes) or len(set(axes)) != len(axes):
        raise ValueError("--axes takes distinct axes 0, 1 or 2, and --slices one entry per axis")
    z = np.load(args.base)
    arrays = {k: z[k] for k in z.files}
    index = 1 + max((int(k[len("slices"):].split("_")[0]) for k in arrays if k.startswith("slices")), default=-1)
    # train_twin pairs slicesK with manifest volume K: the base must already agree, or the weights would shift.
    if index != len(manifest["volumes"]):
        raise ValueError(f"{args.base} holds {index} slice sets but {base_manifest} lists {len(manifest['volumes'])} volumes")
    volume = read_nifti(args.volume)
    p = nearest_rank_percentile(volume, 99.5)
    if not (p > 0 and math.isfinite(p)):
        raise ValueError(f"{args.volume}: 99.5th percentile is {p}; cannot normalise")
    chosen = [parse_ranges(text, volume.shape[axis]) for axis, text in zip(axes, ranges)]  # all checked before any write
    for axis, slices in zip(axes, chosen):
        stack = np.stack([np.take(volume, i, axis=axis) for i in slices])
        arrays[f"slices{index}"] = (2.0 * stack / p - 1.0).astype(np.float32).astype(np.float16)
        manifest["volumes"].append({"file": os.path.basename(args.volume), "source": os.path.abspath(args.volume),
                                    "axis": axis, "slices": slices, "heldOut": [], "weight": args.weight,
                                    "percentile99_5": p})
        print(f"slices{index}: axis {axis}, {len(slices)} slices of {stack.shape[1]}x{stack.shape[2]}, weight {args.weight}")
        index += 1
    write_atomically(args.out, lambda f: np.savez_compressed(f, **arrays))
    write_atomically(out_manifest, lambda f: f.write(json.dumps(manifest, indent=1).encode()))
    print(f"{args.out}: {os.path.getsize(args.out) / 1e6:.1f} MB, p99.5 = {p:g}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
