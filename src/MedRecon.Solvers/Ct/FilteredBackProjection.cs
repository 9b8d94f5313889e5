using MedRecon.Operators.Ct;
using TorchSharp;
using static TorchSharp.torch;

namespace MedRecon.Solvers.Ct;

/// <summary>Apodisation window applied to the ramp filter (names as in scikit-image's <c>iradon</c>).</summary>
public enum FbpFilter { Ramp, SheppLogan, Cosine, Hann }

/// <summary>
/// Filtered back-projection for parallel and fan beams (flat and equiangular detectors).
/// Filtering: the band-limited ramp built in the spatial domain (Ramachandran–Lakshminarayanan kernel, so the DC
/// term is right), zero-padded to ≥ 2·detectors (a power of two), applied by real FFT in TorchSharp, times the
/// chosen window. Back-projection: pixel-driven with linear interpolation on the detector (not the Joseph adjoint,
/// whose uneven footprint would leave moiré). Each view is weighted by its share of the angular range, so uneven or
/// limited angle sets are handled; 360° parallel data count each line twice and get half weight.
/// Fan beam: data are re-scaled to a virtual flat detector through the rotation centre, cosine pre-weighted, and
/// weighted for redundancy: ½ for a full 360° scan, Parker weights for a short scan (≥ 180° + fan angle);
/// equiangular data are first re-sampled onto a flat detector. Scaling: for a sinogram of line integrals in
/// "value × length" units the result is in "value" units (the phantom's values), with lengths in the geometry's unit.
/// </summary>
public static class FilteredBackProjection
{
    public static FbpFilter ParseFilter(string name) => name.Trim().ToLowerInvariant().Replace("_", "-") switch
    {
        "ramp" or "ram-lak" => FbpFilter.Ramp,
        "shepp-logan" or "shepplogan" => FbpFilter.SheppLogan,
        "cosine" => FbpFilter.Cosine,
        "hann" or "hanning" => FbpFilter.Hann,
        _ => throw new ArgumentException($"unknown FBP filter '{name}' (ramp, shepp-logan, cosine, hann)"),
    };

    /// <summary>Reconstructs an (N, N) float32 image from a (views, detectors) sinogram.</summary>
    public static Tensor Reconstruct(Tensor sinogram, CtGeometry geometry, double[] angles, FbpFilter filter = FbpFilter.Ramp)
    {
        geometry.Validate();
        if (sinogram.dim() != 2 || sinogram.shape[0] != angles.Length || sinogram.shape[1] != geometry.Detectors)
            throw new ArgumentException($"sinogram shape ({string.Join(", ", sinogram.shape)}) does not match {angles.Length} views × {geometry.Detectors} detectors");
        using var scope = NewDisposeScope();
        var device = sinogram.device;
        var sino = sinogram.detach().to(ScalarType.Float32).cpu();
        var dTheta = AngularWeights(angles, geometry.Beam == CtBeam.Parallel);
        Tensor result;
        if (geometry.Beam == CtBeam.Parallel)
        {
            var q = Filter(sino, filter, geometry.DetectorSpacing);
            result = BackProjectParallel(q, geometry, angles, dTheta);
        }
        else
        {
            var g = geometry;
            if (g.Beam == CtBeam.FanEquiangular) (sino, g) = RebinToFlat(sino, g);
            double rs = g.SourceDistance, sdd = g.SourceDistance + g.DetectorDistance;
            int d = g.Detectors;
            // Virtual detector through the rotation centre.
            var uVirt = new double[d];
            for (int j = 0; j < d; j++) uVirt[j] = g.DetectorPosition(j) * rs / sdd;
            var cosW = torch.tensor(uVirt.Select(u => (float)(rs / Math.Sqrt(rs * rs + u * u))).ToArray());
            var red = RedundancyWeights(angles, uVirt, rs);
            var weighted = sino * cosW.unsqueeze(0) * red;
            var q = Filter(weighted, filter, g.DetectorSpacing * rs / sdd);
            result = BackProjectFan(q, g, angles, dTheta);
        }
        return result.to(device).MoveToOuterDisposeScope();
    }

    /// <summary>Each view's share of the angular range (radians): half the gap to each neighbour in sorted order.</summary>
    internal static double[] AngularWeights(double[] angles, bool parallel)
    {
        int v = angles.Length;
        var order = Enumerable.Range(0, v).OrderBy(i => angles[i]).ToArray();
        var w = new double[v];
        if (v == 1) { w[0] = Math.PI; return w; }
        var gaps = new double[v - 1];
        for (int i = 0; i < v - 1; i++) gaps[i] = angles[order[i + 1]] - angles[order[i]];
        double typical = gaps.OrderBy(x => x).ElementAt(gaps.Length / 2);
        double span = angles[order[v - 1]] - angles[order[0]] + typical;
        for (int i = 0; i < v; i++)
        {
            double left = i > 0 ? gaps[i - 1] : typical, right = i < v - 1 ? gaps[i] : typical;
            // Gaps far larger than usual (limited angle) do not earn the neighbouring views extra weight.
            left = Math.Min(left, 2 * typical); right = Math.Min(right, 2 * typical);
            w[order[i]] = 0.5 * (left + right);
        }
        // Parallel beam: lines at θ and θ+π are the same line; a 360° scan measures each twice.
        if (parallel && span > Math.PI * 1.01) { double f = Math.PI / Math.Min(span, 2 * Math.PI); for (int i = 0; i < v; i++) w[i] *= f; }
        return w;
    }

