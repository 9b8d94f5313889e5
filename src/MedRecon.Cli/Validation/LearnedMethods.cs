using System.Security.Cryptography;

namespace MedRecon.Cli.Validation;

/// <summary>
/// The zero-shot methods (consistency model and its diffusion baseline) as validation plug-ins. A missing prior file
/// makes their rows "skipped" with the file named and how to get it; the classical and peer rows still run.
/// </summary>
public static class LearnedMethods
{
    public static IEnumerable<IValidationMethod> All() => Array.Empty<IValidationMethod>();

    /// <summary>The prior of a modality: the explicit path, or models/{mr,ct}-prior.safetensors in the repository
    /// (walking up from the current directory and the executable).</summary>
    public static string? ResolvePrior(Modality modality, ValidationContext context)
    {
        string? explicitPath = modality == Modality.Mri ? context.MrModel : context.CtModel;
        if (explicitPath != null) return File.Exists(explicitPath) ? Path.GetFullPath(explicitPath) : null;
        return DefaultPriorPath(modality);
    }

    public static string PriorFileName(Modality modality) => modality == Modality.Mri ? "mr-prior.safetensors" : "ct-prior.safetensors";

    public static string? DefaultPriorPath(Modality modality)
    {
        foreach (var start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
            for (var d = new DirectoryInfo(start); d != null; d = d.Parent)
            {
                var c = Path.Combine(d.FullName, "models", PriorFileName(modality));
                if (File.Exists(c)) return c;
            }
        return null;
    }

    public static string MissingPriorMessage(Modality modality, ValidationContext context)
    {
        string? explicitPath = modality == Modality.Mri ? context.MrModel : context.CtModel;
        string m = modality == Modality.Mri ? "mr" : "ct";
        return (explicitPath != null ? $"prior {explicitPath} not found" : $"prior models/{PriorFileName(modality)} not found") +
               $" (train it: medrecon train --modality {m} --data ... --out models/{PriorFileName(modality)}, see docs/training.md; " +
               $"or pass --{m}-model FILE)";
    }

    public static string Sha256(string path)
    {
        using var s = File.OpenRead(path);
        return Convert.ToHexString(SHA256.HashData(s)).ToLowerInvariant();
    }
}
