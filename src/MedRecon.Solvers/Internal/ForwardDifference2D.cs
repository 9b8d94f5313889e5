using MedRecon.Operators;
using TorchSharp;
using static TorchSharp.torch;

namespace MedRecon.Solvers.Internal;

/// <summary>
/// TEMPORARY until MedRecon.Operators.FiniteDifferenceOperator lands: forward differences over the last two axes with
/// Neumann boundary (the last difference is 0), output (2, ..., ny, nx) = (d/dy, d/dx).
/// </summary>
sealed class ForwardDifference2D : LinearOperator
{
    public ForwardDifference2D(long[] shape) : base(shape, new[] { 2L }.Concat(shape).ToArray())
    {
        if (shape.Length < 2) throw new ArgumentException("need at least two image axes");
    }

    public override Tensor Forward(Tensor x)
    {
        CheckInput(x);
        using var scope = NewDisposeScope();
        var dy = torch.zeros_like(x);
        var dx = torch.zeros_like(x);
        long ny = x.shape[^2], nx = x.shape[^1];
        if (ny > 1) dy[TensorIndex.Ellipsis, TensorIndex.Slice(0, ny - 1), TensorIndex.Colon] =
            x[TensorIndex.Ellipsis, TensorIndex.Slice(1, ny), TensorIndex.Colon] - x[TensorIndex.Ellipsis, TensorIndex.Slice(0, ny - 1), TensorIndex.Colon];
        if (nx > 1) dx[TensorIndex.Ellipsis, TensorIndex.Slice(0, nx - 1)] =
            x[TensorIndex.Ellipsis, TensorIndex.Slice(1, nx)] - x[TensorIndex.Ellipsis, TensorIndex.Slice(0, nx - 1)];
        return torch.stack(new[] { dy, dx }, 0).MoveToOuterDisposeScope();
    }

    public override Tensor Adjoint(Tensor g)
    {
        CheckOutput(g);
        using var scope = NewDisposeScope();
        var gy = g[0];
        var gx = g[1];
        long ny = gy.shape[^2], nx = gy.shape[^1];
        var result = torch.zeros_like(gy);
        if (ny > 1)
        {
            var inner = gy[TensorIndex.Ellipsis, TensorIndex.Slice(0, ny - 1), TensorIndex.Colon];
            result[TensorIndex.Ellipsis, TensorIndex.Slice(1, ny), TensorIndex.Colon] += inner;
            result[TensorIndex.Ellipsis, TensorIndex.Slice(0, ny - 1), TensorIndex.Colon] -= inner;
        }
        if (nx > 1)
        {
            var inner = gx[TensorIndex.Ellipsis, TensorIndex.Slice(0, nx - 1)];
            result[TensorIndex.Ellipsis, TensorIndex.Slice(1, nx)] += inner;
            result[TensorIndex.Ellipsis, TensorIndex.Slice(0, nx - 1)] -= inner;
        }
        return result.MoveToOuterDisposeScope();
    }
}
