#!/usr/bin/python3
"""Peer CT implementations on the same data as MedRecon: scikit-image (radon/iradon) and ASTRA (CPU), if installed.

Conventions: ASTRA 'parallel' geometry = MedRecon's (view angle theta integrates along x cos(theta) + y sin(theta) = t,
detector j centred at (j - (D-1)/2) * spacing). scikit-image's radon(theta=degrees) agrees with it for odd N; for even N
its rotation centre is at N//2, half a pixel off MedRecon's (N-1)/2.

Usage (Debian's /usr/bin/python3):
  ct_peers.py project IMAGE.npy ANGLES.npy DETECTORS OUTDIR     -> OUTDIR/sino_skimage.npy (odd N, D = N), sino_astra.npy
  ct_peers.py fbp SINO.npy ANGLES.npy N OUTDIR                  -> OUTDIR/fbp_skimage.npy, fbp_astra.npy
  ct_peers.py fan IMAGE.npy ANGLES.npy DETECTORS SPACING SOURCE DETECTOR PIXEL OUTDIR
                                                                -> OUTDIR/sino_fanflat_line.npy, sino_fanflat_strip.npy
                                                                   (ASTRA 'fanflat', CPU line/strip kernels; needs ASTRA)
  ct_peers.py bench [OUT.json]                                  -> timings at 256/512 px, 60/180 views
"""
import json
import os
import sys
import time

import numpy as np

try:
    import astra  # Debian contrib: python3-astra-toolbox
except Exception:  # noqa: BLE001 - optional peer
    astra = None


def astra_parallel(n, detectors, angles, projector="linear"):
    vg = astra.create_vol_geom(n, n)
    pg = astra.create_proj_geom("parallel", 1.0, detectors, angles)
    pid = astra.create_projector(projector, pg, vg)
    return vg, pg, pid


def cmd_project(image, angles, detectors, out):
    from skimage.transform import radon
    img = np.load(image).astype(np.float32)
    ang = np.load(angles)
    n = img.shape[0]
    if n % 2 == 1 and detectors == n:
        np.save(os.path.join(out, "sino_skimage.npy"), np.ascontiguousarray(radon(img, theta=np.rad2deg(ang), circle=True).T, dtype=np.float32))
    if astra is not None:
        _, _, pid = astra_parallel(n, detectors, ang)
        sid, s = astra.create_sino(img, pid)
        np.save(os.path.join(out, "sino_astra.npy"), np.ascontiguousarray(s, dtype=np.float32))
        bid, b = astra.create_backprojection(s, pid)
        astra.data2d.delete([sid, bid])
        astra.projector.delete(pid)


def cmd_fan(image, angles, detectors, spacing, source, detector, pixel, out):
    """ASTRA 'fanflat' on the CPU. ASTRA's 2-D volume has unit pixels, so every length is divided by the pixel size
    and the line integrals multiplied by it. Its fanflat vectors are MedRecon's: source at R_s (sin t, -cos t),
    detector centre at -R_d (sin t, -cos t), detector axis (cos t, sin t). The CPU has only the 'line_fanflat'
    (intersection length with each pixel) and 'strip_fanflat' (area of the beam's strip) kernels, no Joseph one."""
    if astra is None:
        sys.exit("ASTRA (python3-astra-toolbox) is not installed")
    img = np.load(image).astype(np.float32)
    ang = np.load(angles)
    n = img.shape[0]
    vg = astra.create_vol_geom(n, n)
    pg = astra.create_proj_geom("fanflat", spacing / pixel, detectors, ang, source / pixel, detector / pixel)
    for kernel in ("line_fanflat", "strip_fanflat"):
        pid = astra.create_projector(kernel, pg, vg)
        sid, s = astra.create_sino(img, pid)
        np.save(os.path.join(out, "sino_fanflat_" + kernel.split("_")[0] + ".npy"), np.ascontiguousarray(s * pixel, dtype=np.float32))
        astra.data2d.delete(sid)
        astra.projector.delete(pid)


