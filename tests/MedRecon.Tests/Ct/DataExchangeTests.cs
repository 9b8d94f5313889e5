using MedRecon.Core.IO;
using MedRecon.Operators.Ct;
using MedRecon.Solvers.Ct;
using MedRecon.Tests.Infrastructure;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace MedRecon.Tests.Ct;

/// <summary>Real synchrotron projections (shared/data/projections/tooth-synchrotron.h5); skipped without shared/.</summary>
public class DataExchangeTests(ITestOutputHelper output)
{
    static string? ToothPath()
    {
        var data = ExternalTools.SharedData;
        var p = data is null ? null : Path.Combine(data, "projections", "tooth-synchrotron.h5");
        return p is not null && File.Exists(p) ? p : null;
    }

    /// <summary>Flat fields of a detector with a known dose: readings g·Poisson(I0·profile) + dark + read noise over 10
    /// frames, a beam profile of ±10 % and five dead columns. The estimate recovers I0 (the median column's counts)
    /// within 8 %, for another gain too; fewer than 2 flat frames give none.</summary>
    [Fact]
    public void FlatFieldCountsRecoverTheDose()
    {
        using var scope = NewDisposeScope();
        const int frames = 10, rows = 2, columns = 400;
        foreach (var (i0, gain) in new[] { (5000.0, 1.7), (40000.0, 0.6) })
        {
            var g = new torch.Generator(11);
            var profile = torch.linspace(0.9, 1.1, columns, dtype: ScalarType.Float64);
            var rate = (profile * i0).expand(frames, rows, columns).contiguous();
            var white = torch.poisson(rate, g) * gain + 100 + torch.randn(new long[] { frames, rows, columns }, dtype: ScalarType.Float64, generator: g) * 3;
            var dark = torch.randn(new long[] { frames, rows, columns }, dtype: ScalarType.Float64, generator: g) * 3 + 100;
            white[TensorIndex.Colon, TensorIndex.Colon, TensorIndex.Slice(0, 5)] = dark[TensorIndex.Colon, TensorIndex.Colon, TensorIndex.Slice(0, 5)];
            var data = torch.ones(3, rows, columns);
            var scan = new DataExchangeScan("synthetic", data, white.to(ScalarType.Float32), dark.to(ScalarType.Float32), new[] { 0.0, 1.0, 2.0 }, "radians");
            double? estimate = DataExchange.EstimateFlatFieldCounts(scan, row: 1);
            output.WriteLine($"I0 {i0}, gain {gain}: estimated {estimate:G4}");
            Assert.NotNull(estimate);
            Assert.InRange(estimate!.Value, 0.92 * i0, 1.08 * i0);
            var one = scan with { White = scan.White![TensorIndex.Slice(0, 1)] };
            Assert.Null(DataExchange.EstimateFlatFieldCounts(one));
            Assert.Null(DataExchange.EstimateFlatFieldCounts(scan with { White = null }));
        }
    }

    [SkippableFact]
    public void SharedData_ToothReadsCorrectsAndReconstructs()
    {
        var path = ToothPath();
        Skip.If(path is null, "shared/data/projections/tooth-synchrotron.h5 not present");
        var scan = DataExchange.Read(path!);
        Assert.Equal(181, scan.Projections);
        Assert.Equal(640, scan.Columns);
        Assert.Equal("degrees", scan.ThetaUnits);
        Assert.InRange(scan.ThetaRadians[^1], 3.1, 3.13);
        var sino = DataExchange.Sinogram(scan, 0);
        Assert.True(sino.isfinite().all().item<bool>());
        double centre = DataExchange.FindRotationCentre(sino, scan.ThetaRadians);
        output.WriteLine($"rotation centre: {centre:F2} (detector middle {(scan.Columns - 1) / 2.0})");
        Assert.InRange(centre, 200, 440);

        // A sharper image at the found centre than 8 columns off: total variation of FBP as the sharpness proxy
        // is lower (fewer doubled edges) at the right centre.
        double Tv(double c)
        {
            var g = CtGeometry.ParallelBeam(640, 640) with { DetectorOffset = -(c - 319.5) };
            var rec = FilteredBackProjection.Reconstruct(sino, g, scan.ThetaRadians);
            return (rec.diff(dim: 0).abs().sum() + rec.diff(dim: 1).abs().sum()).item<float>();
        }
        double atFound = Tv(centre), off = Tv(centre + 8);
        output.WriteLine($"TV of FBP: at centre {atFound:G4}, centre+8 {off:G4}");
        Assert.True(atFound < off);

        if (Environment.GetEnvironmentVariable("MEDRECON_WRITE_DOCS") == "1")
        {
            var g = CtGeometry.ParallelBeam(640, 640) with { DetectorOffset = -(centre - 319.5) };
            var rec = FilteredBackProjection.Reconstruct(sino, g, scan.ThetaRadians, FbpFilter.SheppLogan);
            var dir = Path.Combine(ExternalTools.RepositoryRoot, "docs", "images");
            Directory.CreateDirectory(dir);
            var sorted = rec.flatten().sort().Values;
            long count = sorted.shape[0];
            var lo = sorted[(long)(0.01 * count)].item<float>();
            var hi = sorted[(long)(0.999 * count)].item<float>();
            Png.Write(Path.Combine(dir, "tooth-fbp.png"), rec, lo, hi);
        }
    }

    [Fact]
    public void RotationCentreOfShiftedSimulatedSinogramIsFound()
    {
        // A disc off the rotation axis, detector shifted by 3.5 columns: the centre must come back at 63 + 3.5.
        int n = 96;
        var ys = torch.arange(n, ScalarType.Float32).sub((n - 1) / 2.0);
        var img = (((ys.unsqueeze(1) - 10).square() + (ys.unsqueeze(0) + 20).square()) < 100).to(ScalarType.Float32);
        var angles = Enumerable.Range(0, 181).Select(i => i * Math.PI / 180).ToArray(); // 0..180° inclusive
        var g = CtGeometry.ParallelBeam(n, 127) with { DetectorOffset = -3.5 };
        var sino = new ParallelBeamProjector(g, angles).Forward(img);
        double c = DataExchange.FindRotationCentre(sino, angles);
        Assert.InRange(c, 63 + 3.5 - 0.3, 63 + 3.5 + 0.3);
    }
}
