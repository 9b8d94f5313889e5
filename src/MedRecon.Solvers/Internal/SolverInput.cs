using MedRecon.Core;
using MedRecon.Operators;
using static TorchSharp.torch;

namespace MedRecon.Solvers.Internal;

/// <summary>Input checks shared by all solvers.</summary>
static class SolverInput
{
    /// <summary>Throws <see cref="ArgumentException"/> when y does not fit A or holds NaN/Inf.</summary>
    public static void CheckMeasurements(LinearOperator a, Tensor y, string paramName = "y")
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(y);
        if (!y.shape.SequenceEqual(a.OutputShape))
            throw new ArgumentException(
                $"measurements have shape {Tensors.ShapeString(y.shape)}, but operator {a.Name} expects {Tensors.ShapeString(a.OutputShape)}",
                paramName);
        if (!Tensors.AllFinite(y))
            throw new ArgumentException("measurements contain NaN/Inf", paramName);
    }

    public static void CheckImage(LinearOperator a, Tensor x, string paramName)
    {
        if (!x.shape.SequenceEqual(a.InputShape))
            throw new ArgumentException(
                $"{paramName} has shape {Tensors.ShapeString(x.shape)}, but operator {a.Name} expects images of shape {Tensors.ShapeString(a.InputShape)}",
                paramName);
    }

    public static void CheckIterations(int iterations)
    {
        if (iterations < 0) throw new ArgumentOutOfRangeException(nameof(iterations), iterations, "iterations must be ≥ 0");
    }

    public static void CheckLambda(double lambda)
    {
        if (!(lambda >= 0) || double.IsInfinity(lambda))
            throw new ArgumentOutOfRangeException(nameof(lambda), lambda, "λ must be finite and ≥ 0");
    }

    /// <summary>max |x| (magnitude for complex tensors), in double.</summary>
    public static double MaxAbs(Tensor x)
    {
        using var scope = NewDisposeScope();
        return x.abs().max().to(ScalarType.Float64).item<double>();
    }
}
