"""Trains a MedRecon prior with the PyTorch twin, on a CUDA machine when there is one (CPU works, slowly).

The recipe is the C# trainer's (src/MedRecon.Model/Training/Trainer.cs): EDM denoiser stage (λ(σ) = 1/c_out², lognormal
σ), then easy consistency tuning (ECT: pseudo-Huber between f(x + t z, t) and stop-grad f(x + r z, r), weight 1/(t − r),
Δt halving over the curriculum), Adam with warm-up and gradient clipping, EMA weights. Differences, because the budget
here is wall-clock time on a fast GPU: the stages are split by time, not step count; batches are larger; CT patches
are also drawn from 2x average-pooled slices, because 512² scanner slices are reconstructed at 256² as well.

Input: the folder or npz written from `medrecon train --export-data` (normalised training slices, held-out slices
excluded, and the phantom pool). Output: NAME-denoiser.safetensors (EMA at the end of the denoiser stage, the
diffusion baseline) and, when --denoiser-fraction is below 1, NAME.safetensors (EMA after consistency tuning), both
loadable by MedRecon (float16 with --half), plus NAME-log.json. A fresh run takes its architecture from --widths, else
from the manifest; a run with --init from the file.
"""
import argparse
import json
import math
import os
import time

import numpy as np
import torch

import medrecon_twin as twin


def load_images(npz_path, manifest_path, device):
    """Real slices (a list of [N, H, W] float32 tensors on the device, one per volume), their sampling weights
    (the manifest volume's optional "weight", default 1), and the phantoms."""
    z = np.load(npz_path)
    manifest = json.load(open(manifest_path))
    real, weights = [], []
    keys = [k for k in z.files if k.startswith("slices")]
    for key in sorted(keys, key=lambda k: int(k[len("slices"):].split("_")[0])):
        index = int(key[len("slices"):].split("_")[0])
        volumes = manifest.get("volumes", [])
        weights.append(float(volumes[index].get("weight", 1.0)) if index < len(volumes) else 1.0)
        a = z[key]
        if key.endswith("_hu"):  # CT stored as integer HU: the fixed map of Normalization.CtFromHu
            a = (a.astype(np.float32) + 1024.0) * (2.0 / 4095.0) - 1.0
        real.append(torch.from_numpy(a.astype(np.float32)).to(device))
    phantoms = torch.from_numpy(z["phantoms"].astype(np.float32)).to(device) if "phantoms" in z.files else None
    return real, weights, phantoms, manifest


