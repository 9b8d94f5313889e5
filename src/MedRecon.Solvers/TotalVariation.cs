using MedRecon.Core;
using MedRecon.Operators;
using MedRecon.Solvers.Internal;
using TorchSharp;
using static TorchSharp.torch;

namespace MedRecon.Solvers;

/// <summary>Options of <see cref="TotalVariation"/>; the defaults are those of the short overload.</summary>
public sealed record TotalVariationOptions
{
    /// <summary>
    /// Regularisation weight. Relative by default: the weight used is λ·max|Aᴴy|, so the same λ works whatever the
    /// data's scale (the solution scales with y). With <see cref="AbsoluteLambda"/> it is used as given.
    /// </summary>
    /// <summary>Default relative λ: the best of a sweep on a random-ellipse phantom at 4x (docs/mri.md).</summary>
    public const double DefaultLambda = 0.004;
    public const int DefaultIterations = 300;
    public double Lambda { get; init; } = DefaultLambda;
    public bool AbsoluteLambda { get; init; }
    public int Iterations { get; init; } = DefaultIterations;
    /// <summary>Constrain to x ≥ 0 (real images); for complex images the constraint is "real and ≥ 0".</summary>
    public bool NonNegative { get; init; }
    /// <summary>Stop early when the relative change ‖xₖ − xₖ₋₁‖/‖xₖ‖ falls below this (0 = run all iterations).</summary>
    public double Tolerance { get; init; }
    /// <summary>Power iterations used to estimate ‖[A; ∇]‖ for the step sizes.</summary>
    public int PowerIterations { get; init; } = 30;
    /// <summary>
    /// Ratio τ/σ of primal to dual step (τσ‖K‖² = 0.95 is kept). Default (null): max|Aᴴy|/λ_abs (= 1/λ for relative
    /// λ), clamped to [1, 10⁴]: the dual variables of TV are bounded by λ while the image is of order max|Aᴴy|.
    /// Measured on 128² phantoms, 1-D 4x (numpy prototype of this loop): 300 iterations came within ~0.3 dB PSNR of
    /// the converged solution and 200 within ~1 dB, where τ = σ was still ~7 dB short after 200 iterations.
    /// </summary>
    public double? StepRatio { get; init; }
    /// <summary>
    /// An estimate to stay near: adds (w/2)‖x − x̂‖² (w = <see cref="AnchorWeight"/>) to the objective and starts the
    /// iterations at x̂ instead of Aᴴy. The zero-shot loop's TV finish: TV removes the texture the network's last
    /// evaluation paints into flat regions while the proximity term keeps what it restored (docs/zero-shot.md).
    /// </summary>
    public Tensor? Anchor { get; init; }
    /// <summary>w of <see cref="Anchor"/>, on the scale of AᴴA (‖A‖ = 1 for a unitary masked FFT; the CT TV normalises
    /// its projector to ‖A‖ = 1, so w = 1 weighs the estimate like a measurement of unit gain).</summary>
    public double AnchorWeight { get; init; } = 1;
    /// <summary>Where the iterations start (default: the anchor, else Aᴴy). The solution does not depend on it, the
    /// iterations needed do: for CT, Aᵀy is a blurred image on another scale than x.</summary>
    public Tensor? Initial { get; init; }
    /// <summary>With an <see cref="Anchor"/> the objective is w-strongly convex in x, so PDHG can shrink τ and grow σ
    /// each iteration (Chambolle &amp; Pock 2011, Algorithm 2: θ = 1/√(1 + 2wτ), τ ← θτ, σ ← σ/θ, x̄ = x + θ(x − x_prev)),
    /// O(1/k²) instead of O(1/k). On by default: the zero-shot TV finish, the anchor's user, gets nearer its solution in
    /// 40 such iterations than in 100 plain ones (docs/zero-shot.md). Ignored without an anchor.</summary>
    public bool Accelerate { get; init; } = true;
}

