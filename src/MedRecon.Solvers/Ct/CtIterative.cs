using MedRecon.Operators;
using static TorchSharp.torch;

namespace MedRecon.Solvers.Ct;

/// <summary>
/// CGLS and TV for CT, using the generic <see cref="ConjugateGradient"/> and <see cref="TotalVariation"/> solvers on the
/// projector scaled to unit norm: with s = ‖A‖ (power iteration), they solve the same problem for A/s and y/s, so that
/// Aᴴy — their starting point and the reference of the relative λ — has the image's scale (a CT back-projection is
/// ~views·N times larger than the image, which left PDHG far from the solution after hundreds of iterations).
/// λ for TV is relative to max|(A/s)ᵀ(y/s)| = max|Aᵀy|/‖A‖².
/// </summary>
public static class CtIterative
{
    /// <summary>‖A‖ (square root of the largest eigenvalue of AᵀA), by power iteration with a fixed seed.</summary>
    public static double OperatorNorm(LinearOperator a, int iterations = 20) =>
        Math.Sqrt(PowerIteration.NormalNorm(a, iterations, complexInput: false, seed: 0));

    /// <summary>
    /// Default CGLS iteration count. Unregularised CGLS is semi-convergent on real data (noise and the mismatch between
    /// the object and the pixel model): past ~10–14 iterations it fits streaks and noise. 10 was chosen on random-ellipse
    /// phantoms (seeds 3 and 11; 128², 30 and 60 views; 256², 60 views; noiseless and 0.5 % noise): it is within 0.4 dB of
    /// the best count (8 to 14) in all ten cases; the old default 30 lost up to 4.4 dB
    /// (IterativeTests.CglsIterationSweepOnRandomEllipses).
    /// </summary>
    public const int DefaultCglsIterations = 10;

    /// <summary>
    /// CGLS (conjugate gradient on AᵀA x = Aᵀy, from 0) on the unit-norm projector, optionally damped:
    /// <paramref name="lambda"/> adds λ‖x‖² with λ relative to ‖A‖² (Tikhonov).
    /// </summary>
    public static Tensor Cgls(LinearOperator a, Tensor y, int iterations = DefaultCglsIterations, double lambda = 0.0, double? operatorNorm = null,
        IProgress<SolverProgress>? progress = null)
    {
        using var scope = NewDisposeScope();
        double s = operatorNorm ?? OperatorNorm(a);
        return ConjugateGradient.Reconstruct((1.0 / s) * a, y / s, iterations, lambda, progress: progress).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Iterations of the TV reconstruction (`recon ct --method tv`, started at the FBP). PDHG converges slowly on a
    /// sparse-view projector: Philips training slice 60 at 60 views, λ 0.0005, from Aᵀy 300 / 1000 / 3000 iterations gave
    /// 36.78 / 39.15 / 39.14 dB; from the FBP 300 gave 38.85 and 1000 39.14 (docs/ct.md, "TV: start and iterations").
    /// </summary>
    public const int DefaultTvIterations = 1000;

    /// <summary>TV on the projector normalised to ‖A‖ = 1 (λ relative to max|Aᵀy|/‖A‖²). With <paramref name="anchor"/> the
    /// objective also holds (1/2)‖x − anchor‖² and starts there (<see cref="TotalVariationOptions.Anchor"/>).
    /// <paramref name="initial"/>: where the iterations start (the FBP, say; default the anchor, else Aᵀy, a blurred
    /// image on another scale, from which PDHG needs far more iterations).</summary>
    public static Tensor Tv(LinearOperator a, Tensor y, double lambda = 0.002, int iterations = DefaultTvIterations, bool nonNegative = true,
        double? operatorNorm = null, IProgress<SolverProgress>? progress = null, Tensor? anchor = null, Tensor? initial = null)
    {
        using var scope = NewDisposeScope();
        double s = operatorNorm ?? OperatorNorm(a);
        var options = new TotalVariationOptions { Lambda = lambda, Iterations = iterations, NonNegative = nonNegative, Anchor = anchor, Initial = initial };
        return TotalVariation.Reconstruct((1.0 / s) * a, y / s, options, progress).MoveToOuterDisposeScope();
    }
}
