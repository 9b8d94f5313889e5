using MedRecon.Operators;
using MedRecon.Solvers.Internal;
using static TorchSharp.torch;

namespace MedRecon.Solvers;

/// <summary>Zero-filled / adjoint reconstruction x = Aᴴy (for MRI: inverse FFT of the zero-filled k-space, coil-combined with the maps).</summary>
public static class ZeroFilled
{
    /// <exception cref="ArgumentException">y does not have A's output shape, or contains NaN/Inf.</exception>
    public static Tensor Reconstruct(LinearOperator a, Tensor y)
    {
        SolverInput.CheckMeasurements(a, y);
        return a.Adjoint(y);
    }
}
