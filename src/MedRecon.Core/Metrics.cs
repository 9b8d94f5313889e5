using static TorchSharp.torch;

namespace MedRecon.Core;

/// <summary>Image-quality metrics in one place; definitions in docs/metrics.md.</summary>
public static class Metrics
{
    /// <summary>PSNR in dB with data range = max(ref) − min(ref), on magnitudes for complex input.</summary>
    public static double Psnr(Tensor reference, Tensor test) => throw new NotImplementedException();

    /// <summary>SSIM (Gaussian window σ = 1.5, K1 = 0.01, K2 = 0.03, data range = max(ref) − min(ref)).</summary>
    public static double Ssim(Tensor reference, Tensor test) => throw new NotImplementedException();

    /// <summary>NMSE = ‖ref − test‖² / ‖ref‖².</summary>
    public static double Nmse(Tensor reference, Tensor test) => throw new NotImplementedException();

    public static MetricSet Compute(Tensor reference, Tensor test) =>
        new(Psnr(reference, test), Ssim(reference, test), Nmse(reference, test));
}

public readonly record struct MetricSet(double Psnr, double Ssim, double Nmse);
