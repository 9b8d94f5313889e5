# Reference pixel values from pydicom for MedRecon's DICOM tests.
# Usage: python3 pydicom_reference.py FILE...   → one JSON object per line:
#   {"file", "status": "ok"|"nopixels"|"error"|"unreadable", "ts", "shape": [frames, rows, cols, spp],
#    "sha256": of the stored values (masked to BitsStored, sign-extended) as little-endian float64, "error"}
import hashlib, json, sys, warnings
warnings.simplefilter("ignore")
import numpy as np
import pydicom

for path in sys.argv[1:]:
    out = {"file": path}
    try:
        ds = pydicom.dcmread(path, force=True)
    except Exception as e:
        out.update(status="unreadable", error=f"{type(e).__name__}: {e}")
        print(json.dumps(out)); continue
    try:
        out["ts"] = str(ds.file_meta.TransferSyntaxUID) if "TransferSyntaxUID" in getattr(ds, "file_meta", {}) else ""
    except Exception:
        out["ts"] = ""
    if "PixelData" not in ds:
        out["status"] = "nopixels"; print(json.dumps(out)); continue
    try:
        arr = ds.pixel_array
        frames = int(getattr(ds, "NumberOfFrames", 1) or 1)
        spp = int(getattr(ds, "SamplesPerPixel", 1) or 1)
        arr = np.asarray(arr).reshape(frames, int(ds.Rows), int(ds.Columns), spp)
        ba, bs = int(ds.BitsAllocated), int(getattr(ds, "BitsStored", ds.BitsAllocated))
        hb = int(getattr(ds, "HighBit", bs - 1))
        signed = int(getattr(ds, "PixelRepresentation", 0)) == 1
        v = arr.astype(np.int64)
        if ba > 1 and (bs < ba or hb != bs - 1):
            u = v & ((1 << ba) - 1)
            u = (u >> (hb + 1 - bs)) & ((1 << bs) - 1)
            if signed:
                u = np.where(u & (1 << (bs - 1)), u - (1 << bs), u)
            v = u
        data = v.astype("<f8").tobytes()
        out.update(status="ok", shape=[frames, int(ds.Rows), int(ds.Columns), spp],
                   sha256=hashlib.sha256(data).hexdigest(), min=float(v.min()), max=float(v.max()))
    except Exception as e:
        out.update(status="error", error=f"{type(e).__name__}: {e}")
    print(json.dumps(out))
