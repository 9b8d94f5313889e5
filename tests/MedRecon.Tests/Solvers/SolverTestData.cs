using MedRecon.Operators.Mri;
using MedRecon.Phantoms;
using static TorchSharp.torch;

namespace MedRecon.Tests.Solvers;

/// <summary>
/// Inputs for the solver tests. Measurements come from the phantoms' analytic k-space (no inverse crime); images are
/// the phantoms rasterised at the same size.
/// </summary>
static class SolverTestData
{
    public static EllipsePhantom Shepp => EllipsePhantom.SheppLogan();

    /// <summary>A seeded random-ellipse phantom, a second piecewise-constant image (e.g. for tuning vs testing).</summary>
    public static EllipsePhantom Other => EllipsePhantom.Random(seed: 3);

    public static Tensor Mask(MaskKind kind, int n, double acceleration, double centerFraction, int seed) =>
        SamplingMasks.Create(kind, n, n, acceleration, centerFraction, seed).Mask;

    /// <summary>Single-coil analytic k-space (1, n, n) times the mask.</summary>
    public static Tensor SingleCoilKSpace(EllipsePhantom phantom, int n, Tensor mask)
    {
        using var scope = NewDisposeScope();
        return (phantom.KSpace(n, n).reshape(1, n, n) * mask).MoveToOuterDisposeScope();
    }
}
