using System.Globalization;
using MedRecon.Core;
using MedRecon.Core.IO;
using MedRecon.Tests.Infrastructure;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace MedRecon.Tests.Core;

public class MetricsTests
{
    readonly ITestOutputHelper output;
    public MetricsTests(ITestOutputHelper output) => this.output = output;

    /// <summary>Relative tolerance against scikit-image / numpy (the brief asks for 1e-4 or better).</summary>
    const double RelTol = 1e-6;

    // scikit-image reference: the same calls users make; 3-D stacks use the volume's data range for every slice.
    const string ReferenceScript = """
import sys, os, numpy as np
from skimage.metrics import peak_signal_noise_ratio as psnr, structural_similarity as ssim
d = sys.argv[1] if len(sys.argv) > 1 else '.'
for name in sys.argv[2:]:
    r = np.load(os.path.join(d, name + '_ref.npy')); t = np.load(os.path.join(d, name + '_test.npy'))
    if np.iscomplexobj(r): r = np.abs(r)
    if np.iscomplexobj(t): t = np.abs(t)
    r = r.astype(np.float64); t = t.astype(np.float64)
    R = r.max() - r.min()
    p = psnr(r, t, data_range=R)
    kw = dict(data_range=R, gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
    s = ssim(r, t, **kw) if r.ndim == 2 else float(np.mean([ssim(r[i], t[i], **kw) for i in range(r.shape[0])]))
    n = np.sum((r - t) ** 2) / np.sum(r ** 2)
    print(name, repr(float(p)), repr(float(s)), repr(float(n)))
""";

    static Tensor Structured(long rows, long cols, double shift)
    {
        var yy = torch.arange(rows, dtype: ScalarType.Float64).unsqueeze(1).expand(rows, cols);
        var xx = torch.arange(cols, dtype: ScalarType.Float64).unsqueeze(0).expand(rows, cols);
        var disc = ((yy - rows / 2.0).square() + (xx - cols / 2.0 - shift).square() < (rows / 4.0) * (rows / 4.0)).to(ScalarType.Float64);
        return 0.3 * torch.sin(xx * 0.21 + shift) * torch.cos(yy * 0.13) + disc + 0.002 * xx * yy;
    }

    static Dictionary<string, (Tensor Ref, Tensor Test)> Cases()
    {
        var g = new torch.Generator(20261125);
        var cases = new Dictionary<string, (Tensor, Tensor)>();
        var r1 = torch.rand(new long[] { 64, 48 }, dtype: ScalarType.Float64, generator: g);
        cases["random"] = (r1, r1 + 0.1 * torch.randn(r1.shape, dtype: ScalarType.Float64, generator: g));
        var r2 = Structured(40, 57, 0);
        cases["structured"] = (r2, Structured(40, 57, 1.5) + 0.05 * torch.randn(r2.shape, dtype: ScalarType.Float64, generator: g));
        // Offset and scale far from [0, 1] to exercise the data range.
        var r3 = 800 + 300 * Structured(33, 33, 0);
        cases["offset"] = (r3, r3 + 20 * torch.randn(r3.shape, dtype: ScalarType.Float64, generator: g));
        var r4 = torch.complex(torch.randn(new long[] { 32, 40 }, generator: g), torch.randn(new long[] { 32, 40 }, generator: g));
        cases["complex"] = (r4, r4 + torch.complex(0.3f * torch.randn(r4.shape, generator: g), 0.3f * torch.randn(r4.shape, generator: g)));
        var r5 = torch.rand(new long[] { 24, 24 }, generator: g);   // float32 input, complex test
        cases["float32-vs-complex"] = (r5, torch.complex(r5 + 0.05f * torch.randn(r5.shape, generator: g), 0.05f * torch.randn(r5.shape, generator: g)));
        var r6 = torch.stack(new[] { Structured(30, 36, 0), 2 * Structured(30, 36, 0.7), 0.5 * Structured(30, 36, 1.4) });
        cases["stack"] = (r6, r6 + 0.1 * torch.randn(r6.shape, dtype: ScalarType.Float64, generator: g));
        var r7 = torch.rand(new long[] { 11, 11 }, dtype: ScalarType.Float64, generator: g);   // the smallest legal size
        cases["11x11"] = (r7, r7 * 0.9 + 0.05);
        return cases;
    }

