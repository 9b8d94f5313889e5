using MedRecon.Cli.Commands;
using MedRecon.Cli.Pipelines;
using MedRecon.Solvers.ZeroShot;

namespace MedRecon.Cli.Validation;

/// <summary>
/// The zero-shot methods (consistency model, and the same network as a diffusion baseline with many more NFE) as
/// validation plug-ins, with the solver's per-task defaults (σ schedule, data consistency). The prior of each modality
/// is loaded once (<see cref="Priors"/>; its load time is not counted in the seconds). A missing prior file makes
/// their rows "skipped" with the file named and how to get it; the classical and peer rows still run.
/// </summary>
/// <param name="fixedNfe">NFE of this row whatever --nfe says (the "cm-8" rows: the issue's "≤ 8 NFE" beside the 4-NFE
/// speed setting).</param>
/// <param name="priorFile">Another prior than the modality's default, by file name in the models folder (the "cm-fast" row:
/// <see cref="LearnedMethods.FastMrPrior"/>).</param>
/// <param name="startIterations">PDHG iterations of a TV start (null: the TV default).</param>
public sealed class ZeroShotValidationMethod(string id, string label, Modality modality, ZeroShotMethod method, int? fixedNfe = null,
    ZeroShotStart start = ZeroShotStart.Direct, string? priorFile = null, int? startIterations = null) : IValidationMethod
{
    public string Id => id;
    public string Label => label;
    public Modality Modality => modality;
    public string Kind => "learned";
    /// <summary>CM is in --quick (at few NFE); the diffusion baseline is not.</summary>
    public bool Quick => method == ZeroShotMethod.Consistency && fixedNfe is null;
    public IReadOnlyList<double>? LambdaGrid => null;
    /// <summary>The diffusion baseline (≥ 10x the CM's NFE, ~4 min per 256² slice on one loaded core) runs on the first
    /// real slice of the headline tasks only (MRI 4x/8x single coil, CT 60/30 views), for time.</summary>
    public int? MaxImagesPerFamily => method == ZeroShotMethod.Diffusion ? 1 : null;

    public static readonly string[] DiffusionTasks = { "mri-4x", "mri-8x", "ct-60v", "ct-30v" };

    public bool AppliesTo(ValidationTask task, ValidationImage image) =>
        method != ZeroShotMethod.Diffusion || (DiffusionTasks.Contains(task.Id) && image.Family == "real");

    public string? Unavailable(ValidationContext context)
    {
        try
        {
            LearnedMethods.Prior(modality, context, priorFile);
            return null;
        }
        catch (MissingPriorException e) { return e.Message; }
        catch (CliException e) { return e.Message; }
    }

    public MethodOutput Run(ValidationCase c, double? lambda, ValidationContext context)
    {
        var prior = LearnedMethods.Prior(modality, context, priorFile);
        int nfe = method == ZeroShotMethod.Diffusion ? context.DiffusionNfe : fixedNfe ?? (context.Quick ? Math.Min(context.Nfe, 2) : context.Nfe);
        var o = new ZeroShotOptions { Method = method, Nfe = nfe, Seed = (ulong)c.MaskSeed, Start = start, StartIterations = startIterations,
            NoiseSigma = c.NoiseSigma > 0 ? c.NoiseSigma : null, Photons = c.Task.Dose };
        // The suite's noise-free single-coil MRI tasks estimate σ (they record the noise they add, here none).
        if (c.Mri is { } mri && ZeroShotDefaults.MriEstimatesNoise(c.NoiseSigma, mri.KSpace.shape[0]) && MedRecon.Operators.Mri.KSpaceNoise.CanEstimate(mri.Mask.Mask))
            o = o with { EstimateNoise = true, NoiseFreeData = true };
        ZeroShotResult r;
        if (modality == Modality.Mri)
        {
            var m = c.Mri!;
            r = MriPipeline.ReconstructZeroShot(m.KSpace, m.Mask.Mask, m.Maps, o, prior.Function);
        }
        else
        {
            var m = c.Ct!;
            r = CtReconstruction.RunZeroShot(method == ZeroShotMethod.Diffusion ? "diffusion" : "cm", m.Sinogram, m.Geometry, m.Angles, o, c.Image.MuWater, prior.Function);
        }
        r.StandardDeviation?.Dispose();
        string from = start == ZeroShotStart.TotalVariation ? $"TV{(startIterations is int it ? $" ({it} iterations)" : "")} (its seconds included)"
            : modality == Modality.Ct ? "FBP" : "zero-filled";
        string units = modality == Modality.Ct
            ? (c.Image.MuWater is null ? ", scale from the FBP's 99.5th percentile" : ", HU via μ_water 0.0192/mm")
              + (c.Task.Dose is not null ? ", noise-aware data consistency (rays weighted by their counts, the simulated I0)" : "")
            : c.NoiseSigma > 0 ? ", noise-aware data consistency (the simulated σ)"
            : o.EstimateNoise ? $", noise-aware data consistency (σ {Inv.S(r.NoiseSigma ?? 0, "G3")} estimated from the outer k-space)" : "";
        return new MethodOutput(r.Mean, r.NfePerSample * r.Samples, 0,
            Settings: $"{(method == ZeroShotMethod.Consistency ? "multistep CM" : "Euler")}, {nfe} NFE, 1 sample, from {from}, solver defaults{units} ({ZeroShotCliOptions.SettingsText(r.Settings!, modality == Modality.Mri)}); {Path.GetFileName(prior.Path)}");
    }
}