    /// <summary>Frequency response (length <paramref name="padded"/>, FFT order) of the windowed ramp, per unit sample spacing.</summary>
    public static float[] FilterResponse(int padded, FbpFilter filter)
    {
        // Spatial-domain ramp: h[0] = 1/4, h[n odd] = −1/(πn)², h[n even ≠ 0] = 0 (circular indices).
        var h = new double[padded];
        h[0] = 0.25;
        for (int n = 1; n < padded; n++)
        {
            int m = Math.Min(n, padded - n);
            if (m % 2 == 1) h[n] = -1.0 / (Math.PI * Math.PI * m * m);
        }
        var resp = new float[padded];
        // The kernel is real and even, so its DFT is the cosine sum (only odd n contribute besides n = 0).
        var re = new double[padded];
        Parallel.For(0, padded / 2 + 1, k =>
        {
            double acc = h[0];
            for (int n = 1; n < padded; n += 2) acc += h[n] * Math.Cos(2 * Math.PI * ((long)k * n % padded) / padded);
            re[k] = acc;
            re[(padded - k) % padded] = acc;
        });
        for (int k = 0; k < padded; k++)
        {
            double u = (k < (padded + 1) / 2 ? k : k - padded) / (double)padded; // cycles per sample, |u| ≤ ½
            double win = filter switch
            {
                FbpFilter.SheppLogan => u == 0 ? 1.0 : Math.Sin(Math.PI * u) / (Math.PI * u),
                FbpFilter.Cosine => Math.Cos(Math.PI * u),
                FbpFilter.Hann => 0.5 * (1 + Math.Cos(2 * Math.PI * u)),
                _ => 1.0,
            };
            resp[k] = (float)(2.0 * re[k] * win);
        }
        return resp;
    }

    /// <summary>Ramp-filters each row of a (views, detectors) sinogram; result in units of value / length.</summary>
    public static Tensor Filter(Tensor sino, FbpFilter filter, double detectorSpacing)
    {
        using var scope = NewDisposeScope();
        int d = (int)sino.shape[1];
        int padded = 64;
        while (padded < 2 * d) padded *= 2;
        var resp = torch.tensor(FilterResponse(padded, filter));
        var half = resp.narrow(0, 0, padded / 2 + 1);
        var spec = torch.fft.rfft(sino, n: padded, dim: 1);
        var q = torch.fft.irfft(spec * half.unsqueeze(0), n: padded, dim: 1).narrow(1, 0, d);
        // The factor 2 in the response and ½ here: ∫|ν| over both signs of frequency, as in the continuous formula.
        return q.mul(0.5 / detectorSpacing).contiguous().MoveToOuterDisposeScope();
    }

