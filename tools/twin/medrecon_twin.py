"""PyTorch twin of MedRecon's prior network (src/MedRecon.Model/UNet.cs + ConsistencyFunction.cs).

Same modules, same parameter names, same arithmetic, so a safetensors file written by either side loads into the
other; tests/MedRecon.Tests/TwinTests.cs checks that both give the same outputs on the same weights. It exists so
the prior can be trained on a CUDA machine (TorchSharp's CUDA natives are not available there) with
tools/twin/train_twin.py. Only the standard library, numpy and torch are needed; safetensors I/O is done here.
"""
import json
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

METADATA_KEY = "medrecon"


# --- architecture ---------------------------------------------------------------------------------------------------

def default_config():
    return {"inChannels": 1, "outChannels": 1, "widths": [32, 64, 128], "resBlocksPerLevel": 2, "embeddingDim": 0,
            "maxGroups": 32}


def group_norm(channels, max_groups):
    """Largest divisor of channels not above min(max_groups, channels/4), as Groups.Make in UNet.cs."""
    g = max(1, min(max_groups, channels // 4))
    while channels % g != 0:
        g -= 1
    return nn.GroupNorm(g, channels)


class ResBlock(nn.Module):
    def __init__(self, cin, cout, emb_dim, max_groups):
        super().__init__()
        self.norm1 = group_norm(cin, max_groups)
        self.conv1 = nn.Conv2d(cin, cout, 3, 1, 1)
        self.emb = nn.Linear(emb_dim, cout)
        self.norm2 = group_norm(cout, max_groups)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1)
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)
        self.skip = nn.Conv2d(cin, cout, 1, 1, 0) if cin != cout else None

    def forward(self, x, e):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.emb(e)[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        s = x if self.skip is None else self.skip(x)
        return s + h


def sinusoidal_embedding(c_noise, dim):
    half = dim // 2
    freqs = torch.exp(torch.arange(half, dtype=torch.float32, device=c_noise.device) * (-math.log(10000.0) / half))
    args = c_noise.float()[:, None] * freqs[None, :]
    e = torch.cat([torch.cos(args), torch.sin(args)], 1)
    if dim % 2 == 1:
        e = F.pad(e, (0, 1))
    return e


class UNet(nn.Module):
    def __init__(self, config=None):
        super().__init__()
        c = dict(default_config(), **(config or {}))
        self.config = c
        w, L, R, G = c["widths"], len(c["widths"]), c["resBlocksPerLevel"], c["maxGroups"]
        E = c["embeddingDim"] if c["embeddingDim"] > 0 else 4 * w[0]
        self.input = nn.Conv2d(c["inChannels"], w[0], 3, 1, 1)
        self.embed1 = nn.Linear(w[0], E)
        self.embed2 = nn.Linear(E, E)
        self.down, self.downsample = nn.ModuleList(), nn.ModuleList()
        skip_channels, ch = [w[0]], w[0]
        for level in range(L):
            for _ in range(R):
                self.down.append(ResBlock(ch, w[level], E, G))
                ch = w[level]
                skip_channels.append(ch)
            if level < L - 1:
                self.downsample.append(nn.Conv2d(ch, ch, 3, 2, 1))
                skip_channels.append(ch)
        self.middle = nn.ModuleList([ResBlock(ch, ch, E, G), ResBlock(ch, ch, E, G)])
        self.up, self.upsample = nn.ModuleList(), nn.ModuleList()
        for level in range(L - 1, -1, -1):
            for _ in range(R + 1):
                s = skip_channels.pop()
                self.up.append(ResBlock(ch + s, w[level], E, G))
                ch = w[level]
            if level > 0:
                self.upsample.append(nn.Conv2d(ch, ch, 3, 1, 1))
        self.outNorm = group_norm(ch, G)
        self.output = nn.Conv2d(ch, c["outChannels"], 3, 1, 1)
        nn.init.zeros_(self.output.weight)
        nn.init.zeros_(self.output.bias)

    @property
    def size_multiple(self):
        return 1 << (len(self.config["widths"]) - 1)

    def forward(self, x, c_noise):
        H, W = x.shape[2], x.shape[3]
        m = self.size_multiple
        pad_h, pad_w = (m - H % m) % m, (m - W % m) % m
        if pad_h or pad_w:
            mode = "reflect" if pad_h < H and pad_w < W else "replicate"
            x = F.pad(x, (0, pad_w, 0, pad_h), mode=mode)
        e = sinusoidal_embedding(c_noise, self.config["widths"][0]).to(x.dtype)
        e = self.embed2(F.silu(self.embed1(e)))
        se = F.silu(e)
        h = self.input(x)
        skips = [h]
        bi = 0
        L, R = len(self.config["widths"]), self.config["resBlocksPerLevel"]
        for level in range(L):
            for _ in range(R):
                h = self.down[bi](h, se)
                bi += 1
                skips.append(h)
            if level < L - 1:
                h = self.downsample[level](h)
                skips.append(h)
        for blk in self.middle:
            h = blk(h, se)
        ui = usi = 0
        for level in range(L - 1, -1, -1):
            for _ in range(R + 1):
                h = self.up[ui](torch.cat([h, skips.pop()], 1), se)
                ui += 1
            if level > 0:
                h = F.interpolate(h, scale_factor=2.0, mode="nearest")
                h = self.upsample[usi](h)
                usi += 1
        h = self.output(F.silu(self.outNorm(h)))
        if pad_h or pad_w:
            h = h[:, :, :H, :W]
        return h


def default_noise():
    return {"sigmaMin": 0.002, "sigmaMax": 80.0, "sigmaData": 0.5, "rho": 7.0}


class ConsistencyFunction(nn.Module):
    """f(x, σ) = c_skip x + c_out F(c_in x, 250 ln σ) with the σ_min-shifted EDM coefficients; f(x, σ_min) = x."""

    def __init__(self, network, noise=None):
        super().__init__()
        self.network = network
        self.noise = dict(default_noise(), **(noise or {}))

    def forward(self, x, sigma):
        """x [B, C, H, W]; sigma a float or a [B] tensor."""
        sd, smin = self.noise["sigmaData"], self.noise["sigmaMin"]
        if not torch.is_tensor(sigma):
            if sigma == smin:
                return x
            sigma = torch.full((x.shape[0],), float(sigma), dtype=torch.float32, device=x.device)
        s = sigma.float().reshape(-1, 1, 1, 1)
        d = s - smin
        skip = sd * sd / (d * d + sd * sd)
        cout = sd * d / (s * s + sd * sd).sqrt()
        cin = 1.0 / (s * s + sd * sd).sqrt()
        f = skip * x + cout * self.network(cin * x, 250.0 * torch.log(sigma.float().reshape(-1)))
        return torch.where(s <= smin, x, f)


# --- safetensors (8-byte little-endian header length, JSON header, raw little-endian data) -------------------------

_DTYPES = {"F32": (torch.float32, 4), "F16": (torch.float16, 2), "BF16": (torch.bfloat16, 2), "F64": (torch.float64, 8)}


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n).decode("utf-8"))
        data = f.read()
    meta = header.pop("__metadata__", {}) or {}
    tensors = {}
    for name, info in header.items():
        dtype, _ = _DTYPES[info["dtype"]]
        a, b = info["data_offsets"]
        buf = bytearray(data[a:b])
        t = torch.frombuffer(buf, dtype=dtype) if b > a else torch.empty(0, dtype=dtype)
        tensors[name] = t.reshape(info["shape"]).clone()
    return tensors, meta