public static class LearnedMethods
{
    public static IEnumerable<IValidationMethod> All() => new IValidationMethod[]
    {
        new ZeroShotValidationMethod("diffusion", "diffusion baseline (Euler)", Modality.Mri, ZeroShotMethod.Diffusion),
        new ZeroShotValidationMethod("cm", "consistency model", Modality.Mri, ZeroShotMethod.Consistency),
        new ZeroShotValidationMethod("cm-8", "consistency model, 8 NFE", Modality.Mri, ZeroShotMethod.Consistency, fixedNfe: 8),
        new ZeroShotValidationMethod("cm-tv", "consistency model, 8 NFE from TV", Modality.Mri, ZeroShotMethod.Consistency, fixedNfe: 8,
            start: ZeroShotStart.TotalVariation),
        // The speed point of the issue's "≤ 2 s per slice": the small prior after a 100-iteration TV start, 4 NFE.
        new ZeroShotValidationMethod("cm-fast", "consistency model, small prior, 4 NFE from TV 100", Modality.Mri, ZeroShotMethod.Consistency,
            fixedNfe: 4, start: ZeroShotStart.TotalVariation, priorFile: FastMrPrior, startIterations: 100),
        new ZeroShotValidationMethod("diffusion", "diffusion baseline (Euler)", Modality.Ct, ZeroShotMethod.Diffusion),
        new ZeroShotValidationMethod("cm", "consistency model", Modality.Ct, ZeroShotMethod.Consistency),
        new ZeroShotValidationMethod("cm-8", "consistency model, 8 NFE", Modality.Ct, ZeroShotMethod.Consistency, fixedNfe: 8),
        new ZeroShotValidationMethod("cm-tv", "consistency model, 8 NFE from TV", Modality.Ct, ZeroShotMethod.Consistency, fixedNfe: 8,
            start: ZeroShotStart.TotalVariation),
    };

    /// <summary>The small MR prior (models/mr-prior-fast.md) of the "cm-fast" rows.</summary>
    public const string FastMrPrior = "mr-prior-fast.safetensors";

    /// <summary>The loaded prior of a modality (cached in the context), or of <paramref name="priorFile"/> in the models
    /// folder; <see cref="MissingPriorException"/> when the file is absent, <see cref="CliException"/> for a file of
    /// another modality or architecture.</summary>
    public static LoadedPrior Prior(Modality modality, ValidationContext context, string? priorFile = null)
    {
        string key = "prior:" + modality + ":" + priorFile;
        if (context.Cache.TryGetValue(key, out var v))
            return v is LoadedPrior lp ? lp : throw (Exception)v;
        try
        {
            string? path = priorFile is null
                ? ResolvePrior(modality, context) ?? throw new MissingPriorException(MissingPriorMessage(modality, context))
                : ResolveNamedPrior(priorFile) ?? throw new MissingPriorException($"prior models/{priorFile} not found (see models/mr-prior-fast.md; --mr-model does not replace it)");
            var loaded = Priors.Load(modality == Modality.Mri ? "mr" : "ct", path);
            context.Cache[key] = loaded;
            return loaded;
        }
        catch (Exception e) when (e is MissingPriorException or CliException)
        {
            context.Cache[key] = e;
            throw;
        }
    }

    /// <summary>The prior file of a modality: the explicit path (--mr-model/--ct-model), or the default
    /// models/{mr,ct}-prior.safetensors where <see cref="Priors"/> looks for it; null when it does not exist.</summary>
    public static string? ResolvePrior(Modality modality, ValidationContext context)
    {
        string? explicitPath = modality == Modality.Mri ? context.MrModel : context.CtModel;
        if (explicitPath != null) return File.Exists(explicitPath) ? Path.GetFullPath(explicitPath) : null;
        return ResolveNamedPrior(PriorFileName(modality));
    }

    /// <summary>A prior file by name in the models folder (<see cref="Priors.ModelsDirectory"/>); null when absent.</summary>
    public static string? ResolveNamedPrior(string fileName)
    {
        var dir = Priors.ModelsDirectory();
        var p = dir is null ? null : Path.Combine(dir, fileName);
        return p is not null && File.Exists(p) ? p : null;
    }

    public static string PriorFileName(Modality modality) => modality == Modality.Mri ? "mr-prior.safetensors" : "ct-prior.safetensors";

    public static string MissingPriorMessage(Modality modality, ValidationContext context)
    {
        string? explicitPath = modality == Modality.Mri ? context.MrModel : context.CtModel;
        string m = modality == Modality.Mri ? "mr" : "ct";
        return (explicitPath != null ? $"prior {explicitPath} not found" : $"prior models/{PriorFileName(modality)} not found") +
               $" (train it: medrecon train --modality {m} --data ... --out models/{PriorFileName(modality)}, see docs/training.md; " +
               $"or pass --{m}-model FILE)";
    }

    public static string Sha256(string path) => Priors.Sha256(path);
}
