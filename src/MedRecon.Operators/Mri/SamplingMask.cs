using static TorchSharp.torch;

namespace MedRecon.Operators.Mri;

public enum MaskKind { Equispaced, Random, Poisson, Radial }

/// <summary>A k-space sampling mask (ky, kx) float32, 1 = sampled, with its exact acceleration.</summary>
public sealed record SamplingMask(Tensor Mask, MaskKind Kind, double RequestedAcceleration, double CenterFraction, int Seed)
{
    /// <summary>Exact acceleration = total points / sampled points.</summary>
    public double Acceleration => throw new NotImplementedException();
}

/// <summary>
/// Masks with fastMRI semantics: 1-D (undersampling along kx columns, every ky row kept) random and equispaced with a
/// fully sampled centre; 2-D variable-density Poisson disc; radial lines. Seeded; never touches global RNG state.
/// </summary>
public static class SamplingMasks
{
    public static SamplingMask Create(MaskKind kind, int ny, int nx, double acceleration, double centerFraction, int seed) =>
        throw new NotImplementedException();
}
