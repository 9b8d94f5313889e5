#!/usr/bin/python3
"""Why CGLS ties FBP at 30/60 parallel views (docs/ct.md): float64 CGLS on ASTRA's CPU 'linear' (Joseph) operator,
which equals MedRecon's to 1.2e-5, on analytic line integrals of the modified Shepp-Logan phantom, 128^2.

Usage (Debian's /usr/bin/python3, needs python3-astra-toolbox):
  ct_cgls_study.py cgls      -> PSNR per iteration (noiseless and 0.5 % noise; numpy noise, not MedRecon's generator)
  ct_cgls_study.py ceiling   -> projection of the ground truth onto range(A^T): CGLS on A.gt, up to 1000 iterations
  ct_cgls_study.py damped    -> CG on (A^T A + lam I) and (A^T A + lam D^T D), lam relative to ||A||^2 (slow)
PSNR: data range max(gt) - min(gt); printed as whole image / reconstruction circle (radius N/2 - 1, both masked).
"""
import sys

import numpy as np
import astra

N = 128
SHEPP_LOGAN = [(1.0, 0.69, 0.92, 0, 0, 0), (-0.8, 0.6624, 0.8740, 0, -0.0184, 0), (-0.2, 0.11, 0.31, 0.22, 0, -18),
               (-0.2, 0.16, 0.41, -0.22, 0, 18), (0.1, 0.21, 0.25, 0, 0.35, 0), (0.1, 0.046, 0.046, 0, 0.1, 0),
               (0.1, 0.046, 0.046, 0, -0.1, 0), (0.1, 0.046, 0.023, -0.08, -0.605, 0), (0.1, 0.023, 0.023, 0, -0.606, 0),
               (0.1, 0.023, 0.046, 0.06, -0.605, 0)]


def line_integrals(theta, t):
    """Chord lengths x intensity along x cos(theta) + y sin(theta) = t, normalised [-1, 1]^2 coordinates."""
    s = np.zeros_like(t)
    for val, a, b, x0, y0, phi in SHEPP_LOGAN:
        phi = np.deg2rad(phi)
        tt = t - (x0 * np.cos(theta) + y0 * np.sin(theta))
        a2 = a * a * np.cos(theta - phi) ** 2 + b * b * np.sin(theta - phi) ** 2
        d = a2 - tt * tt
        s += np.where(d > 0, val * 2 * a * b * np.sqrt(np.maximum(d, 0)) / a2, 0)
    return s


def sinogram(angles, detectors, sub=2):
    half = N / 2
    out = np.zeros((len(angles), detectors))
    for v, th in enumerate(angles):
        for q in range(sub):
            u = np.arange(detectors) - (detectors - 1) / 2 + (q + 0.5) / sub - 0.5
            out[v] += line_integrals(th, u / half)
    return out / sub * half


def rasterise(ss=4):
    c = (np.arange(N * ss) + 0.5) / ss
    x, y = np.meshgrid((c - N / 2) / (N / 2), -(c - N / 2) / (N / 2))
    img = np.zeros_like(x)
    for val, a, b, x0, y0, phi in SHEPP_LOGAN:
        phi = np.deg2rad(phi)
        u = (x - x0) * np.cos(phi) + (y - y0) * np.sin(phi)
        v = -(x - x0) * np.sin(phi) + (y - y0) * np.cos(phi)
        img += np.where(u * u / a / a + v * v / b / b <= 1, val, 0)
    return img.reshape(N, ss, N, ss).mean(axis=(1, 3))


GT = rasterise()
_c = np.arange(N) - (N - 1) / 2
CIRCLE = ((_c[None] ** 2 + _c[:, None] ** 2) <= (N / 2 - 1) ** 2).astype(float)


def psnr(x):
    x = x.reshape(N, N)
    r = GT.max() - GT.min()
    return tuple(round(10 * np.log10(r * r / np.mean((GT * m - x * m) ** 2)), 2) for m in (1.0, CIRCLE))


def operator(views):
    angles = np.linspace(0, np.pi, views, endpoint=False)
    detectors = int(np.ceil(N * np.sqrt(2))) + 1
    pg = astra.create_proj_geom("parallel", 1.0, detectors, angles)
    return astra.OpTomo(astra.create_projector("linear", pg, astra.create_vol_geom(N, N))), angles, detectors


def cgls(W, y, iterations, report):
    x = np.zeros(N * N)
    r = y.copy()
    s = W.T * r
    p = s.copy()
    g = s @ s
    for k in range(1, iterations + 1):
        q = W * p
        alpha = g / (q @ q)
        x += alpha * p
        r -= alpha * q
        s = W.T * r
        g_new = s @ s
        p = s + g_new / g * p
        g = g_new
        if k in report:
            print(f"  {k}: {psnr(x)}", flush=True)


def gradient_normal(x):
    """D^T D x for forward differences with Neumann boundary."""
    x = x.reshape(N, N)
    gx = np.zeros_like(x)
    gy = np.zeros_like(x)
    gx[:, :-1] = x[:, 1:] - x[:, :-1]
    gy[:-1] = x[1:] - x[:-1]
    d = np.zeros_like(x)
    d[:, :-1] -= gx[:, :-1]
    d[:, 1:] += gx[:, :-1]
    d[:-1] -= gy[:-1]
    d[1:] += gy[:-1]
    return d.ravel()


def main(mode):
    for views in (30, 60):
        rng = np.random.default_rng(42)
        W, angles, detectors = operator(views)
        clean = sinogram(angles, detectors)
        if mode == "ceiling":
            print(f"{views} views, CGLS on A.gt (consistent, noiseless)")
            cgls(W, W * GT.ravel(), 1000, {50, 100, 200, 300, 400, 700, 1000})
            continue
        for noise in (0.0, 0.005):
            y = (clean + noise * clean.max() * rng.standard_normal(clean.shape)).ravel()
            if mode == "cgls":
                print(f"{views} views, noise {noise}")
                cgls(W, y, 40, {4, 6, 8, 10, 12, 15, 20, 30, 40})
            elif mode == "damped":
                v = np.random.default_rng(0).standard_normal(N * N)
                for _ in range(30):
                    v = W.T * (W * v)
                    norm2 = np.linalg.norm(v)
                    v /= norm2
                b = W.T * y
                for kind in ("identity", "gradient"):
                    for lam in (1e-3, 3e-3, 1e-2, 3e-2):
                        reg = (lambda x: x) if kind == "identity" else gradient_normal
                        normal = lambda x, lam=lam, reg=reg: W.T * (W * x) + lam * norm2 * reg(x)
                        x = np.zeros(N * N)
                        r = b.copy()
                        p = r.copy()
                        rr = r @ r
                        out = []
                        for k in range(1, 31):
                            ap = normal(p)
                            alpha = rr / (p @ ap)
                            x += alpha * p
                            r -= alpha * ap
                            rr_new = r @ r
                            p = r + rr_new / rr * p
                            rr = rr_new
                            if k in (12, 30):
                                out.append((k, psnr(x)))
                        print(f"{views} views, noise {noise}, {kind} lambda {lam}: {out}", flush=True)


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in ("cgls", "ceiling", "damped"):
        sys.exit(__doc__)
    main(sys.argv[1])
