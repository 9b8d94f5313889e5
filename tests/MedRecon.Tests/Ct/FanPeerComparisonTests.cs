using MedRecon.Core.IO;
using MedRecon.Operators.Ct;
using MedRecon.Phantoms;
using MedRecon.Tests.Infrastructure;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace MedRecon.Tests.Ct;

/// <summary>
/// The flat-detector fan-beam projector against ASTRA's <c>fanflat</c> geometry (CPU) at matched geometry, through
/// benchmarks/ct_peers.py. ASTRA's CPU has no Joseph kernel for fan beams, only <c>strip_fanflat</c> (area of the
/// beam strip in each pixel) and <c>line_fanflat</c>, so the comparison uses a smooth image, where the pixel models
/// agree (on Shepp–Logan's sharp edges they differ by the discretisation, like ASTRA's own line and strip kernels do,
/// so that is reported with a looser bound). Non-unit pixel size (0.5) exercises the length scaling. The equiangular (arc) detector has no
/// ASTRA 2-D counterpart; it is checked against analytic line integrals in FbpTests.
/// </summary>
public class FanPeerComparisonTests(ITestOutputHelper output)
{
    const int N = 128;
    const double PixelSize = 0.5;
    static string Script => Path.Combine(ExternalTools.RepositoryRoot, "benchmarks", "ct_peers.py");

    /// <summary>Two Gaussian blobs (σ = 12 and 6 pixels), off centre.</summary>
    static Tensor Smooth()
    {
        var c = torch.arange(N, ScalarType.Float32).sub((N - 1) / 2.0);
        var x = c.unsqueeze(0);
        var y = -c.unsqueeze(1);
        return torch.exp(-((x - 10).square() + (y + 5).square()) / (2 * 12.0 * 12.0))
               + 0.5 * torch.exp(-((x + 25).square() + (y - 20).square()) / (2 * 6.0 * 6.0));
    }

    [SkippableFact]
    public void FlatFanProjectorAgreesWithAstraFanflat()
    {
        ExternalTools.RequirePython("numpy", "astra");
        using var dir = new TempDir();
        var g = CtGeometry.FanBeam(N, flatDetector: true, pixelSize: PixelSize); // R_s = 2N·p, R_d = N·p
        var angles = CtAngles.Uniform(90, 360);
        var images = new Dictionary<string, Tensor> { ["smooth"] = Smooth(), ["shepp-logan"] = CtTestData.Rasterize(EllipseProjections.ModifiedSheppLogan, N) };
        var errors = new Dictionary<string, double>();
        foreach (var (name, img) in images)
        {
            var sub = Path.Combine(dir.Path, name);
            Directory.CreateDirectory(sub);
            Npy.Write(Path.Combine(sub, "img.npy"), img);
            Npy.Write(Path.Combine(sub, "angles.npy"), torch.tensor(angles, ScalarType.Float64));
            var args = new[]
            {
                Script, "fan", Path.Combine(sub, "img.npy"), Path.Combine(sub, "angles.npy"), g.Detectors.ToString(),
                g.DetectorSpacing.ToString("R"), g.SourceDistance.ToString("R"), g.DetectorDistance.ToString("R"),
                PixelSize.ToString("R"), sub,
            };
            var (code, _, err) = ExternalTools.Run(ExternalTools.DebianPython, args);
            Assert.True(code == 0, err);
            var strip = Npy.Read(Path.Combine(sub, "sino_fanflat_strip.npy"));
            var line = Npy.Read(Path.Combine(sub, "sino_fanflat_line.npy"));
            using var op = new FanBeamProjector(g, angles);
            var joseph = op.Forward(img);
            errors[name] = CtTestData.RelativeError(strip, joseph);
            output.WriteLine($"{name}: relative L2 difference vs ASTRA strip_fanflat {errors[name]:E3}, vs line_fanflat " +
                             $"{CtTestData.RelativeError(line, joseph):E3}; ASTRA's line vs its strip {CtTestData.RelativeError(strip, line):E3}");
            if (name == "smooth")
            {
                Tensor Project(CtGeometry geometry, double[] a)
                {
                    using var o = new FanBeamProjector(geometry, a);
                    return o.Forward(img);
                }
                // The tolerance must catch a geometry slip: half a detector element of shift, or the other rotation sense.
                double shifted = CtTestData.RelativeError(strip, Project(g with { DetectorOffset = g.DetectorSpacing / 2 }, angles));
                double mirrored = CtTestData.RelativeError(strip, Project(g, angles.Select(t => -t).ToArray()));
                output.WriteLine($"controls: detector shifted by half an element {shifted:E3}, angles reversed {mirrored:E3}");
                Assert.True(shifted > 10 * errors[name] && mirrored > 10 * errors[name], $"controls {shifted} {mirrored}");
            }
        }
        Assert.True(errors["smooth"] < 1e-3, $"smooth image vs ASTRA strip_fanflat {errors["smooth"]}");
        Assert.True(errors["shepp-logan"] < 1e-2, $"Shepp–Logan vs ASTRA strip_fanflat {errors["shepp-logan"]}");
    }
}