/// <summary>
/// Total-variation regularised reconstruction, min_x ½‖Ax − y‖² + λ TV(x), with isotropic TV
/// TV(x) = Σ_pixels sqrt(|∂_y x|² + |∂_x x|²) (forward differences, Neumann boundary; for complex images |·| is the
/// complex magnitude, so real and imaginary parts share one gradient magnitude), solved by PDHG (Chambolle–Pock) on
/// K = [A; ∇] with τσ‖K‖² &lt; 1, ‖K‖ from power iteration. Generic over <see cref="LinearOperator"/>: complex (MRI)
/// and real (CT) images alike; the image dtype is that of Aᴴy.
/// λ is relative to max|Aᴴy| unless <see cref="TotalVariationOptions.AbsoluteLambda"/> is set.
/// </summary>
public static class TotalVariation
{
    /// <summary>TV reconstruction with relative λ (weight λ·max|Aᴴy|), started at Aᴴy.</summary>
    /// <exception cref="ArgumentException">Shape mismatch, or NaN/Inf in y.</exception>
    public static Tensor Reconstruct(LinearOperator a, Tensor y, double lambda = TotalVariationOptions.DefaultLambda, int iterations = TotalVariationOptions.DefaultIterations,
        bool nonNegative = false, IProgress<SolverProgress>? progress = null) =>
        Reconstruct(a, y, new TotalVariationOptions { Lambda = lambda, Iterations = iterations, NonNegative = nonNegative }, progress);