class PatchSampler:
    """Random patches with rot90, flips and intensity jitter, drawn on the device from a seeded generator.
    A volume is drawn in proportion to its slice count times its weight (a large added volume must not drown
    the scanner data the prior is meant for)."""

    def __init__(self, real, real_weights, phantoms, phantom_fraction, patch, jitter, pool_scales, seed, device):
        self.sources = []  # (stack [N, H, W], weight)
        real_sets, set_weights = list(real), list(real_weights)
        if pool_scales:
            real_sets += [torch.nn.functional.avg_pool2d(r[:, None], 2)[:, 0] for r in real]
            set_weights += list(real_weights)
        mass = [w * r.shape[0] for r, w in zip(real_sets, set_weights)]
        for r, m in zip(real_sets, mass):
            self.sources.append((r, (1 - phantom_fraction) * m / max(1e-12, sum(mass))))
        if phantoms is not None and phantom_fraction > 0:
            self.sources.append((phantoms, phantom_fraction))
        total = sum(w for _, w in self.sources)
        self.weights = torch.tensor([w / total for _, w in self.sources])
        self.patch, self.jitter, self.device = patch, jitter, device
        self.gen = torch.Generator().manual_seed(seed)

    def _crop(self, stack, n):
        P = self.patch
        N, H, W = stack.shape
        if H < P or W < P:
            stack = torch.nn.functional.pad(stack[:, None], (0, max(0, P - W), 0, max(0, P - H)), value=-1.0)[:, 0]
            N, H, W = stack.shape
        # Two candidates per patch; keep ones with structure (range > 0.05) first, as the C# trainer prefers.
        m = 2 * n
        idx = torch.randint(N, (m,), generator=self.gen)
        r0 = torch.randint(H - P + 1, (m,), generator=self.gen)
        c0 = torch.randint(W - P + 1, (m,), generator=self.gen)
        ar = torch.arange(P)
        rows = (r0[:, None] + ar[None, :]).to(self.device)
        cols = (c0[:, None] + ar[None, :]).to(self.device)
        p = stack[idx.to(self.device)[:, None, None], rows[:, :, None], cols[:, None, :]]
        rng = p.flatten(1).max(1).values - p.flatten(1).min(1).values
        order = torch.argsort((rng <= 0.05).int(), stable=True)
        return p[order[:n]]

    def batch(self, batch_size):
        counts = torch.multinomial(self.weights, batch_size, replacement=True, generator=self.gen).bincount(
            minlength=len(self.sources))
        parts = [self._crop(s, int(c)) for (s, _), c in zip(self.sources, counts) if c > 0]
        x = torch.cat(parts)
        x = x[torch.randperm(x.shape[0], generator=self.gen).to(self.device)]
        B = x.shape[0]
        k = torch.randint(4, (B,), generator=self.gen)
        out = torch.empty_like(x)
        for r in range(4):
            sel = (k == r).nonzero().flatten().to(self.device)
            if sel.numel():
                out[sel] = torch.rot90(x[sel], r, dims=(1, 2))
        flip = (torch.rand(B, generator=self.gen) < 0.5).to(self.device)
        out = torch.where(flip[:, None, None], out.flip(-1), out)
        a = (1 + self.jitter * (2 * torch.rand(B, generator=self.gen) - 1)).to(self.device)
        out = (out + 1.0) * a[:, None, None] - 1.0
        return out[:, None].contiguous()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="npz of training slices (slicesK or slicesK_hu) and phantoms")
    ap.add_argument("--manifest", required=True, help="manifest.json from medrecon train --export-data")
    ap.add_argument("--init", help="MedRecon weights to start from (architecture taken from the file)")
    ap.add_argument("--widths", help="fresh run only: channel widths per level, e.g. 32,64,128,128 (one level more "
                    "halves the resolution once more); default: the manifest's architecture, else 32,64,128")
    ap.add_argument("--half", action="store_true", help="write the weights as float16 (half the bytes: a device call "
                    "returns files of at most 16 MiB, and a shipped model must stay under 20 MB)")
    ap.add_argument("--out", required=True, help="output NAME.safetensors (NAME-denoiser.safetensors beside it)")
    ap.add_argument("--minutes", type=float, required=True, help="wall-clock budget of both stages")
    ap.add_argument("--denoiser-fraction", type=float, default=0.6)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--patch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--cm-lr", type=float, default=1e-4)
    ap.add_argument("--ema", type=float, default=0.9995)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--stages", type=int, default=6, help="ECT curriculum stages")
    ap.add_argument("--pool-scales", action="store_true", help="also draw patches from 2x average-pooled slices")
    ap.add_argument("--save-every", type=float, default=60.0, help="seconds between EMA saves")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--max-steps", type=int, default=0, help="stop after this many steps (tests)")
    args = ap.parse_args()
    widths = None
    if args.widths is not None:
        if args.init:
            ap.error("--widths sets the architecture of a fresh run; with --init it comes from the file")
        try:
            widths = [int(w) for w in args.widths.split(",")]
        except ValueError:
            ap.error(f"--widths {args.widths}: comma-separated integers, e.g. 32,64,128,128")
        if not (1 <= len(widths) <= 6) or any(w < 4 or w > 1024 for w in widths):
            ap.error(f"--widths {args.widths}: 1 to 6 levels of 4 to 1024 channels")

    dev = torch.device(args.device)
    torch.manual_seed(args.seed)
    if dev.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True

    real, real_weights, phantoms, manifest = load_images(args.data, args.manifest, dev)
    modality = manifest["modality"]
    if args.init:
        f, info = twin.load_model(args.init, dev)
        start_steps = int(info.get("steps", 0))
    else:
        arch = dict(manifest.get("architecture") or twin.default_config())
        if widths is not None:
            arch["widths"] = widths
        f = twin.ConsistencyFunction(twin.UNet(arch), manifest.get("noise")).to(dev)
        info = {"architecture": f.network.config, "noise": f.noise, "modality": modality,
                "normalisation": manifest["normalisation"], "stage": "denoiser", "steps": 0, "weights": "ema"}
        start_steps = 0
    f.network.train()
    ema = twin.ConsistencyFunction(twin.UNet(f.network.config), f.noise).to(dev)
    ema.network.load_state_dict(f.network.state_dict())
    ema.network.eval()
    for p in ema.parameters():
        p.requires_grad_(False)

    sampler = PatchSampler(real, real_weights, phantoms, manifest.get("phantomFraction", 0.0), args.patch,
                           manifest.get("intensityJitter", 0.1), args.pool_scales, args.seed, dev)
    opt = torch.optim.Adam(f.network.parameters(), lr=args.lr, betas=(0.9, 0.999), eps=1e-8)
    noise = f.noise
    smin, sd, smax = noise["sigmaMin"], noise["sigmaData"], noise["sigmaMax"]
    c_huber = 0.00054 * math.sqrt(args.patch * args.patch * f.network.config["inChannels"])
    base = os.path.splitext(args.out)[0]
    log_path = base + "-log.json"
    log = {"args": vars(args), "modality": modality, "init": args.init, "initSteps": start_steps,
           "device": torch.cuda.get_device_name(0) if dev.type == "cuda" else "cpu", "torch": torch.__version__,
           "points": []}

    def save(path, stage, step):
        meta = dict(info, stage=stage, steps=start_steps + step, weights="ema")
        twin.save_model(ema, meta, path, half=args.half)

    budget = args.minutes * 60.0
    t0 = time.time()
    last_save, step, denoiser_done = t0, 0, False
    loss_sum, loss_n = 0.0, 0
    cm_start_step, cm_start_time = None, None
    print(f"{modality}: {sum(r.shape[0] for r in real)} real slices, phantoms "
          f"{0 if phantoms is None else phantoms.shape[0]}, batch {args.batch}x{args.patch}^2, device {log['device']}",
          flush=True)
    while True:
        elapsed = time.time() - t0
        if elapsed >= budget or (args.max_steps and step >= args.max_steps):
            break
        # With --max-steps (tests, dry runs) the stages split the steps in half, unless there is no consistency stage.
        denoiser = elapsed < args.denoiser_fraction * budget and not (
            args.max_steps and args.denoiser_fraction < 1 and step >= args.max_steps // 2)
        if not denoiser and not denoiser_done:
            save(base + "-denoiser.safetensors", "denoiser", step)
            denoiser_done = True
            cm_start_step, cm_start_time = step, time.time()
            for g in opt.param_groups:
                g["lr"] = args.cm_lr
            print(f"{modality}: denoiser stage done at step {step} ({elapsed:.0f} s); consistency tuning", flush=True)
        x0 = sampler.batch(args.batch)
        B = x0.shape[0]
        z = torch.randn_like(x0)
        if denoiser:
            sigma = torch.exp(torch.randn(B, device=dev) * 1.2 - 1.2).clamp(2 * smin, smax)
            s4 = sigma.reshape(-1, 1, 1, 1)
            out = f(x0 + z * s4, sigma)
            d = s4 - smin
            weight = (s4 * s4 + sd * sd) / (sd * sd * d * d)
            loss = (weight * (out - x0).square()).mean()
            for g in opt.param_groups:
                g["lr"] = args.lr * min(1.0, (step + 1) / max(1, args.warmup))
        else:
            frac = (time.time() - cm_start_time) / max(1e-9, budget - (cm_start_time - t0))
            stage = min(args.stages - 1, int(frac * args.stages))
            t = torch.exp(torch.randn(B, device=dev) * 2.0 - 1.1).clamp(2 * smin, smax)
            nt = 1.0 + 8.0 * torch.sigmoid(-t)
            r = (t - t * nt / (2.0 ** stage)).clamp_min(smin)
            ft = f(x0 + z * t.reshape(-1, 1, 1, 1), t)
            with torch.no_grad():
                fr = f(x0 + z * r.reshape(-1, 1, 1, 1), r)
            dist = (ft - fr).square().reshape(B, -1).sum(1)
            huber = (dist + c_huber * c_huber).sqrt() - c_huber
            loss = (huber / (t - r)).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(f.network.parameters(), 1.0)
        opt.step()
        step += 1
        with torch.no_grad():
            decay = min(args.ema, (1.0 + step) / (10.0 + step))
            for pe, p in zip(ema.network.parameters(), f.network.parameters()):
                pe.mul_(decay).add_(p.detach(), alpha=1 - decay)
        loss_sum += float(loss.detach()) if step % 50 == 0 else 0.0
        loss_n += 1 if step % 50 == 0 else 0
        if step % 200 == 0:
            el = time.time() - t0
            pt = {"step": step, "stage": "denoiser" if denoiser else "consistency", "loss": loss_sum / max(1, loss_n),
                  "seconds": round(el, 1), "patchesPerSecond": round(step * args.batch / el, 1)}
            log["points"].append(pt)
            print(json.dumps(pt), flush=True)
            loss_sum, loss_n = 0.0, 0
        if time.time() - last_save >= args.save_every:
            save(args.out if denoiser_done else base + "-denoiser.safetensors",
                 "consistency" if denoiser_done else "denoiser", step)
            last_save = time.time()
            json.dump(log, open(log_path, "w"), indent=1)
    written = args.out if denoiser_done else base + "-denoiser.safetensors"
    save(written, "consistency" if denoiser_done else "denoiser", step)
    log.update(steps=step, seconds=round(time.time() - t0, 1), consistencySteps=(step - cm_start_step) if cm_start_step is not None else 0)
    json.dump(log, open(log_path, "w"), indent=1)
    print(f"{modality}: {step} steps in {time.time() - t0:.0f} s -> {written}", flush=True)


if __name__ == "__main__":
    main()
