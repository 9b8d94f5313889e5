using MedRecon.Core.IO;
using MedRecon.Phantoms;
using MedRecon.Tests.Infrastructure;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace MedRecon.Tests.Phantoms;

public class SheppLoganTests(ITestOutputHelper output)
{
    [Fact]
    public void EmbeddedTableIsTheModifiedSheppLoganAndMatchesRepositoryFile()
    {
        var sl = EllipsePhantom.SheppLogan();
        Assert.Equal(10, sl.Ellipses.Count);
        Assert.Equal(new Ellipse(1.0, 0.69, 0.92, 0, 0, 0), sl.Ellipses[0]);
        Assert.Equal(new Ellipse(-0.8, 0.6624, 0.874, 0, -0.0184, 0), sl.Ellipses[1]);
        Assert.Equal(new Ellipse(-0.2, 0.11, 0.31, 0.22, 0, -18), sl.Ellipses[2]);
        var fromFile = EllipsePhantom.FromCsv(Path.Combine(ExternalTools.RepositoryRoot, "phantoms", "shepp-logan-modified.csv"));
        Assert.Equal(sl.Ellipses, fromFile.Ellipses);
    }

    [Theory]
    [InlineData(0.0, 0.0, 0.2)]     // brain
    [InlineData(0.0, 0.9, 1.0)]     // skull (top)
    [InlineData(0.0, -0.9, 1.0)]    // skull (bottom, between the two outer ellipses)
    [InlineData(0.22, 0.0, 0.0)]    // right ventricle
    [InlineData(-0.22, 0.0, 0.0)]   // left ventricle
    [InlineData(0.0, 0.35, 0.3)]    // large ellipse above the centre
    [InlineData(0.0, 0.12, 0.4)]    // small disc inside the large ellipse
    [InlineData(0.95, 0.95, 0.0)]   // outside
    public void RegionValuesAreToftsContrast(double x, double y, double expected) =>
        Assert.Equal(expected, EllipsePhantom.SheppLogan().ValueAt(x, y), 12);

    [Fact]
    public void RasterHasExpectedRegionValuesAndRange()
    {
        using var scope = NewDisposeScope();
        var img = EllipsePhantom.SheppLogan().Rasterize(256);
        Assert.Equal(new long[] { 256, 256 }, img.shape);
        Assert.Equal(ScalarType.Float32, img.dtype);
        Assert.InRange(img.min().item<float>(), -1e-6f, 1e-6f);
        Assert.InRange(img.max().item<float>(), 1 - 1e-6f, 1 + 1e-6f);
        // Pixel centres per the convention: row r ↔ y = −(r − 127.5)/128, col c ↔ x = (c − 127.5)/128.
        Assert.Equal(0.2f, img[128, 128].item<float>(), 5);       // brain, just below/right of the centre
        Assert.Equal(1.0f, img[12, 128].item<float>(), 5);        // skull at y ≈ 0.902
        Assert.Equal(0.0f, img[128, 128 + 28].item<float>(), 5);  // right ventricle (x ≈ 0.223)
        Assert.Equal(0.3f, img[128 - 45, 128].item<float>(), 5);  // y ≈ 0.35
        Assert.Equal(0.0f, img[2, 2].item<float>(), 5);
    }

    [SkippableFact]
    public void AgreesWithScikitImageSheppLogan()
    {
        ExternalTools.RequirePython("numpy", "skimage");
        using var dir = new TempDir();
        using var scope = NewDisposeScope();
        Npy.Write(dir["ours.npy"], EllipsePhantom.SheppLogan().Rasterize(400, 4));
        var text = ExternalTools.RunPython($@"
import numpy as np
from skimage.data import shepp_logan_phantom
p = shepp_logan_phantom(); o = np.load('{dir["ours.npy"]}')
assert p.shape == o.shape, (p.shape, o.shape)
d = np.abs(p - o)
print(d.mean(), (d < 0.05).mean())
");
        var parts = text.Trim().Split(' ');
        double mad = double.Parse(parts[0], System.Globalization.CultureInfo.InvariantCulture);
        double within = double.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture);
        output.WriteLine($"scikit-image shepp_logan_phantom() vs Rasterize(400): mean |diff| {mad:F4}, fraction within 0.05: {within:P2}");
        // scikit-image's 400² image is hard-edged and puts pixel centres at ±1 (MATLAB style, a 400/399 scale
        // difference from our convention), so edges differ by up to half a pixel; regions agree exactly.
        Assert.True(mad < 0.01, $"mean |diff| {mad}");
        Assert.True(within > 0.98, $"fraction within 0.05: {within}");
    }

