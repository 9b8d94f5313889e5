using TorchSharp;
using static TorchSharp.torch;

namespace MedRecon.Operators.Ct;

/// <summary>
/// CT data simulation that avoids the inverse crime: images are projected on a finer grid (each pixel split into
/// factor² sub-pixels, detector elements split into factor sub-elements and averaged back), so the data do not come
/// from the discrete operator used to reconstruct. Noise models use explicit generators only.
/// </summary>
public static class CtSimulation
{
    /// <summary>
    /// Projects an (N, N) image with a <paramref name="factor"/>-times finer image grid and detector (pixel
    /// replication: the same piecewise-constant object), then bins the detector back. Result (views, detectors) float32.
    /// </summary>
    public static Tensor ProjectFine(Tensor image, CtGeometry geometry, double[] angles, int factor = 2)
    {
        if (factor < 1) throw new ArgumentException($"factor must be ≥ 1, got {factor}");
        if (image.dim() != 2 || image.shape[0] != geometry.ImageSize || image.shape[1] != geometry.ImageSize)
            throw new ArgumentException($"image shape ({string.Join(", ", image.shape)}) does not match geometry size {geometry.ImageSize}");
        using var scope = NewDisposeScope();
        var fine = image.to(ScalarType.Float32).repeat_interleave(factor, 0).repeat_interleave(factor, 1);
        var fg = geometry with
        {
            ImageSize = geometry.ImageSize * factor, PixelSize = geometry.PixelSize / factor,
            Detectors = geometry.Detectors * factor, DetectorSpacing = geometry.DetectorSpacing / factor,
        };
        var op = CtProjector.Create(fg, angles);
        var s = op.Forward(fine);
        return s.reshape(angles.Length, geometry.Detectors, factor).mean(new long[] { 2 }).contiguous().MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Poisson (photon-counting) noise: counts ~ Poisson(I0 · exp(−p)); zero counts are clamped to one count (a
    /// measured zero would give an infinite line integral); returns −log(counts / I0). <paramref name="sinogram"/>
    /// holds line integrals of attenuation (dimensionless).
    /// </summary>
    public static Tensor AddPoissonNoise(Tensor sinogram, double incidentPhotons, torch.Generator generator)
    {
        CheckPhotons(incidentPhotons);
        using var scope = NewDisposeScope();
        var rate = sinogram.to(ScalarType.Float64).neg().exp().mul(incidentPhotons);
        var counts = torch.poisson(rate, generator).clamp_min(1.0);
        return counts.div(incidentPhotons).log().neg().to(ScalarType.Float32).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Statistical weighting of a post-log sinogram y = −ln(N/I0) from Poisson counts N: its variance is ≈ 1/N per ray,
    /// so the data term ‖W^½(Ax − y)‖² with W = diag(N), N = I0·e^(−y) (at least one count), weighs each ray by its
    /// inverse variance (penalised weighted least squares). Returns W^½A (a <see cref="MaskOperator"/> of √N after
    /// <paramref name="projector"/>) and W^½y. No dispose scope: the weights live in the caller's.
    /// </summary>
    public static (LinearOperator Operator, Tensor Data) WeightByCounts(LinearOperator projector, Tensor sinogram, double incidentPhotons)
    {
        CheckPhotons(incidentPhotons);
        var y = sinogram.to(ScalarType.Float32);
        var whiten = (y.neg().exp() * incidentPhotons).clamp_min(1.0).sqrt();
        return (new MaskOperator(whiten) * projector, y * whiten);
    }

    /// <summary>The one rule for a dose: positive and finite.</summary>
    public static void CheckPhotons(double incidentPhotons)
    {
        if (!(incidentPhotons > 0) || !double.IsFinite(incidentPhotons))
            throw new ArgumentException($"photon count {incidentPhotons}: must be positive and finite");
    }

    /// <summary>Additive white Gaussian noise with standard deviation <paramref name="sigma"/> (sinogram units).</summary>
    public static Tensor AddGaussianNoise(Tensor sinogram, double sigma, torch.Generator generator)
    {
        if (!(sigma >= 0) || !double.IsFinite(sigma)) throw new ArgumentException($"noise sigma must be ≥ 0, got {sigma}");
        using var scope = NewDisposeScope();
        var noise = torch.randn(sinogram.shape, ScalarType.Float32, generator: generator).mul(sigma);
        return (sinogram.to(ScalarType.Float32) + noise).MoveToOuterDisposeScope();
    }
}
