using MedRecon.Phantoms;
using TorchSharp;
using static TorchSharp.torch;

namespace MedRecon.Tests.Phantoms;

public class RandomPhantomTests
{
    [Fact]
    public void SameSeedGivesIdenticalPhantom()
    {
        using var scope = NewDisposeScope();
        var a = EllipsePhantom.Random(1234);
        var b = EllipsePhantom.Random(1234);
        Assert.Equal(a.Ellipses, b.Ellipses);
        Assert.Equal(0f, (a.Rasterize(64) - b.Rasterize(64)).abs().max().item<float>());
        Assert.Equal(EllipsePhantom.Random(7, 5).Ellipses, EllipsePhantom.Random(7, 5).Ellipses);
    }

    [Fact]
    public void DifferentSeedsGiveDifferentPhantoms()
    {
        using var scope = NewDisposeScope();
        var a = EllipsePhantom.Random(1).Rasterize(64);
        var b = EllipsePhantom.Random(2).Rasterize(64);
        Assert.True((a - b).abs().max().item<float>() > 0.05f);
        Assert.NotEqual(EllipsePhantom.Random(1).Ellipses, EllipsePhantom.Random(2).Ellipses);
    }

    [Fact]
    public void ValuesStayInUnitRangeWithStructure()
    {
        using var scope = NewDisposeScope();
        for (int seed = 0; seed < 40; seed++)
        {
            using var inner = NewDisposeScope();
            var p = EllipsePhantom.Random(seed);
            var img = p.Rasterize(128, 2);
            float min = img.min().item<float>(), max = img.max().item<float>();
            Assert.True(min >= -0.02f && max <= 1.02f, $"seed {seed}: range [{min}, {max}]");
            Assert.True(img.std().item<float>() > 0.05f, $"seed {seed}: flat image");
            Assert.Equal(0f, img[0, 0].item<float>()); // corners are background
            foreach (var e in p.Ellipses)
            {
                var (hx, hy) = (Math.Max(e.A, e.B), Math.Max(e.A, e.B));
                Assert.True(Math.Abs(e.X0) + hx < 1.0 && Math.Abs(e.Y0) + hy < 1.0, $"seed {seed}: {e} leaves the field of view");
            }
        }
    }

    [Fact]
    public void EllipseCountIsRespectedAndContrastsHaveBothSigns()
    {
        int positives = 0, negatives = 0;
        for (int seed = 0; seed < 20; seed++)
        {
            var p = EllipsePhantom.Random(seed, 6);
            int body = p.Ellipses.Count - 6;
            Assert.InRange(body, 1, 2);
            foreach (var e in p.Ellipses.Skip(body)) { if (e.Intensity > 0) positives++; else negatives++; }
        }
        Assert.True(positives > 10 && negatives > 10, $"{positives} positive, {negatives} negative");
        var d = EllipsePhantom.Random(3);
        Assert.InRange(d.Ellipses.Count, 1 + EllipsePhantom.DefaultMinInnerEllipses, 2 + EllipsePhantom.DefaultMaxInnerEllipses);
        Assert.Equal("random-3", d.Name);
        Assert.Single(EllipsePhantom.Random(3, 0).Ellipses.Where(e => e.Intensity > 0 && e.A > 0.5).Take(1));
    }
}
