using MedRecon.Core;
using MedRecon.Operators.Mri;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace MedRecon.Tests.Operators;

public class SamplingMaskTests
{
    readonly ITestOutputHelper output;
    public SamplingMaskTests(ITestOutputHelper output) => this.output = output;

    static float[,] ToArray(Tensor m)
    {
        var data = m.contiguous().data<float>().ToArray();
        int ny = (int)m.shape[0], nx = (int)m.shape[1];
        var a = new float[ny, nx];
        for (int i = 0; i < data.Length; i++) a[i / nx, i % nx] = data[i];
        return a;
    }

    [Theory]
    [InlineData(MaskKind.Random)]
    [InlineData(MaskKind.Equispaced)]
    [InlineData(MaskKind.Poisson)]
    [InlineData(MaskKind.Radial)]
    public void MasksAreBinaryFloat32ReproducibleAndSeedDependent(MaskKind kind)
    {
        var a = SamplingMasks.Create(kind, 64, 80, 4, 0.08, 7);
        var b = SamplingMasks.Create(kind, 64, 80, 4, 0.08, 7);
        var c = SamplingMasks.Create(kind, 64, 80, 4, 0.08, 8);
        Assert.Equal(ScalarType.Float32, a.Mask.dtype);
        Assert.Equal(new long[] { 64, 80 }, a.Mask.shape);
        Assert.True(((a.Mask == 0) | (a.Mask == 1)).all().item<bool>(), "mask values must be 0 or 1");
        Assert.True((a.Mask == b.Mask).all().item<bool>(), "same seed must give the same mask");
        Assert.False((a.Mask == c.Mask).all().item<bool>(), "different seeds should give different masks");
        Assert.Equal(64.0 * 80 / a.Mask.sum().item<float>(), a.Acceleration, 10);
        Assert.Equal(kind, a.Kind);
        Assert.Equal(4, a.RequestedAcceleration);
    }

    [Theory]
    [InlineData(MaskKind.Random, 4, 0.08)]
    [InlineData(MaskKind.Random, 8, 0.04)]
    [InlineData(MaskKind.Equispaced, 4, 0.08)]
    [InlineData(MaskKind.Equispaced, 8, 0.04)]
    [InlineData(MaskKind.Poisson, 4, 0.08)]
    [InlineData(MaskKind.Poisson, 8, 0.06)]
    [InlineData(MaskKind.Radial, 4, 0.05)]
    [InlineData(MaskKind.Radial, 10, 0.0)]
    public void AccelerationIsCloseToTheRequest(MaskKind kind, double accel, double cf)
    {
        // Random masks meet the acceleration on average (fastMRI), so allow several standard deviations there.
        var accs = Enumerable.Range(0, 5).Select(seed => SamplingMasks.Create(kind, 128, 128, accel, cf, seed).Acceleration).ToList();
        output.WriteLine($"{kind} R={accel} cf={cf}: achieved {string.Join(", ", accs.Select(a => a.ToString("F3")))}");
        double tol = kind switch { MaskKind.Random => 0.25, MaskKind.Poisson => 0.05, _ => 0.05 };
        if (kind == MaskKind.Equispaced) // whole columns: within 2 of nx / R (rounding of the spacing and overlap with the centre)
            foreach (var a in accs) Assert.InRange(128 / a, 128 / accel - 2, 128 / accel + 2);
        else
            foreach (var a in accs) Assert.InRange(a, accel * (1 - tol), accel * (1 + tol));
        if (kind == MaskKind.Random)
            Assert.InRange(accs.Select(a => 1 / a).Average(), 1 / accel * 0.9, 1 / accel * 1.1);
    }

