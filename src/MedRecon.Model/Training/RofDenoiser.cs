using TorchSharp;
using static TorchSharp.torch;

namespace MedRecon.Model.Training;

/// <summary>
/// Total-variation (ROF) denoising, min_u ½‖u − f‖² + λ TV(u) with isotropic TV (forward differences, Neumann
/// boundary), by Chambolle's (2004) dual projection algorithm:
/// <c>p ← (p + τ ∇(div p − f/λ)) / (1 + τ |∇(div p − f/λ)|)</c>, <c>u = f − λ div p</c>, τ = 1/8 (convergent for τ ≤ 1/8).
/// The classical, non-oracle baseline of the prior's quality table. A small copy here because the Model layer does
/// not reference Solvers (whose <c>TotalVariation</c> solves the general inverse problem by PDHG).
/// </summary>
public static class RofDenoiser
{
    public const int DefaultIterations = 100;

    /// <summary>Denoises a real image [..., H, W] (float32; leading dimensions are independent images).</summary>
    public static Tensor Denoise(Tensor f, double lambda, int iterations = DefaultIterations)
    {
        if (!(lambda >= 0)) throw new ArgumentOutOfRangeException(nameof(lambda), "λ must be ≥ 0");
        if (f.dim() < 2) throw new ArgumentException("expected an image [..., H, W]", nameof(f));
        if (lambda == 0) return f.clone();
        const double tau = 0.125;
        using var outer = NewDisposeScope();
        var x = f.to(ScalarType.Float32);
        var px = torch.zeros_like(x);
        var py = torch.zeros_like(x);
        for (int k = 0; k < iterations; k++)
        {
            using var scope = NewDisposeScope();
            var (gx, gy) = Gradient(Divergence(px, py) - x / lambda);
            var norm = (gx.square() + gy.square()).sqrt() * tau + 1.0;
            var nx = (px + gx * tau) / norm;
            var ny = (py + gy * tau) / norm;
            px.Dispose();
            py.Dispose();
            px = nx.MoveToOuterDisposeScope();
            py = ny.MoveToOuterDisposeScope();
        }
        return (x - Divergence(px, py) * lambda).MoveToOuterDisposeScope();
    }

    /// <summary>Forward differences along columns (x) and rows (y), zero at the last column/row (Neumann).</summary>
    static (Tensor Gx, Tensor Gy) Gradient(Tensor u)
    {
        var gx = torch.zeros_like(u);
        var gy = torch.zeros_like(u);
        long h = u.shape[^2], w = u.shape[^1];
        if (w > 1) gx.narrow(-1, 0, w - 1).copy_(u.narrow(-1, 1, w - 1) - u.narrow(-1, 0, w - 1));
        if (h > 1) gy.narrow(-2, 0, h - 1).copy_(u.narrow(-2, 1, h - 1) - u.narrow(-2, 0, h - 1));
        return (gx, gy);
    }

    /// <summary>div = −∇ᵀ for the forward-difference gradient above.</summary>
    static Tensor Divergence(Tensor px, Tensor py)
    {
        long h = px.shape[^2], w = px.shape[^1];
        var dx = px.clone();
        if (w > 1)
        {
            dx.narrow(-1, 1, w - 1).sub_(px.narrow(-1, 0, w - 1));
            dx.narrow(-1, w - 1, 1).copy_(-px.narrow(-1, w - 2, 1));
        }
        else dx.zero_();
        var dy = py.clone();
        if (h > 1)
        {
            dy.narrow(-2, 1, h - 1).sub_(py.narrow(-2, 0, h - 1));
            dy.narrow(-2, h - 1, 1).copy_(-py.narrow(-2, h - 2, 1));
        }
        else dy.zero_();
        return dx + dy;
    }
}
