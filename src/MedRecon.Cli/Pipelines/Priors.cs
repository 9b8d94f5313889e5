using System.Security.Cryptography;
using MedRecon.Core.IO;
using MedRecon.Model;

namespace MedRecon.Cli.Pipelines;

/// <summary>A loaded prior: the consistency function, its metadata, where it came from and the file's SHA-256.</summary>
public sealed record LoadedPrior(ConsistencyFunction Function, ModelMetadata Metadata, string Path, string Sha256) : IDisposable
{
    public void Dispose() => Function.Dispose();
}

/// <summary>
/// Finds and loads the shipped priors: <c>models/{mr,ct}-prior.safetensors</c>, found in the folder named by the
/// environment variable <c>MEDRECON_MODELS</c>, else in a <c>models/</c> folder next to the executable or in one of
/// its parents (the repository when run from a build tree), else under the current directory.
/// </summary>
public static class Priors
{
    public const string EnvironmentVariable = "MEDRECON_MODELS";

    /// <summary>The models folder, or null when none is found.</summary>
    public static string? ModelsDirectory()
    {
        var env = Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (!string.IsNullOrWhiteSpace(env)) return Path.GetFullPath(env);
        foreach (var start in new[] { AppContext.BaseDirectory, Directory.GetCurrentDirectory() })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                var candidate = Path.Combine(dir.FullName, "models");
                if (Directory.Exists(candidate) && Directory.EnumerateFiles(candidate, "*-prior.safetensors").Any()) return candidate;
            }
        }
        return null;
    }

    /// <summary>Default weights file for a modality ("mr" or "ct").</summary>
    public static string DefaultPath(string modality)
    {
        var dir = ModelsDirectory()
                  ?? throw new CliException($"no models folder found (set {EnvironmentVariable} or keep models/ next to the executable or in a parent folder); " +
                                            $"pass the {modality.ToUpperInvariant()} prior with --model FILE");
        return Path.Combine(dir, $"{modality}-prior.safetensors");
    }

    /// <summary>
    /// Loads the prior for <paramref name="modality"/>: <paramref name="explicitPath"/> (--model) or the default file.
    /// Missing file, another modality, or an architecture other than a 1-channel UNet → <see cref="CliException"/>.
    /// </summary>
    public static LoadedPrior Load(string modality, string? explicitPath)
    {
        string path = explicitPath ?? DefaultPath(modality);
        if (!File.Exists(path))
            throw new CliException(explicitPath is null
                ? $"no {modality.ToUpperInvariant()} prior: {path} does not exist (set {EnvironmentVariable}, train one with `medrecon train`, or pass --model FILE)"
                : $"--model {path}: file not found");
        var meta = ModelIO.ReadMetadata(path);
        if (!string.Equals(meta.Modality, modality, StringComparison.OrdinalIgnoreCase))
            throw new CliException($"--model {path}: the model was trained for modality '{(meta.Modality.Length == 0 ? "unknown" : meta.Modality)}', " +
                                   $"but this is a{(modality == "mr" ? "n MR" : " CT")} reconstruction; pass a {modality} prior with --model FILE");
        var expected = meta.Architecture with { InChannels = 1, OutChannels = 1 };
        if (!meta.Architecture.SameArchitecture(expected))
            throw new CliException($"--model {path}: the network has {meta.Architecture.InChannels} input and {meta.Architecture.OutChannels} output channel(s); " +
                                   "a reconstruction prior has 1 and 1 (one image channel)");
        try
        {
            var (f, m) = ModelIO.Load(path);
            return new LoadedPrior(f, m, Path.GetFullPath(path), Sha256(path));
        }
        catch (ModelArchitectureMismatchException e) { throw new CliException(e.Message); }
    }

    public static string Sha256(string path)
    {
        using var fs = File.OpenRead(path);
        return Convert.ToHexString(SHA256.HashData(fs)).ToLowerInvariant();
    }
}