    [SkippableFact]
    public void MatchesScikitImageAndNumpy()
    {
        ExternalTools.RequirePython("numpy", "skimage");
        using var scope = NewDisposeScope();
        using var dir = new TempDir();
        var cases = Cases();
        foreach (var (name, (r, t)) in cases)
        {
            Npy.Write(dir[name + "_ref.npy"], r);
            Npy.Write(dir[name + "_test.npy"], t);
        }
        string script = dir["ref.py"];
        File.WriteAllText(script, ReferenceScript);
        var (code, stdout, stderr) = ExternalTools.Run(ExternalTools.DebianPython, new[] { script, dir.Path }.Concat(cases.Keys));
        Assert.True(code == 0, stderr);

        double worstP = 0, worstS = 0, worstN = 0;
        foreach (var line in stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var f = line.Split(' ');
            var (r, t) = cases[f[0]];
            double p = double.Parse(f[1], CultureInfo.InvariantCulture);
            double s = double.Parse(f[2], CultureInfo.InvariantCulture);
            double n = double.Parse(f[3], CultureInfo.InvariantCulture);
            var m = Metrics.Compute(r, t);
            double dp = Math.Abs(m.Psnr - p) / Math.Abs(p), ds = Math.Abs(m.Ssim - s), dn = Math.Abs(m.Nmse - n) / n;
            output.WriteLine($"{f[0],-20} PSNR {m.Psnr:F6} (skimage {p:F6}, rel {dp:E1})  SSIM {m.Ssim:F8} (skimage {s:F8}, abs {ds:E1})  NMSE {m.Nmse:E6} (numpy rel {dn:E1})");
            Assert.True(dp < RelTol, $"{f[0]}: PSNR {m.Psnr} vs skimage {p}");
            Assert.True(ds < RelTol, $"{f[0]}: SSIM {m.Ssim} vs skimage {s}");
            Assert.True(dn < RelTol, $"{f[0]}: NMSE {m.Nmse} vs numpy {n}");
            worstP = Math.Max(worstP, dp); worstS = Math.Max(worstS, ds); worstN = Math.Max(worstN, dn);
        }
        Assert.Equal(cases.Count, stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
        output.WriteLine($"worst: PSNR rel {worstP:E2}, SSIM abs {worstS:E2}, NMSE rel {worstN:E2}");
    }

    [Fact]
    public void IdenticalImagesGivePerfectScores()
    {
        using var scope = NewDisposeScope();
        var x = Structured(20, 30, 0);
        var m = Metrics.Compute(x, x.clone());
        Assert.Equal(double.PositiveInfinity, m.Psnr);
        Assert.Equal(1.0, m.Ssim, 12);
        Assert.Equal(0.0, m.Nmse);
    }

    [Fact]
    public void PsnrAndNmseFollowTheirDefinitions()
    {
        using var scope = NewDisposeScope();
        // ref in [0, 2] (R = 2), test = ref + 0.1 everywhere: MSE = 0.01, PSNR = 10 log10(4 / 0.01).
        var r = torch.linspace(0, 2, 200, dtype: ScalarType.Float64).reshape(10, 20);
        var t = r + 0.1;
        Assert.Equal(10 * Math.Log10(400), Metrics.Psnr(r, t), 9);
        Assert.Equal(0.01 * 200 / r.square().sum().item<double>(), Metrics.Nmse(r, t), 12);
        // Complex: magnitude first, so a pure phase change costs nothing.
        var c = torch.polar(r + 1, torch.zeros_like(r));
        var c2 = torch.polar(r + 1, torch.full_like(r, 1.0));
        Assert.True(Metrics.Nmse(c, c2) < 1e-12);
    }

    [Fact]
    public void StackSsimIsTheMeanOfSliceSsimsWithTheVolumeRange()
    {
        using var scope = NewDisposeScope();
        var g = new torch.Generator(4);
        var r = torch.rand(new long[] { 3, 16, 16 }, dtype: ScalarType.Float64, generator: g);
        r[1] *= 3;
        var t = r + 0.1 * torch.randn(r.shape, dtype: ScalarType.Float64, generator: g);
        var per = Metrics.SsimPerSlice(r, t);
        Assert.Equal(3, per.Length);
        Assert.Equal(per.Average(), Metrics.Ssim(r, t), 12);
        // Per-slice SSIM with the slice's own range differs for slice 0, whose range is smaller than the volume's.
        Assert.NotEqual(Metrics.Ssim(r[0], t[0]), per[0], 6);
    }

    [Fact]
    public void InvalidInputsThrowClearErrors()
    {
        using var scope = NewDisposeScope();
        var a = torch.rand(16, 16);
        Assert.Contains("(16, 17)", Assert.Throws<ArgumentException>(() => Metrics.Psnr(a, torch.rand(16, 17))).Message);
        Assert.Contains("constant", Assert.Throws<ArgumentException>(() => Metrics.Ssim(torch.ones(16, 16), a)).Message);
        Assert.Contains("constant", Assert.Throws<ArgumentException>(() => Metrics.Psnr(torch.ones(16, 16), a)).Message);
        Assert.Contains("11", Assert.Throws<ArgumentException>(() => Metrics.Ssim(torch.rand(10, 30), torch.rand(10, 30))).Message);
        Assert.Throws<ArgumentException>(() => Metrics.Nmse(torch.rand(16), torch.rand(16)));
        Assert.Throws<ArgumentException>(() => Metrics.Nmse(torch.zeros(16, 16), a));
    }

    /// <summary>An error drawn as std·z (z standard normal) is what a calibrated spread predicts: |error| ≤ 2·std at
    /// 95.4 % of the pixels, RMS(error)/RMS(std) 1, and the correlation and top-10 % share the moments of |z| give.
    /// With the std shuffled against the error the ranking is random (10 %). Checked against plain loops too.</summary>
    [Fact]
    public void UncertaintyMeasuresHowTheStdPredictsTheError()
    {
        using var scope = NewDisposeScope();
        var g = new torch.Generator(11);
        var reference = torch.rand(new long[] { 256, 256 }, dtype: ScalarType.Float64, generator: g);
        var std = 0.1 + 0.9 * torch.rand(new long[] { 256, 256 }, dtype: ScalarType.Float64, generator: g); // uniform on [0.1, 1]
        var mean = reference + std * torch.randn(new long[] { 256, 256 }, dtype: ScalarType.Float64, generator: g);
        var u = Metrics.Uncertainty(reference, mean, std);
        Assert.InRange(u.Coverage2Std, 0.9545 - 0.005, 0.9545 + 0.005);
        Assert.InRange(u.ErrorToStdRatio, 0.99, 1.01);
        // corr(s|z|, s) = E|z|·var(s) / sqrt(var(s|z|)·var(s)) = 0.4925 for s uniform on [0.1, 1].
        Assert.InRange(u.Correlation!.Value, 0.4925 - 0.01, 0.4925 + 0.01);
        Assert.InRange(u.ErrorShareTop10, 0.15, u.ErrorShareTop10Oracle);

        // Independent plain-loop computation of the same numbers.
        var e = (reference - mean).abs().flatten().data<double>().ToArray();
        var s = std.flatten().data<double>().ToArray();
        int n = e.Length;
        double me = e.Average(), ms = s.Average(), cov = 0, ve = 0, vs = 0;
        for (int i = 0; i < n; i++) { cov += (e[i] - me) * (s[i] - ms); ve += (e[i] - me) * (e[i] - me); vs += (s[i] - ms) * (s[i] - ms); }
        Assert.Equal(cov / Math.Sqrt(ve * vs), u.Correlation!.Value, 10);
        Assert.Equal(e.Zip(s).Count(p => p.First <= 2 * p.Second) / (double)n, u.Coverage2Std, 12);
        Assert.Equal(Math.Sqrt(e.Sum(x => x * x) / s.Sum(x => x * x)), u.ErrorToStdRatio, 10);
        double total = e.Sum(x => x * x);
        var byStd = Enumerable.Range(0, n).OrderByDescending(i => s[i]).Take(n / 10).Sum(i => e[i] * e[i]) / total;
        var oracle = e.Select(x => x * x).OrderByDescending(x => x).Take(n / 10).Sum() / total;
        Assert.Equal(byStd, u.ErrorShareTop10, 10);
        Assert.Equal(oracle, u.ErrorShareTop10Oracle, 10);

        // The std shuffled against the error: no correlation, a random ranking's share.
        var shuffled = std.flatten()[torch.randperm(std.numel(), generator: g)].reshape(256, 256);
        var r = Metrics.Uncertainty(reference, mean, shuffled);
        Assert.InRange(r.Correlation!.Value, -0.02, 0.02);
        Assert.InRange(r.ErrorShareTop10, 0.08, 0.12);
        Assert.InRange(r.Coverage2Std, 0.80, 0.92); // a miscalibrated spread covers less

        // Clear errors: no spread, a negative spread, no error, mismatched shapes.
        Assert.Contains("zero everywhere", Assert.Throws<ArgumentException>(() => Metrics.Uncertainty(reference, mean, torch.zeros_like(std))).Message);
        Assert.Contains("negative", Assert.Throws<ArgumentException>(() => Metrics.Uncertainty(reference, mean, -std)).Message);
        Assert.Contains("no error", Assert.Throws<ArgumentException>(() => Metrics.Uncertainty(reference, reference, std)).Message);
        Assert.Contains("(256, 255)", Assert.Throws<ArgumentException>(() => Metrics.Uncertainty(reference, mean, std[.., ..255])).Message);
    }
}
