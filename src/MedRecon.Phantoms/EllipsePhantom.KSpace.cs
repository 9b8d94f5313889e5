using MedRecon.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace MedRecon.Phantoms;

public sealed partial class EllipsePhantom
{
    /// <summary>
    /// Continuous Fourier transform F(u, v) = ∫∫ f(x, y) e^{−2πi(ux + vy)} dx dy of the phantom (u, v in cycles per
    /// unit of the normalised field of view), evaluated on float64 tensors of frequencies that broadcast together.
    /// One ellipse of value I, semi-axes a, b, rotation θ and centre (x0, y0) contributes
    /// I·a·b·e^{−2πi(u x0 + v y0)}·J1(2πρ)/ρ with ρ = sqrt((a u′)² + (b v′)²), u′ = u cos θ + v sin θ,
    /// v′ = −u sin θ + v cos θ (the unit disc's transform J1(2πρ)/ρ, scaled and rotated). Returns complex128.
    /// </summary>
    public Tensor ContinuousFourier(Tensor u, Tensor v)
    {
        using var scope = NewDisposeScope();
        var ud = u.to(ScalarType.Float64);
        var vd = v.to(ScalarType.Float64);
        var shape = torch.broadcast_tensors(ud, vd)[0].shape;
        var re = torch.zeros(shape, ScalarType.Float64);
        var im = torch.zeros(shape, ScalarType.Float64);
        foreach (var e in Ellipses)
        {
            using var inner = NewDisposeScope();
            double t = e.ThetaDegrees * Math.PI / 180.0, c = Math.Cos(t), s = Math.Sin(t);
            var up = (ud * c + vd * s) * e.A;
            var vp = (vd * c - ud * s) * e.B;
            var rho = (up.square() + vp.square()).sqrt_();
            // J1(2πρ)/ρ = 2π · (J1(x)/x) at x = 2πρ: finite (π) at ρ = 0.
            var amp = Bessel.J1OverX(rho * (2 * Math.PI)) * (2 * Math.PI * e.Intensity * e.A * e.B);
            var phase = (ud * e.X0 + vd * e.Y0) * (-2 * Math.PI);
            re.add_(amp * phase.cos());
            im.add_(amp * phase.sin());
        }
        return torch.complex(re, im).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Analytic (continuous) Fourier transform of the phantom sampled on the (ny, nx) Cartesian grid of the centred
    /// orthonormal FFT (<see cref="Fft.Centered2D"/>), scaled and phased so that for a band-limited phantom it equals
    /// <c>Fft.Centered2D(image)</c> of the point samples at the pixel centres. complex64 (ny, nx).
    /// <para>Derivation, per axis (N samples, pixel size Δ = 2/N, h = N/2 rounded down, δ = (N−1)/2 − h, i.e. −1/2 for
    /// even N and 0 for odd N): with pixel index n − h = x_n/Δ + δ, the centred DFT of the samples is
    /// k[m] = N^{−1/2} Σ_n f(x_n) e^{−2πi q (n−h)/N} with q = m − h, which is ≈ F(q/2) · e^{−2πi q δ/N} / (N^{1/2} Δ)
    /// (a Riemann sum, exact without aliasing). Rows run downward while y runs up, so row frequency q_y samples
    /// v = −q_y/2. Hence k[m_y, m_x] = F(q_x/2, −q_y/2) · e^{−2πi(q_x δ_x/n_x + q_y δ_y/n_y)} · sqrt(n_x n_y)/4.</para>
    /// <para>It is the transform of the continuous object, not of pixels: <c>Fft.Centered2D(Rasterize(n))</c> differs by
    /// the pixel box average (a factor ≈ sinc(q_x/n_x)·sinc(q_y/n_y)) and by aliasing of the edges; measurements made
    /// with it avoid the inverse crime.</para>
    /// </summary>
    public Tensor KSpace(int ny, int nx)
    {
        if (ny < 1 || nx < 1) throw new ArgumentOutOfRangeException(nameof(ny), "k-space size must be positive");
        using var scope = NewDisposeScope();
        var qx = (torch.arange(nx, ScalarType.Float64) - (nx / 2)).view(1, -1);
        var qy = (torch.arange(ny, ScalarType.Float64) - (ny / 2)).view(-1, 1);
        var f = ContinuousFourier(qx * 0.5, qy * -0.5);
        var phase = (qx * (HalfPixelOffset(nx) / nx) + qy * (HalfPixelOffset(ny) / ny)) * (-2 * Math.PI);
        var k = f * torch.polar(torch.full_like(phase, Math.Sqrt((double)nx * ny) / 4.0), phase);
        return k.to(ScalarType.ComplexFloat32).MoveToOuterDisposeScope();
    }

    /// <summary>δ = (N−1)/2 − floor(N/2): the offset of the pixel-centre origin from the FFT's origin index, in pixels.</summary>
    static double HalfPixelOffset(long n) => (n - 1) / 2.0 - n / 2;

    /// <summary>
    /// Multi-coil k-space (coils, ky, kx) complex64 of the phantom weighted by the given coil maps (coils, ny, nx),
    /// simulated without the inverse crime: the maps are interpolated (bicubic, <see cref="CoilMaps.Interpolate"/>) onto a
    /// 4x finer grid, and the k-space is computed as in <see cref="KSpace(CoilSensitivity, int, int, int, int)"/>.
    /// Prefer that overload with an analytic map function (e.g. <see cref="CoilMaps.BirdcageFunction"/>) when one exists.
    /// </summary>
    public Tensor KSpace(Tensor coilMaps)
    {
        ArgumentNullException.ThrowIfNull(coilMaps);
        if (coilMaps.dim() != 3)
            throw new ArgumentException($"coil maps must be (coils, ny, nx), got {Tensors.ShapeString(coilMaps.shape)}", nameof(coilMaps));
        return KSpace(CoilMaps.Interpolate(coilMaps), (int)coilMaps.shape[1], (int)coilMaps.shape[2]);
    }

    /// <summary>Multi-coil k-space (coils, ny, nx) with analytic birdcage maps (<see cref="CoilMaps.BirdcageFunction"/>).</summary>
    public Tensor KSpaceBirdcage(int coils, int ny, int nx, double relativeRadius = 1.5) =>
        KSpace(CoilMaps.BirdcageFunction(coils, relativeRadius), ny, nx);

    /// <summary>
    /// Multi-coil k-space (coils, ny, nx) complex64 of S_c(x, y)·f(x, y), simulated without the inverse crime:
    /// <list type="number">
    /// <item>rasterise the phantom on a grid <paramref name="fineFactor"/> times finer (same field of view), each fine
    /// pixel the mean of <paramref name="supersample"/>² point samples;</item>
    /// <item>multiply by the coil maps evaluated at the fine pixel centres (<paramref name="coilMaps"/> is a function
    /// of position, so analytic maps are evaluated exactly there);</item>
    /// <item>take the centred orthonormal FFT of each coil image and keep the central (ny, nx) frequencies;</item>
    /// <item>rescale to the (ny, nx) grid (factor 1/fineFactor overall), correct the phase for the different
    /// half-pixel offsets of the two grids, and divide by the fine pixel's averaging filter
    /// sin(πq/M)/(s·sin(πq/(sM))) per axis (M fine samples, s = supersample), so that the result samples the
    /// continuous transform exactly as <see cref="KSpace(int, int)"/> does: with all maps equal to one the two agree up to
    /// the aliasing of the fine grid.</item>
    /// </list>
    /// </summary>
    public Tensor KSpace(CoilSensitivity coilMaps, int ny, int nx, int fineFactor = 4, int supersample = 2)
    {
        ArgumentNullException.ThrowIfNull(coilMaps);
        if (ny < 1 || nx < 1) throw new ArgumentOutOfRangeException(nameof(ny), "k-space size must be positive");
        if (fineFactor < 1) throw new ArgumentOutOfRangeException(nameof(fineFactor), "must be at least 1");
        if (supersample < 1) throw new ArgumentOutOfRangeException(nameof(supersample), "must be at least 1");
        using var scope = NewDisposeScope();
        long my = (long)ny * fineFactor, mx = (long)nx * fineFactor;
        var img = Rasterize((int)my, (int)mx, supersample);
        var (x, y) = PixelCentres(my, mx);
        var maps = coilMaps(x, y);
        if (maps.dim() != 3 || maps.shape[1] != my || maps.shape[2] != mx)
            throw new ArgumentException($"coil map function returned {Tensors.ShapeString(maps.shape)}, expected (coils, {my}, {mx})");
        long coils = maps.shape[0];
        var correction = FineToCoarseCorrection(ny, my, supersample).view(-1, 1) * FineToCoarseCorrection(nx, mx, supersample).view(1, -1);
        correction = correction.to(ScalarType.ComplexFloat32);
        long y0 = my / 2 - ny / 2, x0 = mx / 2 - nx / 2;
        var result = torch.empty(new long[] { coils, ny, nx }, ScalarType.ComplexFloat32);
        for (long c = 0; c < coils; c++)
        {
            using var inner = NewDisposeScope();
            var coilImage = maps[c].to(ScalarType.ComplexFloat32) * img;
            var k = Fft.Centered2D(coilImage).narrow(0, y0, ny).narrow(1, x0, nx);
            result[c].copy_(k * correction);
        }
        return result.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Per-axis factor taking the central n frequencies of an m-point centred FFT of s-supersampled fine pixels to
    /// the n-point analytic convention: sqrt(n/m) · e^{2πi q(δ_m/m − δ_n/n)} / H(q), H(q) = sin(πq/m)/(s·sin(πq/(sm))).
    /// complex128 (n).
    /// </summary>
    static Tensor FineToCoarseCorrection(long n, long m, int s)
    {
        using var scope = NewDisposeScope();
        var q = torch.arange(n, ScalarType.Float64) - (n / 2);
        var phase = q * (2 * Math.PI * (HalfPixelOffset(m) / m - HalfPixelOffset(n) / n));
        var a = q * (Math.PI / m);
        Tensor h;
        if (s == 1) h = torch.ones_like(q);
        else
        {
            var num = a.sin();
            var den = (a / s).sin() * s;
            h = torch.where(q == 0, torch.ones_like(q), num / torch.where(q == 0, torch.ones_like(q), den));
        }
        var mag = h.reciprocal() * Math.Sqrt((double)n / m);
        return torch.polar(mag, phase).MoveToOuterDisposeScope();
    }
}