    [Theory]
    [InlineData(MaskKind.Random)]
    [InlineData(MaskKind.Equispaced)]
    public void OneDimensionalMasksHaveTheFastMriCentreAndAreConstantAlongKy(MaskKind kind)
    {
        foreach (int nx in new[] { 320, 368, 97 })
        {
            var m = SamplingMasks.Create(kind, 40, nx, 4, 0.08, 3);
            var a = ToArray(m.Mask);
            for (int y = 1; y < 40; y++)
                for (int x = 0; x < nx; x++)
                    Assert.Equal(a[0, x], a[y, x]);
            int numLow = (int)Math.Round(nx * 0.08, MidpointRounding.ToEven);
            int pad = (nx - numLow + 1) / 2;
            Assert.Equal((pad, numLow), SamplingMasks.CenterRange(nx, 0.08));
            for (int x = pad; x < pad + numLow; x++) Assert.Equal(1f, a[0, x]);
            Assert.True(pad <= nx / 2 && nx / 2 < pad + numLow, "the centre contains the DC column n/2");
        }
    }

    [Theory]
    [InlineData(MaskKind.Poisson)]
    [InlineData(MaskKind.Radial)]
    public void TwoDimensionalMasksHaveAFullCentreBlock(MaskKind kind)
    {
        var m = SamplingMasks.Create(kind, 96, 80, 5, 0.1, 2);
        var a = ToArray(m.Mask);
        var (y0, cy) = SamplingMasks.CenterRange(96, 0.1);
        var (x0, cx) = SamplingMasks.CenterRange(80, 0.1);
        for (int y = y0; y < y0 + cy; y++)
            for (int x = x0; x < x0 + cx; x++)
                Assert.Equal(1f, a[y, x]);
    }

    [Theory]
    [InlineData(MaskKind.Poisson, 320, 320, 8)]
    [InlineData(MaskKind.Radial, 320, 320, 8)]
    [InlineData(MaskKind.Poisson, 640, 368, 4)]
    public void ClinicalSizesAreQuick(MaskKind kind, int ny, int nx, double accel)
    {
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var m = SamplingMasks.Create(kind, ny, nx, accel, 0.04, 1);
        sw.Stop();
        output.WriteLine($"{kind} {ny}x{nx} R={accel}: acceleration {m.Acceleration:F3} in {sw.Elapsed.TotalSeconds:F2} s");
        Assert.InRange(m.Acceleration, accel * 0.95, accel * 1.05);
        Assert.True(sw.Elapsed.TotalSeconds < 60, "mask generation took more than a minute");
    }

    [Fact]
    public void BadParametersGiveClearErrors()
    {
        var e1 = Assert.Throws<ArgumentException>(() => SamplingMasks.Create(MaskKind.Random, 64, 64, 1.0, 0.08, 0));
        Assert.Contains("acceleration", e1.Message);
        Assert.Throws<ArgumentException>(() => SamplingMasks.Create(MaskKind.Random, 64, 64, 0.5, 0.08, 0));
        Assert.Throws<ArgumentException>(() => SamplingMasks.Create(MaskKind.Random, 64, 64, double.NaN, 0.08, 0));
        var e2 = Assert.Throws<ArgumentException>(() => SamplingMasks.Create(MaskKind.Equispaced, 64, 64, 4, 1.0, 0));
        Assert.Contains("centerFraction", e2.Message);
        Assert.Throws<ArgumentException>(() => SamplingMasks.Create(MaskKind.Poisson, 64, 64, 4, -0.1, 0));
        var e3 = Assert.Throws<ArgumentException>(() => SamplingMasks.Create(MaskKind.Radial, 2, 64, 4, 0.08, 0));
        Assert.Contains("too small", e3.Message);
        var e4 = Assert.Throws<ArgumentException>(() => SamplingMasks.Create(MaskKind.Random, 64, 64, 8, 0.3, 0));
        Assert.Contains("centre", e4.Message);
        Assert.Throws<ArgumentException>(() => SamplingMasks.Create(MaskKind.Poisson, 64, 64, 8, 0.5, 0));
        Assert.Throws<ArgumentException>(() => SamplingMasks.Create((MaskKind)42, 64, 64, 4, 0.08, 0));
    }
}
