using MedRecon.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace MedRecon.Phantoms;

/// <summary>
/// Coil sensitivities as a function of position: given x and y (float64, broadcastable, e.g. (1, nx) and (ny, 1), in
/// the normalised field of view [−1, 1]², y up), returns the maps (coils, ny, nx) complex64 at those points.
/// </summary>
public delegate Tensor CoilSensitivity(Tensor x, Tensor y);

/// <summary>Simulated coil sensitivity maps.</summary>
public static class CoilMaps
{
    /// <summary>Softening length of the 1/distance fall-off (normalised units), so coils inside the field of view stay finite.</summary>
    public const double Softening = 0.05;

    /// <summary>
    /// Birdcage-style maps (coils, ny, nx) complex64 on the pixel centres of <see cref="EllipsePhantom"/>'s grid
    /// (field of view [−1, 1]², y up). See <see cref="BirdcageFunction"/> for the model.
    /// </summary>
    public static Tensor Birdcage(int coils, int ny, int nx, double relativeRadius = 1.5)
    {
        if (ny < 1 || nx < 1) throw new ArgumentOutOfRangeException(nameof(ny), "map size must be positive");
        using var scope = NewDisposeScope();
        var (x, y) = EllipsePhantom.PixelCentres(ny, nx);
        return BirdcageFunction(coils, relativeRadius)(x, y).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Birdcage-style maps as an analytic function of position. Coil c (0 ≤ c &lt; coils) sits at
    /// z_c = R·e^{2πic/coils}, R = <paramref name="relativeRadius"/> times the half-width of the field of view, on a
    /// circle around the centre. Its raw sensitivity at z = x + iy is r_c(z) = (z − z_c) / (|z − z_c|² + ε²),
    /// ε = <see cref="Softening"/>: magnitude ≈ 1/distance to the coil, phase = the direction seen from the coil, which
    /// turns with the angle around it (no branch cut: it is a unit complex number, not an angle). The maps are
    /// normalised to S_c = r_c / sqrt(Σ_c |r_c|²), so Σ_c |S_c|² = 1 everywhere (smooth, and SENSE combination
    /// Σ conj(S_c) S_c is the identity).
    /// </summary>
    public static CoilSensitivity BirdcageFunction(int coils, double relativeRadius = 1.5)
    {
        if (coils < 1) throw new ArgumentOutOfRangeException(nameof(coils), "need at least one coil");
        if (!(relativeRadius > 0) || double.IsInfinity(relativeRadius))
            throw new ArgumentOutOfRangeException(nameof(relativeRadius), "must be positive and finite");
        return (x, y) =>
        {
            using var scope = NewDisposeScope();
            var xd = x.to(ScalarType.Float64);
            var yd = y.to(ScalarType.Float64);
            var shape = torch.broadcast_tensors(xd, yd)[0].shape;
            var raw = new List<(Tensor Re, Tensor Im)>(coils);
            var power = torch.zeros(shape, ScalarType.Float64);
            for (int c = 0; c < coils; c++)
            {
                double phi = 2 * Math.PI * c / coils;
                var dx = (xd - relativeRadius * Math.Cos(phi)).expand(shape);
                var dy = (yd - relativeRadius * Math.Sin(phi)).expand(shape);
                var d2 = dx.square() + dy.square() + Softening * Softening;
                var re = dx / d2;
                var im = dy / d2;
                power.add_(re.square() + im.square());
                raw.Add((re, im));
            }
            var norm = power.sqrt_().clamp_min_(1e-300).reciprocal_();
            var maps = torch.stack(raw.Select(r => torch.complex(r.Re * norm, r.Im * norm)).ToArray(), 0);
            return maps.to(ScalarType.ComplexFloat32).MoveToOuterDisposeScope();
        };
    }

    /// <summary>
    /// Turns sampled maps (coils, ny, nx) into a function of position; sample points follow the pixel-centre convention
    /// of <see cref="EllipsePhantom"/>, so evaluating on the same grid returns the maps themselves. On separable grids
    /// (x of shape (1, w) and y of shape (h, 1), as <see cref="EllipsePhantom.PixelCentres"/> gives) it interpolates
    /// with the Keys cubic convolution kernel (a = −1/2) per axis; on other point sets bilinearly
    /// (TorchSharp's grid_sample has no bicubic mode). Edge values extend outward in both cases.
    /// </summary>
    public static CoilSensitivity Interpolate(Tensor maps)
    {
        ArgumentNullException.ThrowIfNull(maps);
        if (maps.dim() != 3)
            throw new ArgumentException($"coil maps must be (coils, ny, nx), got {Tensors.ShapeString(maps.shape)}", nameof(maps));
        long coils = maps.shape[0], ny = maps.shape[1], nx = maps.shape[2];
        var source = maps.to(ScalarType.ComplexFloat32).detach().clone();
        source.DetachFromDisposeScope();
        return (x, y) =>
        {
            using var scope = NewDisposeScope();
            if (x.dim() == 2 && y.dim() == 2 && x.shape[0] == 1 && y.shape[1] == 1)
            {
                var wx = CubicWeights(x.to(ScalarType.Float64).reshape(-1).data<double>().ToArray(), nx);
                var wy = CubicWeights(y.to(ScalarType.Float64).reshape(-1).neg().data<double>().ToArray(), ny);
                var rows = torch.matmul(wy.to(ScalarType.ComplexFloat32), source);               // (coils, h, nx)
                var both = torch.matmul(rows, wx.t().to(ScalarType.ComplexFloat32));              // (coils, h, w)
                return both.MoveToOuterDisposeScope();
            }
            // General point sets: bilinear grid_sample. With align_corners = false, −1 and 1 are the outer edges of the
            // border pixels, so its coordinates are exactly ours, with its vertical axis pointing down.
            var b = torch.broadcast_tensors(x.to(ScalarType.Float64), y.to(ScalarType.Float64));
            if (b[0].dim() != 2) throw new ArgumentException("coil map positions must broadcast to 2-D (h, w)");
            long h = b[0].shape[0], w = b[0].shape[1];
            var input = torch.view_as_real(source).permute(0, 3, 1, 2).reshape(1, 2 * coils, ny, nx);
            var grid = torch.stack(new[] { b[0], -b[1] }, -1).to(ScalarType.Float32).unsqueeze(0);
            var sampled = torch.nn.functional.grid_sample(input, grid, GridSampleMode.Bilinear, GridSamplePaddingMode.Border, align_corners: false);
            var outMaps = torch.view_as_complex(sampled.reshape(coils, 2, h, w).permute(0, 2, 3, 1).contiguous());
            return outMaps.MoveToOuterDisposeScope();
        };
    }

    /// <summary>
    /// Interpolation matrix (targets, n) float64 of the Keys cubic kernel (a = −1/2) from n samples at the pixel centres
    /// (t − (n−1)/2)·(2/n) to the given coordinates, indices clamped at the edges.
    /// </summary>
    static Tensor CubicWeights(double[] coords, long n)
    {
        var w = new double[coords.Length * n];
        for (int i = 0; i < coords.Length; i++)
        {
            double p = coords[i] * n / 2.0 + (n - 1) / 2.0; // fractional source index
            long i0 = (long)Math.Floor(p);
            for (long k = i0 - 1; k <= i0 + 2; k++)
            {
                long idx = Math.Clamp(k, 0, n - 1);
                w[i * n + idx] += Keys(p - k);
            }
        }
        return torch.tensor(w, new long[] { coords.Length, n }, ScalarType.Float64);
    }

    static double Keys(double t)
    {
        const double a = -0.5;
        t = Math.Abs(t);
        if (t <= 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
        if (t < 2) return ((a * t - 5 * a) * t + 8 * a) * t - 4 * a;
        return 0;
    }

    /// <summary>Σ_c |S_c|² (ny, nx) float32 of maps (coils, ny, nx).</summary>
    public static Tensor SumOfSquares(Tensor maps)
    {
        using var scope = NewDisposeScope();
        var m = maps.is_complex() ? maps.abs() : maps;
        return m.square().sum(dim: 0).to(ScalarType.Float32).MoveToOuterDisposeScope();
    }
}
