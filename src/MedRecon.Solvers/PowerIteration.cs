using MedRecon.Core;
using MedRecon.Operators;
using TorchSharp;
using static TorchSharp.torch;

namespace MedRecon.Solvers;

/// <summary>Largest eigenvalue of AᴴA (= ‖A‖²) by power iteration, for the step sizes of gradient and primal–dual methods.</summary>
public static class PowerIteration
{
    /// <summary>
    /// Estimates ‖A‖² = λ_max(AᴴA) from <paramref name="iterations"/> power iterations started at a random vector drawn
    /// from an explicit generator seeded with <paramref name="seed"/> (global RNG state is not touched), so the result
    /// is reproducible. The estimate approaches the true value from below; callers that need a safe step size should
    /// add a small margin (the solvers here use 2–5 %).
    /// </summary>
    public static double NormalNorm(LinearOperator a, int iterations = 30, bool complexInput = true, int seed = 0)
    {
        ArgumentNullException.ThrowIfNull(a);
        return Largest(a.Normal, a.InputShape, complexInput, iterations, seed);
    }

    /// <summary>Largest eigenvalue of a Hermitian positive semidefinite map on tensors of the given shape.</summary>
    public static double Largest(Func<Tensor, Tensor> normal, long[] shape, bool complexInput, int iterations = 30, int seed = 0)
    {
        if (iterations < 1) throw new ArgumentOutOfRangeException(nameof(iterations), iterations, "need at least one iteration");
        using var outer = NewDisposeScope();
        var gen = new Generator((ulong)seed);
        var x = complexInput
            ? torch.complex(torch.randn(shape, generator: gen), torch.randn(shape, generator: gen))
            : torch.randn(shape, generator: gen);
        x = x / Tensors.Norm(x);
        double eig = 0;
        for (int i = 0; i < iterations; i++)
        {
            using var scope = NewDisposeScope();
            var nx = normal(x);
            eig = Tensors.InnerReal(x, nx); // Rayleigh quotient (‖x‖ = 1)
            double n = Tensors.Norm(nx);
            if (n == 0 || !double.IsFinite(n)) return double.IsFinite(n) ? 0 : throw new InvalidOperationException("power iteration diverged (NaN/Inf)");
            var next = (nx / n).MoveToOuterDisposeScope();
            x.Dispose();
            x = next;
        }
        return eig;
    }
}
