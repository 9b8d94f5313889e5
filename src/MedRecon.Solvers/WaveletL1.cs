using MedRecon.Core;
using MedRecon.Operators;
using MedRecon.Solvers.Internal;
using TorchSharp;
using static TorchSharp.torch;

namespace MedRecon.Solvers;

/// <summary>Options of <see cref="WaveletL1"/>; the defaults are those of the short overload.</summary>
public sealed record WaveletL1Options
{
    /// <summary>
    /// Regularisation weight. Relative by default: the weight used is λ·max|Aᴴy| (as for TV), so the same λ works
    /// whatever the data's scale. With <see cref="AbsoluteLambda"/> it is used as given.
    /// </summary>
    public double Lambda { get; init; } = 0.005;
    public bool AbsoluteLambda { get; init; }
    public int Iterations { get; init; } = 100;
    /// <summary>Decomposition levels of the wavelet (fewer where the image size is not divisible by 2^levels).</summary>
    public int Levels { get; init; } = 4;
    /// <summary>The orthonormal wavelet (<see cref="Wavelet2DOperator"/>); Daubechies-4 like BART's default.</summary>
    public WaveletKind Wavelet { get; init; } = WaveletKind.Daubechies4;
    /// <summary>
    /// Randomly shift the image before each thresholding (cycle spinning, as BART's <c>pics -R W</c> does): removes the
    /// blocky artefacts of a shift-variant wavelet. Shifts come from an explicit generator seeded with <see cref="Seed"/>.
    /// </summary>
    public bool RandomShifts { get; init; } = true;
    public int Seed { get; init; }
    /// <summary>Stop early when the relative change ‖xₖ − xₖ₋₁‖/‖xₖ‖ falls below this (0 = run all iterations).</summary>
    public double Tolerance { get; init; }
}

/// <summary>
/// Wavelet-ℓ1 regularised reconstruction, min_x ½‖Ax − y‖² + λ‖Wx‖₁ (W an orthonormal 2-D wavelet over the last two
/// axes, <see cref="Wavelet2DOperator"/>, Daubechies-4 with 4 levels by default; the coarsest approximation band is not penalised; |·| is the complex magnitude for complex images), by FISTA
/// with step 1/‖A‖² (power iteration) and soft-thresholding of the wavelet coefficients. Generic over
/// <see cref="LinearOperator"/>; real and complex images. λ is relative to max|Aᴴy| unless
/// <see cref="WaveletL1Options.AbsoluteLambda"/> is set.
/// </summary>
public static class WaveletL1
{
    /// <summary>Wavelet-ℓ1 reconstruction with relative λ (weight λ·max|Aᴴy|), started at Aᴴy.</summary>
    /// <exception cref="ArgumentException">Shape mismatch, or NaN/Inf in y.</exception>
    public static Tensor Reconstruct(LinearOperator a, Tensor y, double lambda = 0.005, int iterations = 100,
        IProgress<SolverProgress>? progress = null) =>
        Reconstruct(a, y, new WaveletL1Options { Lambda = lambda, Iterations = iterations }, progress);

    public static Tensor Reconstruct(LinearOperator a, Tensor y, WaveletL1Options options,
        IProgress<SolverProgress>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        SolverInput.CheckMeasurements(a, y);
        SolverInput.CheckIterations(options.Iterations);
        SolverInput.CheckLambda(options.Lambda);
        if (a.InputShape.Length < 2)
            throw new ArgumentException($"the wavelet needs images with at least two axes; {a.Name} takes {Tensors.ShapeString(a.InputShape)}", nameof(a));

        using var outer = NewDisposeScope();
        var aty = a.Adjoint(y);
        bool complex = aty.is_complex();
        double maxAbs = SolverInput.MaxAbs(aty);
        if (maxAbs == 0) return torch.zeros_like(aty).MoveToOuterDisposeScope();
        double lam = options.AbsoluteLambda ? options.Lambda : options.Lambda * maxAbs;

        long ny = a.InputShape[^2], nx = a.InputShape[^1];
        int levels = 0;
        while (levels < options.Levels && ny % (2L << levels) == 0 && nx % (2L << levels) == 0) levels++;
        if (levels == 0)
            throw new ArgumentException($"the wavelet needs even image axes; {a.Name} takes {Tensors.ShapeString(a.InputShape)}", nameof(a));
        var w = new Wavelet2DOperator(a.InputShape, levels, options.Wavelet);
        // 1 where coefficients are thresholded (detail bands), 0 on the coarsest approximation band (pyramid layout).
        var penalised = torch.ones(a.InputShape, ScalarType.Float32);
        penalised[TensorIndex.Ellipsis, TensorIndex.Slice(0, ny >> levels), TensorIndex.Slice(0, nx >> levels)] = torch.zeros(1);
        long shiftRange = 1L << levels;

        double step = 1.0 / (PowerIteration.NormalNorm(a, complexInput: complex) * 1.02);
        double threshold = step * lam;
        var gen = new Generator((ulong)options.Seed);

        var x = aty.clone();
        var z = x.clone();
        double t = 1;
        bool track = progress is not null || options.Tolerance > 0;
        for (int k = 1; k <= options.Iterations; k++)
        {
            Tensor xn, zn;
            double change = double.NaN;
            using (var scope = NewDisposeScope())
            {
                var v = z - (a.Normal(z) - aty) * step;
                long sy = 0, sx = 0;
                if (options.RandomShifts && shiftRange > 1)
                {
                    var s = torch.randint(0, shiftRange, new long[] { 2 }, generator: gen);
                    sy = s[0].item<long>();
                    sx = s[1].item<long>();
                    v = v.roll(new[] { sy, sx }, new long[] { -2, -1 });
                }
                var c = w.Forward(v);
                var shrink = (1 - threshold / Tensors.Magnitude(c).clamp_min(1e-30)).clamp_min(0);
                c = c * (shrink * penalised + (1 - penalised));
                xn = w.Adjoint(c);
                if (sy != 0 || sx != 0) xn = xn.roll(new[] { -sy, -sx }, new long[] { -2, -1 });
                double tn = (1 + Math.Sqrt(1 + 4 * t * t)) / 2;
                zn = xn + (xn - x) * ((t - 1) / tn);
                t = tn;
                if (track) change = Tensors.Norm(xn - x) / Math.Max(Tensors.Norm(xn), 1e-30);
                xn.MoveToOuterDisposeScope();
                zn.MoveToOuterDisposeScope();
            }
            x.Dispose(); z.Dispose();
            (x, z) = (xn, zn);
            progress?.Report(new SolverProgress(k, options.Iterations, change));
            if (options.Tolerance > 0 && change < options.Tolerance) break;
        }
        return x.MoveToOuterDisposeScope();
    }
}