    static Tensor BackProjectParallel(Tensor q, CtGeometry g, double[] angles, double[] dTheta)
    {
        var qa = q.contiguous().data<float>().ToArray();
        int n = g.ImageSize, d = g.Detectors, views = angles.Length;
        var img = new float[n * n];
        double h = (n - 1) / 2.0, c0 = (d - 1) / 2.0;
        var cs = angles.Select(Math.Cos).ToArray();
        var sn = angles.Select(Math.Sin).ToArray();
        double scale = g.PixelSize / g.DetectorSpacing;
        Parallel.For(0, n, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, torch.get_num_threads()) }, row =>
        {
            double y = h - row;
            var acc = new double[n];
            for (int v = 0; v < views; v++)
            {
                double cv = cs[v] * scale, sv = sn[v] * scale, wv = dTheta[v];
                double start = y * sv - h * cv + c0 - g.DetectorOffset / g.DetectorSpacing;
                int off = v * d;
                for (int col = 0; col < n; col++)
                {
                    acc[col] += wv * SampleDetector(qa, off, d, start + col * cv);
                }
            }
            for (int col = 0; col < n; col++) img[row * n + col] = (float)acc[col];
        });
        return torch.tensor(img, new long[] { n, n });
    }

    /// <summary>Linear interpolation of one filtered view (detectors off..off+d−1) at fractional bin u; 0 outside.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    static double SampleDetector(float[] q, int off, int d, double u)
    {
        double fl = Math.Floor(u);
        int i0 = (int)fl;
        if (i0 < -1 || i0 >= d) return 0;
        double f = u - fl;
        double val = 0;
        if (i0 >= 0) val += (1 - f) * q[off + i0];
        if (i0 + 1 < d) val += f * q[off + i0 + 1];
        return val;
    }

    static Tensor BackProjectFan(Tensor q, CtGeometry g, double[] angles, double[] dBeta)
    {
        var qa = q.contiguous().data<float>().ToArray();
        int n = g.ImageSize, d = g.Detectors, views = angles.Length;
        var img = new float[n * n];
        double h = (n - 1) / 2.0, c0 = (d - 1) / 2.0, p = g.PixelSize;
        double rs = g.SourceDistance, sdd = g.SourceDistance + g.DetectorDistance;
        var cs = angles.Select(Math.Cos).ToArray();
        var sn = angles.Select(Math.Sin).ToArray();
        Parallel.For(0, n, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, torch.get_num_threads()) }, row =>
        {
            double y = (h - row) * p;
            var acc = new double[n];
            for (int v = 0; v < views; v++)
            {
                double c = cs[v], s = sn[v], wv = dBeta[v];
                int off = v * d;
                for (int col = 0; col < n; col++)
                {
                    double x = (col - h) * p;
                    // Source at rs·(s, −c); L = distance from the source along the central ray; e = (c, s).
                    double l = rs - (x * s - y * c);
                    double lateral = x * c + y * s;
                    double uDet = lateral * sdd / l; // position on the real detector
                    double u = (uDet - g.DetectorOffset) / g.DetectorSpacing + c0;
                    acc[col] += wv * SampleDetector(qa, off, d, u) * rs * rs / (l * l);
                }
            }
            for (int col = 0; col < n; col++) img[row * n + col] = (float)acc[col];
        });
        return torch.tensor(img, new long[] { n, n });
    }

    /// <summary>Fan-beam redundancy weights (views, detectors): ½ for a full scan, Parker weights for a short scan.</summary>
    internal static Tensor RedundancyWeights(double[] angles, double[] uVirt, double rs)
    {
        int views = angles.Length, d = uVirt.Length;
        var w = new float[views * d];
        double min = angles.Min(), max = angles.Max();
        var sorted = angles.OrderBy(x => x).ToArray();
        double step = views > 1 ? (max - min) / (views - 1) : Math.PI;
        double range = max - min + step;
        if (range >= 2 * Math.PI - 1e-6 || views == 1)
        {
            Array.Fill(w, 0.5f);
            return torch.tensor(w, new long[] { views, d });
        }
        double gmax = uVirt.Max(u => Math.Abs(Math.Atan(u / rs)));
        double big = Math.Max((range - step - Math.PI) / 2, 1e-6); // Parker's Γ from the scanned range
        for (int v = 0; v < views; v++)
        {
            double beta = angles[v] - min;
            for (int j = 0; j < d; j++)
            {
                double gamma = -Math.Atan(uVirt[j] / rs);
                double wt;
                if (Math.Abs(gamma) > big) wt = beta < Math.PI ? 1.0 : 0.0; // outside the covered fan: fall back
                else if (beta < 2 * (big - gamma)) { double t = Math.Sin(Math.PI / 4 * beta / (big - gamma)); wt = t * t; }
                else if (beta <= Math.PI - 2 * gamma) wt = 1.0;
                else if (beta <= Math.PI + 2 * big) { double t = Math.Sin(Math.PI / 4 * (Math.PI + 2 * big - beta) / (big + gamma)); wt = t * t; }
                else wt = 0.0;
                w[v * d + j] = (float)wt;
            }
        }
        _ = gmax; _ = sorted;
        return torch.tensor(w, new long[] { views, d });
    }

    /// <summary>Re-samples an equiangular fan sinogram onto a flat detector covering the same fan (linear interpolation).</summary>
    internal static (Tensor Sino, CtGeometry Flat) RebinToFlat(Tensor sino, CtGeometry g)
    {
        int d = g.Detectors, views = (int)sino.shape[0];
        double sdd = g.SourceDistance + g.DetectorDistance;
        double gMin = g.DetectorPosition(0) / sdd, gMax = g.DetectorPosition(d - 1) / sdd;
        double uMin = sdd * Math.Tan(gMin), uMax = sdd * Math.Tan(gMax);
        var flat = g with { Beam = CtBeam.FanFlat, DetectorSpacing = (uMax - uMin) / (d - 1), DetectorOffset = (uMax + uMin) / 2 };
        var src = sino.contiguous().data<float>().ToArray();
        var dst = new float[src.Length];
        for (int j = 0; j < d; j++)
        {
            double gamma = Math.Atan(flat.DetectorPosition(j) / sdd);
            double idx = (gamma * sdd - g.DetectorOffset) / g.DetectorSpacing + (d - 1) / 2.0;
            int i0 = (int)Math.Floor(idx);
            double f = idx - i0;
            for (int v = 0; v < views; v++)
            {
                double val = 0;
                if (i0 >= 0 && i0 < d) val += (1 - f) * src[v * d + i0];
                if (i0 + 1 >= 0 && i0 + 1 < d) val += f * src[v * d + i0 + 1];
                dst[v * d + j] = (float)val;
            }
        }
        return (torch.tensor(dst, new long[] { views, d }), flat);
    }
}
