using MedRecon.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace MedRecon.Tests.Solvers;

/// <summary>
/// Small test inputs for the solver tests: piecewise-constant ellipse images, k-space simulated on a 2x finer grid
/// (no inverse crime), smooth coil maps, seeded 1-D masks. Temporary stand-ins until the phantoms/masks/io branches'
/// API is available in this branch.
/// </summary>
static class SolverTestData
{
    public record struct E(double I, double A, double B, double X0, double Y0, double Deg);

    public static readonly E[] Shepp =
    {
        new(1.0, .69, .92, 0, 0, 0), new(-.8, .6624, .874, 0, -.0184, 0),
        new(-.2, .11, .31, .22, 0, -18), new(-.2, .16, .41, -.22, 0, 18),
        new(.1, .21, .25, 0, .35, 0), new(.1, .046, .046, 0, .1, 0), new(.1, .046, .046, 0, -.1, 0),
        new(.1, .046, .023, -.08, -.605, 0), new(.1, .023, .023, 0, -.606, 0), new(.1, .023, .046, .06, -.605, 0),
    };

    public static readonly E[] Other =
    {
        new(0.9, .8, .7, 0, 0, 10), new(-.5, .6, .5, 0, -.05, 10),
        new(.4, .25, .12, -.25, .2, 35), new(.3, .1, .3, .3, -.1, -20),
        new(-.2, .15, .15, -.1, -.35, 0), new(.5, .05, .05, .2, .35, 0), new(.25, .3, .06, 0, .5, 5),
    };

    /// <summary>(n, n) float32 image of the ellipses, pixel centres per DESIGN.md, FOV [−1, 1]², supersampled.</summary>
    public static Tensor Rasterize(E[] ellipses, int n, int supersample = 3)
    {
        using var scope = NewDisposeScope();
        int m = n * supersample;
        var idx = torch.arange(m, ScalarType.Float64);
        var c = (idx - (m - 1) / 2.0) / (m / 2.0);
        var gx = c.unsqueeze(0).expand(m, m);
        var gy = -c.unsqueeze(1).expand(m, m);
        var img = torch.zeros(m, m, ScalarType.Float64);
        foreach (var e in ellipses)
        {
            double th = e.Deg * Math.PI / 180, ct = Math.Cos(th), st = Math.Sin(th);
            var xr = (gx - e.X0) * ct + (gy - e.Y0) * st;
            var yr = -(gx - e.X0) * st + (gy - e.Y0) * ct;
            var inside = (xr / e.A).square() + (yr / e.B).square() <= 1;
            img += inside.to(ScalarType.Float64) * e.I;
        }
        var pooled = img.reshape(n, supersample, n, supersample).mean(new long[] { 1, 3 });
        return pooled.to(ScalarType.Float32).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Centred orthonormal k-space (ny = nx = n) of the image rasterised on a 2x finer grid, cropped to the central
    /// n×n and rescaled, so the measurements are not produced by the discrete operator used to reconstruct.
    /// Optional coil maps (coils, n, n) are upsampled (nearest) to the fine grid. Returns (coils, n, n) complex64.
    /// </summary>
    public static Tensor KSpaceFromFineGrid(E[] ellipses, int n, Tensor? maps = null)
    {
        using var scope = NewDisposeScope();
        var fine = Rasterize(ellipses, 2 * n).to(ScalarType.ComplexFloat32).unsqueeze(0);
        if (maps is not null)
            fine = fine * maps.repeat_interleave(2, 1).repeat_interleave(2, 2);
        var k = Fft.Centered2D(fine);
        var crop = k[TensorIndex.Colon, TensorIndex.Slice(n / 2, n / 2 + n), TensorIndex.Slice(n / 2, n / 2 + n)] * 0.5;
        // The fine grid's FFT origin sits a quarter coarse pixel before the coarse one: undo that shift.
        var f = torch.arange(n, ScalarType.Float32) - n / 2;
        var ramp = torch.polar(torch.ones(n, n), (f.unsqueeze(1) + f.unsqueeze(0)) * (float)(2 * Math.PI / (4.0 * n)));
        return (crop * ramp).contiguous().MoveToOuterDisposeScope();
    }

    /// <summary>Smooth complex coil maps (coils, n, n): Gaussian profiles around the FOV with a linear phase, normalised to Σ|S|² = 1.</summary>
    public static Tensor CoilMaps(int coils, int n)
    {
        using var scope = NewDisposeScope();
        var c = (torch.arange(n, ScalarType.Float32) - (n - 1) / 2f) / (n / 2f);
        var gx = c.unsqueeze(0).expand(n, n);
        var gy = -c.unsqueeze(1).expand(n, n);
        var list = new List<Tensor>();
        for (int i = 0; i < coils; i++)
        {
            double a = 2 * Math.PI * i / coils;
            var d2 = (gx - 1.2 * Math.Cos(a)).square() + (gy - 1.2 * Math.Sin(a)).square();
            var mag = (-d2 / 1.5).exp();
            var phase = (gx * Math.Cos(a + 1) + gy * Math.Sin(a + 1)) * 1.5;
            list.Add(torch.polar(mag, phase));
        }
        var maps = torch.stack(list, 0);
        var rss = maps.abs().square().sum(dim: 0).sqrt();
        return (maps / rss).MoveToOuterDisposeScope();
    }

    /// <summary>1-D random mask (n, n): every ky row kept, kx columns sampled at random with a fully sampled centre.</summary>
    public static Tensor Mask1D(int n, double acceleration, double centerFraction, int seed)
    {
        using var scope = NewDisposeScope();
        var gen = new Generator((ulong)seed);
        int center = (int)Math.Round(n * centerFraction);
        double prob = (n / acceleration - center) / (n - center);
        var cols = torch.rand(new long[] { n }, generator: gen) < prob;
        cols[TensorIndex.Slice(n / 2 - center / 2, n / 2 - center / 2 + center)] = torch.tensor(true);
        return cols.to(ScalarType.Float32).unsqueeze(0).expand(n, n).contiguous().MoveToOuterDisposeScope();
    }

    /// <summary>1-D equispaced mask (n, n): every ky row kept, every R-th kx column plus a fully sampled centre (the classic SENSE pattern).</summary>
    public static Tensor Mask1DEquispaced(int n, int acceleration, double centerFraction)
    {
        using var scope = NewDisposeScope();
        var cols = torch.zeros(n, ScalarType.Float32);
        cols[TensorIndex.Slice(0, n, acceleration)] = torch.tensor(1f);
        int center = (int)Math.Round(n * centerFraction);
        cols[TensorIndex.Slice(n / 2 - center / 2, n / 2 - center / 2 + center)] = torch.tensor(1f);
        return cols.unsqueeze(0).expand(n, n).contiguous().MoveToOuterDisposeScope();
    }

    /// <summary>PSNR in dB on magnitudes, data range max(ref) − min(ref) (the definition of MedRecon.Core.Metrics.Psnr).</summary>
    public static double Psnr(Tensor reference, Tensor test)
    {
        using var scope = NewDisposeScope();
        var r = Tensors.Magnitude(reference).to(ScalarType.Float64);
        var t = Tensors.Magnitude(test).to(ScalarType.Float64);
        double range = (r.max() - r.min()).item<double>();
        double mse = (r - t).square().mean().item<double>();
        return 10 * Math.Log10(range * range / mse);
    }
}
