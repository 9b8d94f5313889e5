using System.Globalization;
using MedRecon.Cli.Commands;
using MedRecon.Cli.Pipelines;
using MedRecon.Solvers;
using MedRecon.Solvers.Ct;
using MedRecon.Solvers.ZeroShot;
using static TorchSharp.torch;

namespace MedRecon.Cli.Validation;

/// <summary>MedRecon's classical MRI reconstructions (MriPipeline) as validation plug-ins.</summary>
public sealed class MriClassicalMethod(string id, string label, MriMethod method, int iterations, double? defaultLambda,
    IReadOnlyList<double>? grid, bool quick) : IValidationMethod
{
    public string Id => id;
    public string Label => label;
    public Modality Modality => Modality.Mri;
    public string Kind => "classical";
    public bool Quick => quick;
    public IReadOnlyList<double>? LambdaGrid => grid;
    public string? Unavailable(ValidationContext context) => null;

    public MethodOutput Run(ValidationCase c, double? lambda, ValidationContext context)
    {
        var m = c.Mri!;
        double? l = lambda ?? defaultLambda;
        int it = context.Quick ? Math.Min(iterations, 60) : iterations;
        var img = MriPipeline.Reconstruct(m.KSpace, m.Mask.Mask, m.Maps, method, l, iterations == 0 ? null : it);
        string settings = method switch
        {
            MriMethod.Zf => "Aᴴy",
            MriMethod.Cg => $"CG on AᴴA x = Aᴴy, {it} iterations",
            _ => FormattableString.Invariant($"λ {l:G3} (relative to max|Aᴴy|), {it} iterations"),
        };
        return new MethodOutput(img, 0, iterations == 0 ? 0 : it, Settings: settings);
    }

    public static IEnumerable<IValidationMethod> All() => new IValidationMethod[]
    {
        new MriClassicalMethod("zf", "zero-filled", MriMethod.Zf, 0, null, null, true),
        new MriClassicalMethod("cg", "CG-SENSE", MriMethod.Cg, 30, null, null, true),
        new MriClassicalMethod("tv", "TV (PDHG)", MriMethod.Tv, TotalVariationOptions.DefaultIterations, TotalVariationOptions.DefaultLambda,
            // From a quarter to 8x the default: noise-free tasks want it smaller, noisy ones well above it.
            new[] { 0.001, 0.002, 0.004, 0.008, 0.016, 0.032 }, true),
        new MriClassicalMethod("wavelet", "wavelet-ℓ1 (FISTA)", MriMethod.Wavelet, WaveletL1Options.DefaultIterations, WaveletL1Options.DefaultLambda,
            new[] { 0.00025, 0.0005, 0.001, 0.002, 0.004, 0.008, 0.016 }, false),
    };
}

/// <summary>MedRecon's classical CT reconstructions (FBP, SIRT, CGLS, TV) as validation plug-ins.</summary>
public sealed class CtClassicalMethod(string id, string label, int iterations, double? defaultLambda, IReadOnlyList<double>? grid, bool quick)
    : IValidationMethod
{
    public string Id => id;
    public string Label => label;
    public Modality Modality => Modality.Ct;
    public string Kind => "classical";
    public bool Quick => quick;
    public IReadOnlyList<double>? LambdaGrid => grid;
    public string? Unavailable(ValidationContext context) => null;

    public MethodOutput Run(ValidationCase c, double? lambda, ValidationContext context)
    {
        var m = c.Ct!;
        double? l = lambda ?? defaultLambda;
        int it = context.Quick ? Math.Min(iterations, 60) : iterations;
        // A dose weighs TV's data term by the counts (PWLS-TV, the classical low-dose method), as `recon ct --method tv`.
        double? dose = c.Task.Dose;
        var img = CtReconstruction.Run(id, m.Sinogram, m.Geometry, m.Angles, FbpFilter.Ramp, iterations == 0 ? null : it, l,
            nonNegative: id == "tv", photons: dose);
        string settings = id switch
        {
            "fbp" => "ramp filter",
            "tv" => FormattableString.Invariant($"λ {l:G3} (relative to max|Aᵀy|/‖A‖²), {it} iterations from the FBP, x ≥ 0")
                    + (dose is double i0 ? ", " + NoiseAwareConsistency.CountWeighting(i0) : ""),
            _ => $"{it} iterations, no constraint",
        };
        return new MethodOutput(img, 0, iterations == 0 ? 0 : it, Settings: settings);
    }

    public static IEnumerable<IValidationMethod> All() => new IValidationMethod[]
    {
        new CtClassicalMethod("fbp", "FBP", 0, null, null, true),
        new CtClassicalMethod("sirt", "SIRT", 200, null, null, true),
        new CtClassicalMethod("cgls", "CGLS", 30, null, null, true),
        // Started at the FBP, 1000 iterations (CtIterative.DefaultTvIterations). Near convergence real anatomy from
        // noise-free data wants λ far below the default (tuning slice s60, 60 views: 7.8e-6 42.63 dB, 0.0005 38.78),
        // phantoms about 0.0005, the low-dose task the default, so the grid spans all three.
        new CtClassicalMethod("tv", "TV (PDHG)", CtIterative.DefaultTvIterations, 0.002,
            new[] { 0.00000390625, 0.0000078125, 0.000015625, 0.00003125, 0.0000625, 0.000125, 0.00025, 0.0005, 0.001, 0.002, 0.004 }, true),
    };
}

static class Inv
{
    public static string S(double v, string format = "G4") => v.ToString(format, CultureInfo.InvariantCulture);
}
