using TorchSharp;
using static TorchSharp.torch;

namespace MedRecon.Solvers.ZeroShot;

/// <summary>
/// Maps between the operator's image domain (physical units: complex MR image, CT attenuation) and the prior's
/// normalised real image (the training normalisation, roughly [−1, 1] with background at −1).
/// </summary>
public abstract class PriorDomain
{
    /// <summary>Physical image → real normalised image (same rows, cols), float32.</summary>
    public abstract Tensor ToPrior(Tensor image);

    /// <summary>Normalised image → physical image; <paramref name="reference"/> (the current physical estimate)
    /// supplies what the prior does not model (the MR phase).</summary>
    public abstract Tensor FromPrior(Tensor normalised, Tensor reference);

    public abstract string Description { get; }
}

/// <summary>
/// Complex MR images: the real-valued prior sees the magnitude, normalised as in training (x = 2|v|/p − 1 with p the
/// 99.5th percentile of the initial estimate's magnitude), and the phase is kept from the current estimate or fixed.
/// With a fixed phase φ and <c>inPhase</c> the prior sees Re(v·e^(−iφ)) instead of |v| (phase-constrained): the
/// quadrature part, aliasing and noise for an object of smooth phase, is left out rather than folded into a positive
/// magnitude. Magnitudes below 0 are clamped to 0 on the way back.
/// </summary>
public sealed class MagnitudePhaseDomain : PriorDomain
{
    /// <param name="scale">p: the magnitude that maps to 1.</param>
    /// <param name="phase">Optional fixed phase image (radians, or a complex image whose angle is used), e.g. from the
    /// fully sampled k-space centre; when null the phase of the current estimate is kept.</param>
    /// <param name="inPhase">The prior sees the component along the fixed phase, not the magnitude (needs <paramref name="phase"/>).</param>
    public MagnitudePhaseDomain(double scale, Tensor? phase = null, bool inPhase = false)
    {
        if (!(scale > 0) || double.IsInfinity(scale)) throw new ArgumentOutOfRangeException(nameof(scale), "scale must be positive and finite");
        if (inPhase && phase is null) throw new ArgumentException("the in-phase component needs a fixed phase", nameof(inPhase));
        Scale = scale;
        InPhase = inPhase;
        if (phase is not null)
        {
            using var scope = NewDisposeScope();
            var angle = phase.is_complex() ? phase.angle() : phase.to(ScalarType.Float32);
            fixedPhasor = torch.polar(torch.ones_like(angle), angle).detach().clone().DetachFromDisposeScope();
        }
    }

    readonly Tensor? fixedPhasor;

    /// <summary>p: the magnitude that maps to 1.</summary>
    public double Scale { get; }

    /// <summary>The prior sees the component along the fixed phase (phase-constrained), not the magnitude.</summary>
    public bool InPhase { get; }

    public override string Description => InPhase
        ? FormattableString.Invariant($"in-phase part, 2 Re(x exp(-i phase))/{Scale:G4} - 1, phase from the k-space centre")
        : FormattableString.Invariant($"magnitude, 2|x|/{Scale:G4} - 1, phase {(fixedPhasor is null ? "from the estimate" : "from the k-space centre")}");

    public override Tensor ToPrior(Tensor image)
    {
        using var scope = NewDisposeScope();
        var mag = InPhase ? (image.to(ScalarType.ComplexFloat32) * fixedPhasor!.conj()).real
            : image.is_complex() ? image.abs() : image.to(ScalarType.Float32).abs();
        return (mag * (2.0 / Scale) - 1.0).to(ScalarType.Float32).MoveToOuterDisposeScope();
    }

    public override Tensor FromPrior(Tensor normalised, Tensor reference)
    {
        using var scope = NewDisposeScope();
        var mag = ((normalised + 1.0) * (Scale / 2.0)).clamp_min(0.0);
        if (fixedPhasor is not null) return (fixedPhasor * mag).MoveToOuterDisposeScope();
        if (!reference.is_complex()) return mag.to(ScalarType.ComplexFloat32).MoveToOuterDisposeScope();
        var r = reference.abs();
        // Unit phasor of the reference; 1 where the reference is (numerically) zero.
        var tiny = r <= 1e-12 * Math.Max(Scale, 1e-30);
        var phasor = torch.where(tiny, torch.ones_like(reference), reference / torch.where(tiny, torch.ones_like(r), r));
        return (phasor * mag).MoveToOuterDisposeScope();
    }
}

/// <summary>Real images with a linear map to the prior: x_prior = α·x + β (CT attenuation → the HU normalisation).</summary>
public sealed class LinearDomain : PriorDomain
{
    public LinearDomain(double alpha, double beta, string description)
    {
        if (!(Math.Abs(alpha) > 0) || double.IsInfinity(alpha) || !double.IsFinite(beta)) throw new ArgumentOutOfRangeException(nameof(alpha));
        Alpha = alpha; Beta = beta; this.description = description;
    }

    readonly string description;
    public double Alpha { get; }
    public double Beta { get; }
    public override string Description => description;

    public override Tensor ToPrior(Tensor image)
    {
        using var scope = NewDisposeScope();
        var x = image.is_complex() ? image.real : image;
        return (x.to(ScalarType.Float32) * Alpha + Beta).MoveToOuterDisposeScope();
    }

    public override Tensor FromPrior(Tensor normalised, Tensor reference) => (normalised - Beta) * (1.0 / Alpha);
}