    public static Tensor Reconstruct(LinearOperator a, Tensor y, TotalVariationOptions options,
        IProgress<SolverProgress>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        SolverInput.CheckMeasurements(a, y);
        SolverInput.CheckIterations(options.Iterations);
        SolverInput.CheckLambda(options.Lambda);
        if (a.InputShape.Length < 2)
            throw new ArgumentException($"TV needs images with at least two axes; {a.Name} takes {Tensors.ShapeString(a.InputShape)}", nameof(a));
        if (options.StepRatio is { } sr && !(sr > 0)) throw new ArgumentOutOfRangeException(nameof(options), "StepRatio must be > 0");
        var anchor = options.Anchor;
        if (anchor is not null)
        {
            if (!anchor.shape.SequenceEqual(a.InputShape))
                throw new ArgumentException($"TV anchor has shape {Tensors.ShapeString(anchor.shape)}, {a.Name} takes {Tensors.ShapeString(a.InputShape)}", nameof(options));
            if (!(options.AnchorWeight > 0) || double.IsInfinity(options.AnchorWeight))
                throw new ArgumentOutOfRangeException(nameof(options), "AnchorWeight must be finite and > 0");
            if (!Tensors.AllFinite(anchor)) throw new ArgumentException("TV anchor contains NaN or Inf values", nameof(options));
        }

        if (options.Initial is { } init)
        {
            if (!init.shape.SequenceEqual(a.InputShape))
                throw new ArgumentException($"TV initial image has shape {Tensors.ShapeString(init.shape)}, {a.Name} takes {Tensors.ShapeString(a.InputShape)}", nameof(options));
            if (!Tensors.AllFinite(init)) throw new ArgumentException("TV initial image contains NaN or Inf values", nameof(options));
        }

        using var outer = NewDisposeScope();
        var aty = a.Adjoint(y);
        bool complex = aty.is_complex();
        if (anchor is not null && anchor.is_complex() && !complex) throw new ArgumentException($"TV anchor is complex, {a.Name} takes real images", nameof(options));
        double maxAbs = SolverInput.MaxAbs(aty);
        if (maxAbs == 0 && anchor is null) return torch.zeros_like(aty).MoveToOuterDisposeScope();
        double lam = options.AbsoluteLambda ? options.Lambda : options.Lambda * maxAbs;
        // Scale of the λ-ball and the step ratio: the image's, from the anchor when the data give none.
        if (maxAbs == 0) maxAbs = Math.Max(SolverInput.MaxAbs(anchor!), 1e-30);

        var grad = new FiniteDifferenceOperator(a.InputShape); // Neumann boundary
        double k2 = PowerIteration.Largest(v =>
        {
            using var s = NewDisposeScope();
            return (a.Normal(v) + grad.Normal(v)).MoveToOuterDisposeScope();
        }, a.InputShape, complex, options.PowerIterations);
        double kNorm = Math.Sqrt(k2 * 1.05);                 // margin: power iteration approaches from below
        double ratio = options.StepRatio ?? (lam > 0 ? Math.Clamp(maxAbs / lam, 1.0, 1e4) : 1.0);
        double tau = Math.Sqrt(0.95 * ratio) / kNorm;
        double sigma = Math.Sqrt(0.95 / ratio) / kNorm;

        var a0 = anchor?.to(aty.dtype);
        double tauW = anchor is null ? 0 : tau * options.AnchorWeight;
        // Explicit Scalars, disposed here: TorchSharp 0.107 leaves the implicit ones of `tensor * double` to the
        // finalizer thread, which now and then corrupts a native call ("Unknown scalar type", CliSupport.RetryNativeOnce);
        // this loop made thousands of them per reconstruction.
        using var inverseLambda = (lam > 0 ? 1.0 / lam : 0.0).ToScalar();
        using var one = 1.0.ToScalar();
        using var zero = 0.0.ToScalar();
        bool accelerate = options.Accelerate && a0 is not null;
        double theta = 1;
        var x = Project(options.Initial?.to(aty.dtype) ?? a0 ?? aty, options.NonNegative, zero);
        var xBar = x.clone();
        var p = torch.zeros_like(y);         // dual of the data term
        var q = torch.zeros(grad.OutputShape, dtype: aty.dtype); // dual of the gradient
        bool track = progress is not null || options.Tolerance > 0;
        for (int k = 1; k <= options.Iterations; k++)
        {
            Tensor xn, xBarN, pn, qn;
            double change = double.NaN;
            // The step sizes change per iteration when accelerated; their Scalars are made and disposed here.
            using var sigmaS = sigma.ToScalar();
            using var dataScale = (1.0 / (1 + sigma)).ToScalar();
            using var tauS = tau.ToScalar();
            using var anchorWeight = tauW.ToScalar();
            using var anchorScale = (1.0 / (1 + tauW)).ToScalar();
            if (accelerate) theta = 1 / Math.Sqrt(1 + 2 * options.AnchorWeight * tau);
            using var extrapolation = (1 + theta).ToScalar();
            using var previousWeight = theta.ToScalar();
            using (var scope = NewDisposeScope())
            {
                // prox of σF₁*, F₁(u) = ½‖u − y‖²:  p ← (p + σ(A x̄ − y)) / (1 + σ)
                pn = a.Forward(xBar).sub_(y).mul_(sigmaS).add_(p).mul_(dataScale);
                // prox of σF₂*, F₂ = λ‖·‖₂,₁: pointwise projection onto the λ-ball (joint over directions and re/im)
                if (lam > 0)
                {
                    var qt = grad.Forward(xBar).mul_(sigmaS).add_(q);
                    var mag = Tensors.Magnitude(qt).square().sum(dim: 0).sqrt();
                    qn = qt.div(mag.mul_(inverseLambda).clamp_min_(one));
                }
                else qn = q.clone(); // λ = 0: no TV term, the dual stays 0 (plain least squares by PDHG)
                var v = x.sub(a.Adjoint(pn).add_(grad.Adjoint(qn)).mul_(tauS));
                // prox of τ(w/2)‖· − x̂‖² (then the constraint; both separable and isotropic, so they compose)
                if (a0 is not null) v = v.add_(a0, anchorWeight).mul_(anchorScale);
                xn = Project(v, options.NonNegative, zero);
                // x̄ = x + θ(x − x_prev); θ = 1 (2x − x_prev) unless accelerated
                xBarN = accelerate ? xn.mul(extrapolation).sub_(x.mul(previousWeight)) : xn.mul(extrapolation).sub_(x);
                if (track) change = Tensors.Norm(xn - x) / Math.Max(Tensors.Norm(xn), 1e-30);
                foreach (var t in new[] { xn, xBarN, pn, qn }) t.MoveToOuterDisposeScope();
            }
            foreach (var t in new[] { x, xBar, p, q }) t.Dispose();
            (x, xBar, p, q) = (xn, xBarN, pn, qn);
            if (accelerate)
            {
                tau *= theta;
                sigma /= theta;
                tauW = tau * options.AnchorWeight;
            }
            progress?.Report(new SolverProgress(k, options.Iterations, change));
            if (options.Tolerance > 0 && change < options.Tolerance) break;
        }
        return x.MoveToOuterDisposeScope();
    }

    static Tensor Project(Tensor x, bool nonNegative, Scalar zero)
    {
        if (!nonNegative) return x.clone();
        if (!x.is_complex()) return x.clamp_min(zero);
        using var scope = NewDisposeScope();
        return torch.complex(x.real.clamp_min(zero), torch.zeros_like(x.real)).MoveToOuterDisposeScope();
    }
}