def cmd_fbp(sino, angles, n, out):
    from skimage.transform import iradon
    s = np.load(sino).astype(np.float64)
    ang = np.load(angles)
    if s.shape[1] == n:
        rec = iradon(s.T, theta=np.rad2deg(ang), output_size=n, filter_name="ramp", circle=True)
        np.save(os.path.join(out, "fbp_skimage.npy"), rec.astype(np.float32))
    if astra is not None:
        np.save(os.path.join(out, "fbp_astra.npy"), astra_fbp(s.astype(np.float32), ang, n).astype(np.float32))


def astra_fbp(s, ang, n):
    vg, pg, pid = astra_parallel(n, s.shape[1], ang)
    sid = astra.data2d.create("-sino", pg, s)
    rid = astra.data2d.create("-vol", vg, 0)
    cfg = astra.astra_dict("FBP")
    cfg["ProjectorId"], cfg["ProjectionDataId"], cfg["ReconstructionDataId"] = pid, sid, rid
    cfg["FilterType"] = "Ram-Lak"
    aid = astra.algorithm.create(cfg)
    astra.algorithm.run(aid)
    rec = astra.data2d.get(rid)
    astra.algorithm.delete(aid)
    astra.data2d.delete([sid, rid])
    astra.projector.delete(pid)
    return rec


def astra_sirt(s, ang, n, iters):
    vg, pg, pid = astra_parallel(n, s.shape[1], ang)
    sid = astra.data2d.create("-sino", pg, s)
    rid = astra.data2d.create("-vol", vg, 0)
    cfg = astra.astra_dict("SIRT")
    cfg["ProjectorId"], cfg["ProjectionDataId"], cfg["ReconstructionDataId"] = pid, sid, rid
    aid = astra.algorithm.create(cfg)
    astra.algorithm.run(aid, iters)
    rec = astra.data2d.get(rid)
    astra.algorithm.delete(aid)
    astra.data2d.delete([sid, rid])
    astra.projector.delete(pid)
    return rec


def best_of(f, repeats=3):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    return min(times)


def cmd_bench(out_json=None):
    from skimage.data import shepp_logan_phantom
    from skimage.transform import radon, iradon, resize
    results = []
    base = shepp_logan_phantom()
    for n in (256, 512):
        img = resize(base, (n, n), anti_aliasing=True).astype(np.float32)
        for views in (60, 180):
            ang = np.linspace(0, np.pi, views, endpoint=False)
            row = {"size": n, "views": views}
            th = np.rad2deg(ang)
            row["skimage_radon_s"] = best_of(lambda: radon(img, theta=th, circle=True), 2)
            sk = radon(img, theta=th, circle=True)
            row["skimage_iradon_s"] = best_of(lambda: iradon(sk, theta=th, filter_name="ramp", circle=True), 2)
            if astra is not None:
                d = int(np.ceil(n * np.sqrt(2))) + 1
                _, _, pid = astra_parallel(n, d, ang)
                sino = astra.create_sino(img, pid)[1]

                def fp():
                    i, _ = astra.create_sino(img, pid)
                    astra.data2d.delete(i)

                def bp():
                    i, _ = astra.create_backprojection(sino, pid)
                    astra.data2d.delete(i)
                row["astra_linear_fp_s"] = best_of(fp)
                row["astra_linear_bp_s"] = best_of(bp)
                row["astra_fbp_s"] = best_of(lambda: astra_fbp(sino, ang, n))
                row["astra_sirt_iter_s"] = best_of(lambda: astra_sirt(sino, ang, n, 5), 1) / 5
                astra.projector.delete(pid)
            results.append(row)
            print(json.dumps(row), flush=True)
    if out_json:
        with open(out_json, "w") as f:
            json.dump({"astra": astra is not None, "results": results}, f, indent=1)


if __name__ == "__main__":
    a = sys.argv[1:]
    if not a:
        sys.exit(__doc__)
    if a[0] == "project":
        cmd_project(a[1], a[2], int(a[3]), a[4])
    elif a[0] == "fbp":
        cmd_fbp(a[1], a[2], int(a[3]), a[4])
    elif a[0] == "fan":
        cmd_fan(a[1], a[2], int(a[3]), float(a[4]), float(a[5]), float(a[6]), float(a[7]), a[8])
    elif a[0] == "bench":
        cmd_bench(a[1] if len(a) > 1 else None)
    else:
        sys.exit(__doc__)
