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

    public static Tensor Cgls(LinearOperator a, Tensor y, int iterations = 30, double lambda = 0.0, double? operatorNorm = null,
        IProgress<SolverProgress>? progress = null)
    {
        using var scope = NewDisposeScope();
        double s = operatorNorm ?? OperatorNorm(a);
        return ConjugateGradient.Reconstruct((1.0 / s) * a, y / s, iterations, lambda, progress: progress).MoveToOuterDisposeScope();
    }

    public static Tensor Tv(LinearOperator a, Tensor y, double lambda = 0.002, int iterations = 300, bool nonNegative = true,
        double? operatorNorm = null, IProgress<SolverProgress>? progress = null)
    {
        using var scope = NewDisposeScope();
        double s = operatorNorm ?? OperatorNorm(a);
        return TotalVariation.Reconstruct((1.0 / s) * a, y / s, lambda, iterations, nonNegative, progress).MoveToOuterDisposeScope();
    }
}
