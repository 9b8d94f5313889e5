using MedRecon.Operators;
using TorchSharp;
using static TorchSharp.torch;

namespace MedRecon.Solvers.Internal;

/// <summary>
/// TEMPORARY until MedRecon.Operators.Wavelet2DOperator lands: orthonormal multi-level 2-D Haar transform over the last
/// two axes (Mallat layout: the coarsest approximation in the top-left (ny/2^L, nx/2^L) block).
/// </summary>
sealed class Haar2D : LinearOperator
{
    public Haar2D(long[] shape, int levels) : base(shape, shape)
    {
        long ny = shape[^2], nx = shape[^1];
        int max = 0;
        while (max < levels && ny % (2L << max) == 0 && nx % (2L << max) == 0) max++;
        Levels = max;
        ApproximationShape = (ny >> Levels, nx >> Levels);
    }

    public int Levels { get; }
    public (long Rows, long Cols) ApproximationShape { get; }

    public override Tensor Forward(Tensor x)
    {
        CheckInput(x);
        using var scope = NewDisposeScope();
        var w = x.clone();
        long h = x.shape[^2], wd = x.shape[^1];
        for (int l = 0; l < Levels; l++, h /= 2, wd /= 2)
        {
            var band = w[TensorIndex.Ellipsis, TensorIndex.Slice(0, h), TensorIndex.Slice(0, wd)];
            var a = band[TensorIndex.Ellipsis, TensorIndex.Slice(0, h, 2), TensorIndex.Slice(0, wd, 2)];
            var b = band[TensorIndex.Ellipsis, TensorIndex.Slice(0, h, 2), TensorIndex.Slice(1, wd, 2)];
            var c = band[TensorIndex.Ellipsis, TensorIndex.Slice(1, h, 2), TensorIndex.Slice(0, wd, 2)];
            var d = band[TensorIndex.Ellipsis, TensorIndex.Slice(1, h, 2), TensorIndex.Slice(1, wd, 2)];
            var ll = (a + b + c + d) * 0.5;
            var lh = (a - b + c - d) * 0.5;
            var hl = (a + b - c - d) * 0.5;
            var hh = (a - b - c + d) * 0.5;
            var top = torch.cat(new[] { ll, lh }, -1);
            var bottom = torch.cat(new[] { hl, hh }, -1);
            band.copy_(torch.cat(new[] { top, bottom }, -2));
        }
        return w.MoveToOuterDisposeScope();
    }

    public override Tensor Adjoint(Tensor w)
    {
        CheckOutput(w);
        using var scope = NewDisposeScope();
        var x = w.clone();
        for (int l = Levels - 1; l >= 0; l--)
        {
            long h = x.shape[^2] >> l, wd = x.shape[^1] >> l;
            var band = x[TensorIndex.Ellipsis, TensorIndex.Slice(0, h), TensorIndex.Slice(0, wd)];
            long h2 = h / 2, w2 = wd / 2;
            var ll = band[TensorIndex.Ellipsis, TensorIndex.Slice(0, h2), TensorIndex.Slice(0, w2)].clone();
            var lh = band[TensorIndex.Ellipsis, TensorIndex.Slice(0, h2), TensorIndex.Slice(w2, wd)].clone();
            var hl = band[TensorIndex.Ellipsis, TensorIndex.Slice(h2, h), TensorIndex.Slice(0, w2)].clone();
            var hh = band[TensorIndex.Ellipsis, TensorIndex.Slice(h2, h), TensorIndex.Slice(w2, wd)].clone();
            band[TensorIndex.Ellipsis, TensorIndex.Slice(0, h, 2), TensorIndex.Slice(0, wd, 2)] = (ll + lh + hl + hh) * 0.5;
            band[TensorIndex.Ellipsis, TensorIndex.Slice(0, h, 2), TensorIndex.Slice(1, wd, 2)] = (ll - lh + hl - hh) * 0.5;
            band[TensorIndex.Ellipsis, TensorIndex.Slice(1, h, 2), TensorIndex.Slice(0, wd, 2)] = (ll + lh - hl - hh) * 0.5;
            band[TensorIndex.Ellipsis, TensorIndex.Slice(1, h, 2), TensorIndex.Slice(1, wd, 2)] = (ll - lh - hl + hh) * 0.5;
        }
        return x.MoveToOuterDisposeScope();
    }
}
