using MedRecon.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace MedRecon.Operators;

public enum WaveletKind
{
    /// <summary>Haar (2 taps).</summary>
    Haar,
    /// <summary>Daubechies with 2 vanishing moments (4 taps; "db2" in PyWavelets, "D4" in Numerical Recipes).</summary>
    Daubechies4,
}

/// <summary>
/// Orthonormal multi-level 2-D discrete wavelet transform over the last two axes, periodic boundary, for
/// wavelet-ℓ1 regularisation. The coefficients keep the image's shape in the usual pyramid layout: after level 1 the
/// (ny, nx) array holds [[LL, LH], [HL, HH]] in its four quadrants (L/H = low/high pass along rows then columns),
/// and each further level transforms the top-left LL block again. The transform is orthogonal, so the adjoint is the
/// exact inverse and AᴴA = I. Both image axes must be divisible by 2^levels. Real and complex inputs.
/// </summary>
public sealed class Wavelet2DOperator : LinearOperator
{
    readonly double[] lo;
    readonly double[] hi;

    public Wavelet2DOperator(int ny, int nx, int levels = 3, WaveletKind kind = WaveletKind.Daubechies4)
        : this(new long[] { ny, nx }, levels, kind) { }

    /// <param name="imageShape">Image shape; the transform acts on its last two axes (leading axes are batch axes).</param>
    public Wavelet2DOperator(long[] imageShape, int levels = 3, WaveletKind kind = WaveletKind.Daubechies4)
        : base(imageShape, imageShape)
    {
        if (imageShape.Length < 2)
            throw new ArgumentException($"Wavelet2DOperator: image shape {Tensors.ShapeString(imageShape)} needs at least two axes");
        if (levels < 1 || levels > 30) throw new ArgumentException($"Wavelet2DOperator: levels must be in [1, 30], got {levels}");
        long div = 1L << levels;
        long ny = imageShape[^2], nx = imageShape[^1];
        if (ny < div || nx < div || ny % div != 0 || nx % div != 0)
            throw new ArgumentException(
                $"Wavelet2DOperator: image axes ({ny}, {nx}) must be positive multiples of 2^levels = {div} for {levels} levels");
        Levels = levels;
        Kind = kind;
        lo = kind switch
        {
            WaveletKind.Haar => new[] { 1 / Math.Sqrt(2), 1 / Math.Sqrt(2) },
            WaveletKind.Daubechies4 => Daubechies4(),
            _ => throw new ArgumentException($"unknown wavelet {kind}"),
        };
        // Quadrature mirror: g[n] = (−1)^n h[L−1−n].
        hi = new double[lo.Length];
        for (int n = 0; n < lo.Length; n++) hi[n] = (n % 2 == 0 ? 1 : -1) * lo[lo.Length - 1 - n];
    }

    static double[] Daubechies4()
    {
        double s3 = Math.Sqrt(3), norm = 4 * Math.Sqrt(2);
        return new[] { (1 + s3) / norm, (3 + s3) / norm, (3 - s3) / norm, (1 - s3) / norm };
    }

    public int Levels { get; }
    public WaveletKind Kind { get; }
    public override string Name => $"{(Kind == WaveletKind.Haar ? "Haar" : "Db4")}x{Levels}";

    public override Tensor Forward(Tensor x)
    {
        CheckInput(x);
        using var scope = NewDisposeScope();
        return Analyze(Float(x), Levels).MoveToOuterDisposeScope();
    }

    public override Tensor Adjoint(Tensor y)
    {
        CheckOutput(y);
        using var scope = NewDisposeScope();
        return Synthesize(Float(y), Levels).MoveToOuterDisposeScope();
    }

    /// <summary>Orthonormal: AᴴA = I.</summary>
    public override Tensor Normal(Tensor x)
    {
        CheckInput(x);
        return Float(x).clone();
    }

    static Tensor Float(Tensor x) => x.is_complex() || x.is_floating_point() ? x : x.to(ScalarType.Float32);

    Tensor Analyze(Tensor x, int levels)
    {
        // Along columns (last axis), then along rows.
        var (a, d) = Analyze1D(x);
        var rowsDone = torch.cat(new[] { a, d }, -1);
        var (a2, d2) = Analyze1D(rowsDone.transpose(-1, -2));
        var level = torch.cat(new[] { a2, d2 }, -1).transpose(-1, -2); // [[LL, LH], [HL, HH]]
        if (levels == 1) return level;
        long h = x.shape[^2] / 2, w = x.shape[^1] / 2;
        var ll = level.narrow(-2, 0, h).narrow(-1, 0, w);
        var top = torch.cat(new[] { Analyze(ll, levels - 1), level.narrow(-2, 0, h).narrow(-1, w, w) }, -1);
        return torch.cat(new[] { top, level.narrow(-2, h, h) }, -2);
    }

    Tensor Synthesize(Tensor c, int levels)
    {
        long h = c.shape[^2] / 2, w = c.shape[^1] / 2;
        if (levels > 1)
        {
            var ll = Synthesize(c.narrow(-2, 0, h).narrow(-1, 0, w), levels - 1);
            var top = torch.cat(new[] { ll, c.narrow(-2, 0, h).narrow(-1, w, w) }, -1);
            c = torch.cat(new[] { top, c.narrow(-2, h, h) }, -2);
        }
        // Undo the row transform, then the column transform.
        var t = c.transpose(-1, -2);
        var rows = Synthesize1D(t.narrow(-1, 0, h), t.narrow(-1, h, h)).transpose(-1, -2);
        return Synthesize1D(rows.narrow(-1, 0, w), rows.narrow(-1, w, w));
    }

    /// <summary>a[k] = Σ h[n] x[(2k + n) mod N], d[k] = Σ g[n] x[(2k + n) mod N] along the last axis.</summary>
    (Tensor A, Tensor D) Analyze1D(Tensor x)
    {
        long n = x.shape[^1];
        Tensor? a = null, d = null;
        for (int k = 0; k < lo.Length; k++)
        {
            var shifted = (k == 0 ? x : x.roll(-k, -1)).slice(-1, 0, n, 2);
            a = a is null ? shifted * lo[k] : a + shifted * lo[k];
            d = d is null ? shifted * hi[k] : d + shifted * hi[k];
        }
        return (a!, d!);
    }

    /// <summary>The transpose of <see cref="Analyze1D"/>: x[m] = Σ_n h[n] u_a[m − n] + g[n] u_d[m − n], u = upsampled by 2.</summary>
    Tensor Synthesize1D(Tensor a, Tensor d)
    {
        var ua = Upsample(a);
        var ud = Upsample(d);
        Tensor? x = null;
        for (int k = 0; k < lo.Length; k++)
        {
            var term = ua * lo[k] + ud * hi[k];
            if (k != 0) term = term.roll(k, -1);
            x = x is null ? term : x + term;
        }
        return x!;
    }

    static Tensor Upsample(Tensor a)
    {
        var shape = a.shape.ToArray();
        shape[^1] *= 2;
        return torch.stack(new[] { a, torch.zeros_like(a) }, -1).reshape(shape);
    }
}
