using MedRecon.Core;
using MedRecon.Operators.Ct;
using MedRecon.Tests.Operators;
using TorchSharp;
using static TorchSharp.torch;

namespace MedRecon.Tests.Ct;

public class ProjectorTests
{
    [Fact]
    public void ParallelBeamPassesContract()
    {
        var op = new ParallelBeamProjector(32, CtAngles.Uniform(17, 180), detectors: 40, detectorSpacing: 1.3);
        OperatorContract.Check(op, complexInput: false, complexOutput: false);
        var limited = new ParallelBeamProjector(CtGeometry.ParallelBeam(24, 30, 0.7, 1.5) with { DetectorOffset = 0.6 },
            new[] { 0.1, 0.5, 0.79, 2.0, 3.0 });
        OperatorContract.Check(limited, false, false);
    }

    [Fact]
    public void FanBeamFlatPassesContract()
    {
        var op = new FanBeamProjector(CtGeometry.FanBeam(32, flatDetector: true), CtAngles.Uniform(19, 360));
        OperatorContract.Check(op, false, false);
    }

    [Fact]
    public void FanBeamEquiangularPassesContract()
    {
        var op = new FanBeamProjector(CtGeometry.FanBeam(28, flatDetector: false, detectors: 45), CtAngles.Uniform(13, 250));
        OperatorContract.Check(op, false, false);
    }

    [Fact]
    public void ParallelProjectionOfConstantDiscMatchesChordLength()
    {
        // A uniform disc of radius 20 px: the line integral at offset t is 2·sqrt(r² − t²) in pixel units.
        int n = 64;
        var ys = torch.arange(n, ScalarType.Float32).sub((n - 1) / 2.0);
        var rr = ys.unsqueeze(1).square() + ys.unsqueeze(0).square();
        var disc = (rr < 400).to(ScalarType.Float32);
        var op = new ParallelBeamProjector(n, CtAngles.Uniform(8), detectors: 91);
        var sino = op.Forward(disc);
        int centre = 45;
        for (int v = 0; v < 8; v++)
            Assert.InRange(sino[v, centre].item<float>(), 38.5f, 41.5f);
        Assert.True(sino[0, 45 + 25].item<float>() == 0f);
    }
}
