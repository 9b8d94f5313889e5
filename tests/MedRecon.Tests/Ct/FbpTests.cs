using MedRecon.Operators.Ct;
using MedRecon.Phantoms;
using MedRecon.Solvers.Ct;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace MedRecon.Tests.Ct;

public class FbpTests(ITestOutputHelper output)
{
    static readonly IReadOnlyList<Ellipse> Sl = EllipseProjections.ModifiedSheppLogan;

    [Fact]
    public void ParallelFbpOfAnalyticSheppLoganMatchesPhantom()
    {
        int n = 128;
        var g = CtGeometry.ParallelBeam(n);
        var angles = CtAngles.Uniform(180);
        var sino = torch.tensor(Sl.ParallelProjection(angles, g.Detectors, 1.0, n), new long[] { 180, g.Detectors });
        var gt = CtTestData.Rasterize(Sl, n);
        foreach (var f in Enum.GetValues<FbpFilter>())
        {
            var rec = FilteredBackProjection.Reconstruct(sino, g, angles, f);
            double psnr = CtTestData.Psnr(gt, rec);
            output.WriteLine($"{f}: PSNR {psnr:F2} dB, rel {CtTestData.RelativeError(gt, rec):F4}, mean {rec.mean().item<float>():F4} vs {gt.mean().item<float>():F4}");
            Assert.True(psnr > 22, $"{f}: PSNR {psnr:F2}");
            Assert.InRange(rec.mean().item<float>() / gt.mean().item<float>(), 0.97, 1.03);
        }
    }

    [Theory]
    [InlineData(true, 360.0)]
    [InlineData(false, 360.0)]
    [InlineData(true, 0.0)]
    [InlineData(false, 0.0)]
    public void FanFbpOfAnalyticSheppLoganMatchesPhantom(bool flat, double arc)
    {
        int n = 128;
        var g = CtGeometry.FanBeam(n, flatDetector: flat);
        if (arc == 0) arc = 180 + 2 * g.HalfFanAngle * 180 / Math.PI + 2;
        int views = (int)Math.Round(arc);
        var angles = CtAngles.Uniform(views, arc);
        var sino = torch.tensor(Sl.FanProjection(angles, g.Detectors, g.DetectorSpacing, g.SourceDistance, g.DetectorDistance, n,
            equiangular: !flat), new long[] { views, g.Detectors });
        var gt = CtTestData.Rasterize(Sl, n);
        var rec = FilteredBackProjection.Reconstruct(sino, g, angles, FbpFilter.Ramp);
        double psnr = CtTestData.Psnr(gt, rec);
        output.WriteLine($"fan flat={flat} arc={arc:F1}: PSNR {psnr:F2} dB, mean {rec.mean().item<float>():F4} vs {gt.mean().item<float>():F4}");
        Assert.True(psnr > 22, $"PSNR {psnr:F2}");
    }

    [Fact]
    public void AnalyticProjectionAgreesWithJosephProjector()
    {
        int n = 128;
        var angles = CtAngles.Uniform(60);
        var gt = CtTestData.Rasterize(Sl, n, 8);
        var par = new ParallelBeamProjector(n, angles);
        var analytic = torch.tensor(Sl.ParallelProjection(angles, par.Detectors, 1.0, n), new long[] { 60, par.Detectors });
        double e1 = CtTestData.RelativeError(analytic, par.Forward(gt));
        var fg = CtGeometry.FanBeam(n);
        var fan = new FanBeamProjector(fg, angles);
        var fanAnalytic = torch.tensor(Sl.FanProjection(angles, fg.Detectors, fg.DetectorSpacing, fg.SourceDistance, fg.DetectorDistance, n),
            new long[] { 60, fg.Detectors });
        double e2 = CtTestData.RelativeError(fanAnalytic, fan.Forward(gt));
        var eg = CtGeometry.FanBeam(n, flatDetector: false);
        var eq = new FanBeamProjector(eg, angles);
        var eqAnalytic = torch.tensor(Sl.FanProjection(angles, eg.Detectors, eg.DetectorSpacing, eg.SourceDistance, eg.DetectorDistance, n, equiangular: true),
            new long[] { 60, eg.Detectors });
        double e3 = CtTestData.RelativeError(eqAnalytic, eq.Forward(gt));
        output.WriteLine($"relative error analytic vs Joseph: parallel {e1:E3}, fan flat {e2:E3}, fan equiangular {e3:E3}");
        Assert.True(e1 < 0.04 && e2 < 0.04 && e3 < 0.04, $"{e1} {e2} {e3}");
    }
}