def write_safetensors(path, tensors, metadata, half=False):
    """float32, or float16 with half=True (half the bytes; MedRecon casts to float32 when it loads them)."""
    header, chunks, offset = {"__metadata__": metadata}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().to("cpu", torch.float32).contiguous()
        raw = t.numpy().astype("<f2" if half else "<f4").tobytes()
        header[name] = {"dtype": "F16" if half else "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    hb = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hb += b" " * ((8 - len(hb) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        for c in chunks:
            f.write(c)
    os.replace(tmp, path)


def load_model(path, device="cpu"):
    """(ConsistencyFunction, medrecon metadata dict) from a MedRecon weights file; strict about names and shapes."""
    tensors, meta = read_safetensors(path)
    if METADATA_KEY not in meta:
        raise ValueError(f"{path}: no '{METADATA_KEY}' metadata: not a MedRecon model file")
    info = json.loads(meta[METADATA_KEY])
    net = UNet(info["architecture"])
    own = net.state_dict()
    missing = sorted(set(own) - set(tensors))
    extra = sorted(set(tensors) - set(own))
    if missing or extra:
        raise ValueError(f"{path}: weights do not fit the architecture in its metadata (missing {missing[:3]}, extra {extra[:3]})")
    for k, v in own.items():
        if tuple(tensors[k].shape) != tuple(v.shape):
            raise ValueError(f"{path}: '{k}' has shape {list(tensors[k].shape)}, the network needs {list(v.shape)}")
    net.load_state_dict({k: t.float() for k, t in tensors.items()})
    net.to(device).eval()
    return ConsistencyFunction(net, info.get("noise")), info


def save_model(function, info, path, half=False):
    """Writes the network's weights with the MedRecon metadata (what ModelIO.Save writes); half=True stores float16,
    so a network of up to ~10 M parameters fits the 20 MB a shipped model may take."""
    meta = {METADATA_KEY: json.dumps(info, separators=(",", ":")), "format": "pt"}
    write_safetensors(path, function.network.state_dict(), meta, half)


# --- command line: forward pass and re-save for the equivalence tests --------------------------------------------------------------

def _main(argv):
    if len(argv) in (3, 4) and argv[0] == "resave" and argv[3:] in ([], ["--half"]):
        f, info = load_model(argv[1])
        save_model(f, info, argv[2], half=argv[3:] == ["--half"])
        return 0
    if len(argv) != 5 or argv[0] != "forward":
        print("usage: medrecon_twin.py forward MODEL.safetensors INPUT.npy SIGMA OUTPUT.npy\n"
              "       medrecon_twin.py resave MODEL.safetensors COPY.safetensors [--half]", file=sys.stderr)
        return 2
    _, model, inp, sigma, out = argv
    torch.set_num_threads(1)
    f, _ = load_model(model)
    x = torch.from_numpy(np.load(inp).astype(np.float32))
    while x.dim() < 4:
        x = x.unsqueeze(0)
    with torch.no_grad():
        y = f(x, float(sigma))
    np.save(out, y.numpy().astype(np.float32))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
