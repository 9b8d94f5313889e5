using MedRecon.Core;
using MedRecon.Operators;
using MedRecon.Operators.Ct;
using MedRecon.Operators.Mri;
using TorchSharp;
using static TorchSharp.torch;

namespace MedRecon.Solvers.ZeroShot;

/// <summary>How the zero-shot loop enforces the measurements after each network evaluation.</summary>
public enum DataConsistencyMode
{
    /// <summary>Replace for operators with orthonormal rows and exact data; CG otherwise; soft when a λ is given.</summary>
    Auto,
    /// <summary>Exact projection x − Aᴴ(Ax − y) onto {x : Ax = y} (orthonormal rows only).</summary>
    Replace,
    /// <summary>Closed-form minimiser of ‖Ax − y‖² + λ‖x − x̂‖² for orthonormal rows: x̂ − Aᴴ(Ax̂ − y)/(1 + λ) (noisy data).</summary>
    Soft,
    /// <summary>A few CG steps on ‖Ax − y‖² + λ‖x − x̂‖² started at x̂ (DDS); CT and SENSE.</summary>
    ConjugateGradient,
}

/// <summary>A data-consistency step in the operator's image domain: returns the corrected estimate (new tensor).</summary>
public interface IDataConsistency
{
    Tensor Apply(Tensor xhat);
    /// <summary>The step for an estimate made at noise level <paramref name="sigma"/> (prior units); steps that do not
    /// depend on it ignore it.</summary>
    Tensor Apply(Tensor xhat, double sigma) => Apply(xhat);
    /// <summary>Short description for reports and DICOM DerivationDescription.</summary>
    string Description { get; }
}

/// <summary>Exact replacement <c>x − Aᴴ(Ax − y)</c>: the projection onto {x : Ax = y} when A has orthonormal rows
/// (AAᴴ a projection, e.g. a masked unitary FFT or a 0/1 mask) and y lies in A's range (unsampled entries 0).</summary>
public sealed class ReplacementConsistency : IDataConsistency
{
    readonly LinearOperator a;
    readonly Tensor y;
    public ReplacementConsistency(LinearOperator a, Tensor y) { this.a = a; this.y = y; }
    public string Description => "exact replacement x - A^H(Ax - y)";

    public Tensor Apply(Tensor xhat)
    {
        using var scope = NewDisposeScope();
        var r = a.Forward(xhat) - y;
        return (Cast(xhat, r) - a.Adjoint(r)).MoveToOuterDisposeScope();
    }

    internal static Tensor Cast(Tensor x, Tensor like) => like.is_complex() && !x.is_complex() ? x.to(ScalarType.ComplexFloat32) : x;
}

/// <summary>Soft replacement for noisy data with orthonormal rows: <c>x̂ − Aᴴ(Ax̂ − y)/(1 + λ)</c>, the exact minimiser of
/// ‖Ax − y‖² + λ‖x − x̂‖² when AAᴴ is a projection; λ → 0 gives <see cref="ReplacementConsistency"/>.</summary>
public sealed class SoftConsistency : IDataConsistency
{
    readonly LinearOperator a;
    readonly Tensor y;
    readonly double lambda;
    public SoftConsistency(LinearOperator a, Tensor y, double lambda)
    {
        if (!(lambda >= 0) || double.IsInfinity(lambda)) throw new ArgumentOutOfRangeException(nameof(lambda), "λ must be finite and ≥ 0");
        this.a = a; this.y = y; this.lambda = lambda;
    }
    public string Description => FormattableString.Invariant($"soft replacement, lambda {lambda:G3}");

