using MedRecon.Operators;
using static TorchSharp.torch;

namespace MedRecon.Solvers;

/// <summary>Progress of an iterative solver: iteration (1-based), total, and a solver-specific objective or residual.</summary>
public readonly record struct SolverProgress(int Iteration, int Total, double Value);

/// <summary>Zero-filled / adjoint reconstruction x = Aᴴy.</summary>
public static class ZeroFilled
{
    public static Tensor Reconstruct(LinearOperator a, Tensor y) => throw new NotImplementedException();
}

/// <summary>
/// Conjugate gradient on the normal equations (AᴴA + λI) x = Aᴴy (CG-SENSE for MRI, CGLS-equivalent for CT).
/// Works for real and complex images.
/// </summary>
public static class ConjugateGradient
{
    public static Tensor Reconstruct(LinearOperator a, Tensor y, int iterations = 30, double lambda = 0.0,
        double tolerance = 1e-6, Tensor? initial = null, IProgress<SolverProgress>? progress = null) =>
        throw new NotImplementedException();

    /// <summary>Generic CG for a Hermitian positive (semi)definite operator: solves applyNormal(x) = rhs.</summary>
    public static Tensor Solve(Func<Tensor, Tensor> applyNormal, Tensor rhs, Tensor initial, int iterations,
        double tolerance = 1e-6, IProgress<SolverProgress>? progress = null) => throw new NotImplementedException();
}

/// <summary>
/// Total-variation regularised reconstruction, min_x ½‖Ax − y‖² + λ TV(x) (isotropic TV), by PDHG (Chambolle–Pock).
/// λ is relative to the scale of Aᴴy's max magnitude unless <c>absoluteLambda</c> is set.
/// </summary>
public static class TotalVariation
{
    public static Tensor Reconstruct(LinearOperator a, Tensor y, double lambda = 0.01, int iterations = 200,
        bool nonNegative = false, IProgress<SolverProgress>? progress = null) => throw new NotImplementedException();
}

/// <summary>Wavelet-ℓ1 regularised reconstruction, min_x ½‖Ax − y‖² + λ‖Wx‖₁, by FISTA.</summary>
public static class WaveletL1
{
    public static Tensor Reconstruct(LinearOperator a, Tensor y, double lambda = 0.005, int iterations = 100,
        IProgress<SolverProgress>? progress = null) => throw new NotImplementedException();
}

/// <summary>Largest eigenvalue of AᴴA by power iteration (step sizes of gradient methods).</summary>
public static class PowerIteration
{
    public static double NormalNorm(LinearOperator a, int iterations = 30, bool complexInput = true, int seed = 0) =>
        throw new NotImplementedException();
}
