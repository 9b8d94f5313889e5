using MedRecon.Operators;
using static TorchSharp.torch;

namespace MedRecon.Solvers.Ct;

/// <summary>
/// SIRT (simultaneous iterative reconstruction technique) in its standard normalised form, as ASTRA's SIRT:
/// x ← x + C Aᵀ R (y − A x), with R = 1 / (row sums of A) = 1 / (A·1) and C = 1 / (column sums) = 1 / (Aᵀ·1)
/// (zero where a sum vanishes). Optional non-negativity projection after each step. Works for any real
/// <see cref="LinearOperator"/> with non-negative entries (CT projectors).
/// </summary>
public static class Sirt
{
    public static Tensor Reconstruct(LinearOperator a, Tensor y, int iterations = 100, bool nonNegative = false,
        Tensor? initial = null, IProgress<SolverProgress>? progress = null)
    {
        if (iterations < 0) throw new ArgumentException($"iterations must be ≥ 0, got {iterations}");
        using var outer = NewDisposeScope();
        var yy = y.to(ScalarType.Float32);
        var r = Inverse(a.Forward(ones(a.InputShape, ScalarType.Float32, device: y.device)));
        var c = Inverse(a.Adjoint(ones(a.OutputShape, ScalarType.Float32, device: y.device)));
        var x = initial is null ? zeros(a.InputShape, ScalarType.Float32, device: y.device) : initial.to(ScalarType.Float32).clone();
        for (int it = 0; it < iterations; it++)
        {
            using var scope = NewDisposeScope();
            var residual = yy - a.Forward(x);
            var step = c * a.Adjoint(r * residual);
            var next = x + step;
            if (nonNegative) next = next.clamp_min(0);
            x.Dispose();
            x = next.MoveToOuterDisposeScope();
            if (progress != null)
            {
                double res = residual.square().sum().item<float>();
                progress.Report(new SolverProgress(it + 1, iterations, Math.Sqrt(res)));
            }
        }
        return x.MoveToOuterDisposeScope();
    }

    static Tensor Inverse(Tensor s)
    {
        using var scope = NewDisposeScope();
        var mask = s > 1e-6f;
        return where(mask, 1.0f / s.clamp_min(1e-6f), zeros_like(s)).MoveToOuterDisposeScope();
    }
}