    public Tensor Apply(Tensor xhat)
    {
        using var scope = NewDisposeScope();
        var r = a.Forward(xhat) - y;
        return (ReplacementConsistency.Cast(xhat, r) - a.Adjoint(r) * (1.0 / (1.0 + lambda))).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// <paramref name="iterations"/> CG steps on (AᴴA + λI) x = Aᴴy + λx̂ started at x̂, i.e. on ‖Ax − y‖² + λ‖x − x̂‖²
/// (DDS). λ is absolute, on the scale of AᴴA; with λ = 0 the early stop is the regulariser. Real images stay real
/// when the operator maps real to real (CT).
/// </summary>
public sealed class ConjugateGradientConsistency : IDataConsistency
{
    readonly LinearOperator a;
    readonly Tensor aty;
    readonly int iterations;
    readonly double lambda;
    public ConjugateGradientConsistency(LinearOperator a, Tensor y, int iterations, double lambda)
    {
        if (iterations < 1) throw new ArgumentOutOfRangeException(nameof(iterations), "at least one CG iteration");
        if (!(lambda >= 0) || double.IsInfinity(lambda)) throw new ArgumentOutOfRangeException(nameof(lambda), "λ must be finite and ≥ 0");
        this.a = a; this.iterations = iterations; this.lambda = lambda;
        aty = a.Adjoint(y);
    }
    public string Description => FormattableString.Invariant($"{iterations} CG steps on |Ax-y|^2 + {lambda:G3}|x-xhat|^2");
    public int Iterations => iterations;

    public Tensor Apply(Tensor xhat) => Solve(xhat, lambda);

    /// <summary>The same CG steps with another weight (Aᴴy is computed once per instance).</summary>
    internal Tensor Solve(Tensor xhat, double lambda)
    {
        using var scope = NewDisposeScope();
        var x0 = ReplacementConsistency.Cast(xhat, aty);
        var rhs = lambda == 0 ? aty : aty.add(x0, alpha: lambda);
        Func<Tensor, Tensor> normal = lambda == 0 ? a.Normal : v =>
        {
            using var s = NewDisposeScope();
            return a.Normal(v).add(v, alpha: lambda).MoveToOuterDisposeScope();
        };
        return Solvers.ConjugateGradient.Solve(normal, rhs, x0, iterations, tolerance: 1e-7).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// Data consistency for measurements with known Gaussian noise (standard deviation σ_y per real and imaginary part of a
/// sample): each step minimises ‖Ax − y‖² + λ_i‖x − x̂‖² with λ_i = σ_y² / s_i², s_i = κ·σ_i·u the expected error of
/// the network's estimate at step i (σ_i in prior units, u the physical size of one prior unit, κ =
/// <see cref="ZeroShotDefaults.NoiseErrorScale"/>). Early steps (large σ_i) keep the measurements almost exactly, the
/// last ones leave the network's estimate where the data are noisier than it — soft replacement for orthonormal rows,
/// CG otherwise. Without a σ (<see cref="Apply(Tensor)"/>) the measurements are kept exactly.
/// </summary>
public sealed class NoiseAwareConsistency : IDataConsistency
{
    readonly LinearOperator a;
    readonly Tensor y;
    readonly int cgIterations;
    readonly bool orthonormal;
    readonly ConjugateGradientConsistency? conjugateGradient; // one Aᴴy for all steps
    public NoiseAwareConsistency(LinearOperator a, Tensor y, double noiseSigma, double physicalPerPriorUnit, int cgIterations,
        double errorScale = ZeroShotDefaults.NoiseErrorScale, string? noiseDescription = null)
    {
        if (!(noiseSigma >= 0) || double.IsInfinity(noiseSigma)) throw new ArgumentOutOfRangeException(nameof(noiseSigma), "noise σ must be finite and ≥ 0");
        if (!(physicalPerPriorUnit > 0) || !(errorScale > 0)) throw new ArgumentOutOfRangeException(nameof(physicalPerPriorUnit), "scales must be positive");
        this.a = a; this.y = y; this.cgIterations = cgIterations;
        NoiseSigma = noiseSigma; Unit = physicalPerPriorUnit; ErrorScale = errorScale;
        this.noiseDescription = noiseDescription ?? FormattableString.Invariant($"noise sigma {noiseSigma:G3}");
        orthonormal = DataConsistency.HasOrthonormalRows(a);
        if (!orthonormal) conjugateGradient = new ConjugateGradientConsistency(a, y, cgIterations, 0);
    }
    readonly string noiseDescription;
    public double NoiseSigma { get; }
    public double Unit { get; }
    public double ErrorScale { get; }
    public string Description => FormattableString.Invariant(
        $"noise-aware {(orthonormal ? "soft replacement" : $"{cgIterations} CG steps")}, {noiseDescription}, lambda_i = sigma_y^2/({ErrorScale:G3} sigma_i u)^2");

    /// <summary>
    /// CT from photon counts: the step runs on the whitened W^½A, W^½y (<see cref="CtSimulation.WeightByCounts"/>) with
    /// σ_y = 1, i.e. ‖W^½(Ax − y)‖² + λ_i‖x − x̂‖², penalised weighted least squares, the classic statistical CT data term.
    /// </summary>
    public static NoiseAwareConsistency ForPhotonCounts(LinearOperator projector, Tensor sinogram, double incidentPhotons,
        double physicalPerPriorUnit, int cgIterations, double? errorScale = null)
    {
        var (weighted, data) = CtSimulation.WeightByCounts(projector, sinogram, incidentPhotons);
        return new NoiseAwareConsistency(weighted, data, 1.0, physicalPerPriorUnit, cgIterations,
            errorScale ?? ZeroShotDefaults.CtNoiseErrorScale, CountWeighting(incidentPhotons));
    }

    /// <summary>How a dose-weighted reconstruction describes its weighting (logs, DICOM, reports): one wording everywhere.</summary>
    public static string CountWeighting(double incidentPhotons) =>
        FormattableString.Invariant($"rays weighted by their counts (I0 {incidentPhotons:G3})");

    /// <summary>λ_i for an estimate at noise level <paramref name="sigma"/> (prior units).</summary>
    public double LambdaFor(double sigma)
    {
        double s = ErrorScale * sigma * Unit;
        return NoiseSigma == 0 ? 0 : NoiseSigma * NoiseSigma / (s * s);
    }

    public Tensor Apply(Tensor xhat) => Step(xhat, 0);
    public Tensor Apply(Tensor xhat, double sigma) => Step(xhat, LambdaFor(sigma));

    Tensor Step(Tensor xhat, double lambda) => orthonormal
        ? (lambda == 0 ? new ReplacementConsistency(a, y).Apply(xhat) : new SoftConsistency(a, y, lambda).Apply(xhat))
        : conjugateGradient!.Solve(xhat, lambda);
}

public static class DataConsistency
{
    /// <summary>True for operators whose rows are orthonormal (AAᴴ a projection): a single-coil masked unitary FFT or a
    /// mask operator, each with a 0/1 mask.</summary>
    public static bool HasOrthonormalRows(LinearOperator a) => a switch
    {
        SenseOperator s => s.Name == "MaskedFFT" && IsBinary(s.Mask),
        MaskOperator m => IsBinary(m.Mask),
        _ => false,
    };

    static bool IsBinary(Tensor mask)
    {
        using var scope = NewDisposeScope();
        var m = mask.is_complex() ? mask.abs() : mask.to(ScalarType.Float32);
        return ((m == 0) | (m == 1)).all().item<bool>();
    }

    /// <summary>Builds the step for a mode. Auto: replacement for orthonormal rows (soft when λ &gt; 0), CG otherwise.</summary>
    public static IDataConsistency Create(DataConsistencyMode mode, LinearOperator a, Tensor y, int cgIterations, double lambda)
    {
        bool ortho = HasOrthonormalRows(a);
        if (mode == DataConsistencyMode.Auto)
            mode = ortho ? (lambda > 0 ? DataConsistencyMode.Soft : DataConsistencyMode.Replace) : DataConsistencyMode.ConjugateGradient;
        switch (mode)
        {
            case DataConsistencyMode.Replace:
            case DataConsistencyMode.Soft:
                if (!ortho)
                    throw new ArgumentException($"{a.Name}: {mode} data consistency needs an operator with orthonormal rows " +
                                                "(single-coil masked FFT or a 0/1 mask); use ConjugateGradient");
                return mode == DataConsistencyMode.Replace ? new ReplacementConsistency(a, y) : new SoftConsistency(a, y, lambda);
            case DataConsistencyMode.ConjugateGradient:
                return new ConjugateGradientConsistency(a, y, cgIterations, lambda);
            default:
                throw new ArgumentOutOfRangeException(nameof(mode));
        }
    }
}