    [Fact]
    public void PixelCentreConventionSquareAndRectangular()
    {
        using var scope = NewDisposeScope();
        // N = 8: pixel (row 2, col 5) is centred at x = (5 − 3.5)·0.25 = 0.375, y = −(2 − 3.5)·0.25 = 0.375.
        var p = new EllipsePhantom("dot", new[] { new Ellipse(1, 0.05, 0.05, 0.375, 0.375, 0) });
        var img = p.Rasterize(8, supersample: 1);
        Assert.Equal(1f, img.sum().item<float>());
        Assert.Equal(1f, img[2, 5].item<float>());
        // ny = 6, nx = 10: pixel (row 1, col 7) at x = (7 − 4.5)·0.2 = 0.5, y = −(1 − 2.5)·(1/3) = 0.5.
        var q = new EllipsePhantom("dot", new[] { new Ellipse(2, 0.05, 0.05, 0.5, 0.5, 0) });
        var rect = q.Rasterize(6, 10, 1);
        Assert.Equal(new long[] { 6, 10 }, rect.shape);
        Assert.Equal(2f, rect.sum().item<float>());
        Assert.Equal(2f, rect[1, 7].item<float>());
        Assert.Equal(0f, (q.Rasterize((6, 10), 1) - rect).abs().max().item<float>());
        // Rasterize(64, 48) would mean size 64 with supersample 48: rejected with a pointer to the rectangular overloads.
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => q.Rasterize(64, 48));
        Assert.Contains("rectangular", ex.Message);
        var (x, y) = EllipsePhantom.PixelCentres(6, 10);
        Assert.Equal(0.5, x[0, 7].item<double>(), 12);
        Assert.Equal(0.5, y[1, 0].item<double>(), 12);
    }

    [Fact]
    public void RotationIsCounterClockwiseWithYUp()
    {
        // A thin ellipse along x rotated by +45° covers the upper-right and lower-left quadrants.
        var p = new EllipsePhantom("bar", new[] { new Ellipse(1, 0.8, 0.05, 0, 0, 45) });
        using var scope = NewDisposeScope();
        var img = p.Rasterize(32, 1);
        Assert.True(img[8, 23].item<float>() > 0);   // x = y ≈ 0.47
        Assert.Equal(0f, img[8, 8].item<float>());   // x ≈ −0.47, y ≈ 0.47
        Assert.True(img[23, 8].item<float>() > 0);   // x = y ≈ −0.47
    }

    [Fact]
    public void SupersamplingAntialiasesAndPreservesArea()
    {
        using var scope = NewDisposeScope();
        var p = new EllipsePhantom("disc", new[] { new Ellipse(1, 0.5, 0.3, 0.1, -0.05, 30) });
        var img = p.Rasterize(64, 8).to(ScalarType.Float64);
        double area = img.sum().item<double>() * (2.0 / 64) * (2.0 / 64);
        double exact = Math.PI * 0.5 * 0.3;
        output.WriteLine($"area from raster {area:F6}, exact {exact:F6}");
        Assert.True(Math.Abs(area - exact) / exact < 2e-3, $"area {area} vs {exact}");
        var fractional = ((img > 0.01).logical_and(img < 0.99)).sum().item<long>();
        Assert.True(fractional > 20, "edge pixels should take intermediate values");
        var hard = p.Rasterize(64, 1);
        Assert.Equal(0, ((hard > 0.01).logical_and(hard < 0.99)).sum().item<long>());
    }

    [Fact]
    public void CsvRoundTripAndErrors()
    {
        using var dir = new TempDir();
        var r = EllipsePhantom.Random(5);
        r.SaveCsv(dir["r.csv"]);
        Assert.Equal(r.Ellipses, EllipsePhantom.FromCsv(dir["r.csv"]).Ellipses);

        File.WriteAllText(dir["bad.csv"], "# comment\nintensity,a,b,x0,y0,theta_degrees\n1,0.5,0.5,0,0\n");
        var ex = Assert.Throws<InvalidInputFileException>(() => EllipsePhantom.FromCsv(dir["bad.csv"]));
        Assert.Contains("line 3", ex.Message);
        File.WriteAllText(dir["neg.csv"], "1,0.5,-0.5,0,0,0\n");
        Assert.Throws<InvalidInputFileException>(() => EllipsePhantom.FromCsv(dir["neg.csv"]));
        File.WriteAllText(dir["nan.csv"], "1,0.5,0.5,x,0,0\n");
        Assert.Throws<InvalidInputFileException>(() => EllipsePhantom.FromCsv(dir["nan.csv"]));
        File.WriteAllText(dir["empty.csv"], "# nothing\n");
        Assert.Throws<InvalidInputFileException>(() => EllipsePhantom.FromCsv(dir["empty.csv"]));
        Assert.Throws<InvalidInputFileException>(() => EllipsePhantom.FromCsv(dir["missing.csv"]));
    }
}
