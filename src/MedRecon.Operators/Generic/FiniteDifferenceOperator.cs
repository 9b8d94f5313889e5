using MedRecon.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace MedRecon.Operators;

/// <summary>
/// 2-D forward differences over the last two axes (rows, cols), as used by total variation:
/// output (2, ...shape) with [0] = x[i+1, j] − x[i, j] (along rows, y) and [1] = x[i, j+1] − x[i, j] (along cols, x).
/// Boundary: <see cref="Periodic"/> wraps around; otherwise (Neumann, the default for TV) the difference at the last
/// row / column is 0. Real and complex inputs; the adjoint is the negative divergence.
/// </summary>
public sealed class FiniteDifferenceOperator : LinearOperator
{
    public FiniteDifferenceOperator(int ny, int nx, bool periodic = false) : this(new long[] { ny, nx }, periodic) { }

    /// <param name="imageShape">Image shape; differences act on its last two axes (leading axes are batch axes).</param>
    public FiniteDifferenceOperator(long[] imageShape, bool periodic = false)
        : base(imageShape, new[] { 2L }.Concat(imageShape).ToArray())
    {
        if (imageShape.Length < 2 || imageShape[^1] < 1 || imageShape[^2] < 1)
            throw new ArgumentException($"FiniteDifferenceOperator: image shape {Tensors.ShapeString(imageShape)} needs at least two non-empty axes");
        Periodic = periodic;
    }

    public bool Periodic { get; }
    public override string Name => Periodic ? "GradPeriodic" : "Grad";

    public override Tensor Forward(Tensor x)
    {
        CheckInput(x);
        using var scope = NewDisposeScope();
        return torch.stack(new[] { Diff(x, -2), Diff(x, -1) }, 0).MoveToOuterDisposeScope();
    }

    public override Tensor Adjoint(Tensor y)
    {
        CheckOutput(y);
        using var scope = NewDisposeScope();
        return (DiffAdjoint(y[0], -2) + DiffAdjoint(y[1], -1)).MoveToOuterDisposeScope();
    }

    Tensor Diff(Tensor x, long dim)
    {
        if (Periodic) return x.roll(-1, dim) - x;
        long n = x.shape[^(int)-dim];
        if (n == 1) return torch.zeros_like(x);
        var d = x.narrow(dim, 1, n - 1) - x.narrow(dim, 0, n - 1);
        return torch.cat(new[] { d, torch.zeros_like(x.narrow(dim, 0, 1)) }, dim);
    }

    Tensor DiffAdjoint(Tensor d, long dim)
    {
        if (Periodic) return d.roll(1, dim) - d;
        long n = d.shape[^(int)-dim];
        if (n == 1) return torch.zeros_like(d);
        // Only d[0 .. n-2] were produced by the forward map; the last entry is ignored.
        var q = d.narrow(dim, 0, n - 1);
        var zero = torch.zeros_like(d.narrow(dim, 0, 1));
        return torch.cat(new[] { zero, q }, dim) - torch.cat(new[] { q, zero }, dim);
    }
}
