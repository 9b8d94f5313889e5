using MedRecon.Cli.Pipelines;
using MedRecon.Operators.Ct;
using MedRecon.Operators.Mri;
using static TorchSharp.torch;

namespace MedRecon.Cli.Validation;

public enum Modality { Mri, Ct }

/// <summary>
/// One reconstruction task of the suite: an operator family and its parameters (the physics), e.g. 1-D random 4x
/// single coil, or 30 parallel views over 180°. The same task is applied to every image of its modality.
/// </summary>
public sealed record ValidationTask(string Id, Modality Modality, string Description)
{
    // MRI
    public MaskKind Mask { get; init; } = MaskKind.Random;
    public double Acceleration { get; init; }
    public double CenterFraction { get; init; }
    public int Coils { get; init; } = 1;
    /// <summary>k-space noise σ (per real and imaginary part of a sample, so per pixel with the unitary FFT) as a fraction
    /// of the reference's 99.5th percentile; 0 = noise-free.</summary>
    public double NoiseFraction { get; init; }
    // CT
    public int Views { get; init; }
    public double ArcDegrees { get; init; } = 180;
    /// <summary>CT: Poisson noise with this many incident photons per ray (then −log); 0 = noise-free. A dose needs line
    /// integrals of physical attenuation, so such a task runs on the real slices (μ per mm) only.</summary>
    public double Photons { get; init; }

    /// <summary>The dose the methods are told (<see cref="Photons"/>), null when noise-free.</summary>
    public double? Dose => Photons > 0 ? Photons : null;

    /// <summary>The task adds measurement noise (k-space or photon).</summary>
    public bool Noisy => NoiseFraction > 0 || Photons > 0;

    /// <summary>Whether this task can be simulated on <paramref name="image"/> (a dose only on physical attenuation).</summary>
    public bool AppliesTo(ValidationImage image) => !(Photons > 0 && image.MuWater is null);
}

/// <summary>
/// A ground-truth image and where it came from. <see cref="Family"/> is "phantom" or "real"; <see cref="Fine"/> (CT,
/// real data) is the same slice at twice the resolution, projected to simulate the sinogram on a finer grid.
/// </summary>
public sealed record ValidationImage(string Dataset, string Family, int? Slice, Modality Modality, Tensor Reference)
{
    public Phantoms.EllipsePhantom? Phantom { get; init; }
    public Tensor? Fine { get; init; }
    /// <summary>CT values are attenuation per mm (μ_water = 0.0192) for real data, so the zero-shot prior may work in HU.</summary>
    public double? MuWater { get; init; }
    public string Label => Slice is int s ? $"{Dataset} s{s}" : Dataset;
}

/// <summary>The CT measurement: sinogram (views, detectors), angles (radians), reconstruction geometry.</summary>
public sealed record CtMeasurement(Tensor Sinogram, double[] Angles, CtGeometry Geometry);

/// <summary>A (task, image) pair with its simulated measurement, shared by every method (the same "file" for all).</summary>
public sealed record ValidationCase(ValidationTask Task, ValidationImage Image, int MaskSeed)
{
    public MriMeasurement? Mri { get; init; }
    public CtMeasurement? Ct { get; init; }
    /// <summary>True for the tuning images (never reported as results).</summary>
    public bool Tuning { get; init; }
    /// <summary>MRI: the k-space noise σ added (0: none), known to the zero-shot methods as a scanner's noise calibration is.</summary>
    public double NoiseSigma { get; init; }
}

/// <summary>What a method returns: the image (complex MR images are compared on magnitude) and its costs.</summary>
/// <param name="Seconds">Wall time measured by the method itself (external peers: see the method), or null to use
/// the runner's clock around <see cref="IValidationMethod.Run"/>.</param>
/// <param name="PeakMemoryMiB">Peak memory measured by the method (external process), or null for the runner's
/// in-process measurement.</param>
public sealed record MethodOutput(Tensor Image, int Nfe = 0, int Iterations = 0, double? Seconds = null,
    double? PeakMemoryMiB = null, string Settings = "");

/// <summary>
/// A reconstruction method of the suite, as a plug-in: ours, a peer tool, or a learned prior. The runner asks
/// <see cref="Unavailable"/> once; a non-null reason puts the method in the table as not run, with that reason.
/// </summary>
public interface IValidationMethod
{
    /// <summary>Short stable id used in JSON and on the command line (e.g. "tv", "bart-tv", "cm").</summary>
    string Id { get; }
    string Label { get; }
    Modality Modality { get; }
    /// <summary>"classical", "peer" or "learned".</summary>
    string Kind { get; }
    /// <summary>Cheap enough for --quick.</summary>
    bool Quick { get; }
    string? Unavailable(ValidationContext context);
    /// <summary>Candidate regularisation weights tuned on the tuning images (null: not tuned).</summary>
    IReadOnlyList<double>? LambdaGrid { get; }
    MethodOutput Run(ValidationCase c, double? lambda, ValidationContext context);
    /// <summary>Expensive methods run on the first N images of each family of a task only (null: every image).</summary>
    int? MaxImagesPerFamily => null;
    /// <summary>Whether the method runs on this (task, image) at all (expensive baselines run on a subset).</summary>
    bool AppliesTo(ValidationTask task, ValidationImage image) => true;
}

/// <summary>Run-wide settings shared by the methods.</summary>
public sealed class ValidationContext
{
    public required bool Quick { get; init; }
    public required string WorkDirectory { get; init; }
    public int Nfe { get; init; } = 4;
    public int DiffusionNfe { get; init; } = 40;
    public string? MrModel { get; init; }
    public string? CtModel { get; init; }
    /// <summary>Anything a plug-in wants to keep between cases (e.g. a loaded network), keyed by the plug-in.</summary>
    public Dictionary<string, object> Cache { get; } = new();
}

/// <summary>One row of validation.json: a method on one (task, image).</summary>
public sealed record ValidationRow
{
    public required string Task { get; init; }
    public required string Data { get; init; }
    public required string Family { get; init; }
    public required string Method { get; init; }
    public required string MethodLabel { get; init; }
    public required string Kind { get; init; }
    /// <summary>"ok", "not installed", "skipped" or "failed".</summary>
    public required string Status { get; init; }
    public string? Reason { get; init; }
    public double? Psnr { get; init; }
    public double? Ssim { get; init; }
    public double? Nmse { get; init; }
    public int Nfe { get; init; }
    public int Iterations { get; init; }
    public double? Lambda { get; init; }
    public double? Seconds { get; init; }
    public double? PeakMemoryMiB { get; init; }
    public string? MemorySource { get; init; }
    public string Settings { get; init; } = "";
}
