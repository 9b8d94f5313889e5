using TorchSharp;
using static TorchSharp.torch;

namespace MedRecon.Core;

/// <summary>
/// Image-quality metrics in one place; definitions in docs/metrics.md.
/// <list type="bullet">
/// <item>Inputs: a 2-D image (rows, cols) or a 3-D volume (slices, rows, cols) — a stack of 2-D slices. Reference and
/// test must have the same shape.</item>
/// <item>Complex inputs are replaced by their magnitude (each input separately) before anything else.</item>
/// <item>Data range R = max(ref) − min(ref), taken over the whole input (the whole volume for 3-D).</item>
/// <item>Per volume: PSNR and NMSE pool all voxels; SSIM is the mean over slices of the 2-D SSIM, each computed
/// with the volume's R (fastMRI's per-volume convention).</item>
/// <item>Everything is computed in float64.</item>
/// </list>
/// </summary>
public static class Metrics
{
    public const double SsimK1 = 0.01, SsimK2 = 0.03, SsimSigma = 1.5;

    /// <summary>scipy.ndimage's default Gaussian truncation used by scikit-image's SSIM (radius = int(3.5σ + 0.5) = 5).</summary>
    public const double SsimTruncate = 3.5;

    /// <summary>PSNR in dB with data range = max(ref) − min(ref), on magnitudes for complex input.
    /// PSNR = 10·log10(R² / MSE); +∞ when test equals ref.</summary>
    public static double Psnr(Tensor reference, Tensor test)
    {
        using var scope = NewDisposeScope();
        var (r, t) = Prepare(reference, test, nameof(Psnr));
        double range = DataRange(r, nameof(Psnr));
        double mse = (r - t).square().mean().item<double>();
        return 10.0 * Math.Log10(range * range / mse);
    }

    /// <summary>SSIM (Gaussian window σ = 1.5, K1 = 0.01, K2 = 0.03, data range = max(ref) − min(ref)).
    /// Matches scikit-image's <c>structural_similarity(ref, test, data_range=R, gaussian_weights=True, sigma=1.5,
    /// use_sample_covariance=False)</c> per 2-D slice; for 3-D input the mean over slices (R from the whole volume).</summary>
    public static double Ssim(Tensor reference, Tensor test)
    {
        using var scope = NewDisposeScope();
        var (r, t) = Prepare(reference, test, nameof(Ssim));
        double range = DataRange(r, nameof(Ssim));
        return SsimMap(r, t, range).mean().item<double>();
    }

    /// <summary>Mean SSIM of each 2-D slice of a 3-D input (slices, rows, cols), each with the volume's data range.</summary>
    public static double[] SsimPerSlice(Tensor reference, Tensor test)
    {
        using var scope = NewDisposeScope();
        var (r, t) = Prepare(reference, test, nameof(SsimPerSlice));
        double range = DataRange(r, nameof(SsimPerSlice));
        var map = SsimMap(r, t, range);
        return map.dim() == 2
            ? new[] { map.mean().item<double>() }
            : map.mean(new long[] { 1, 2 }).data<double>().ToArray();
    }

    /// <summary>NMSE = ‖ref − test‖² / ‖ref‖² (magnitudes for complex input, pooled over the whole input).</summary>
    public static double Nmse(Tensor reference, Tensor test)
    {
        using var scope = NewDisposeScope();
        var (r, t) = Prepare(reference, test, nameof(Nmse));
        double den = r.square().sum().item<double>();
        if (den == 0) throw new ArgumentException("Nmse: the reference is all zeros, so NMSE is undefined");
        return (r - t).square().sum().item<double>() / den;
    }

    public static MetricSet Compute(Tensor reference, Tensor test) =>
        new(Psnr(reference, test), Ssim(reference, test), Nmse(reference, test));

    /// <summary>
    /// How well a per-pixel standard deviation (the spread of K sampled reconstructions) points at the error of their
    /// mean against a reference (docs/metrics.md, "Uncertainty"): the Pearson correlation of std and |error| over the
    /// pixels (null when either is constant), the share of pixels with |error| ≤ 2·std (≈ 0.95 for a calibrated
    /// Gaussian spread), RMS(error) / RMS(std) (1 when calibrated), and the share of the squared error held by the
    /// 10 % of pixels with the largest std, beside the most any ranking can put there (the 10 % with the largest
    /// error) — a random ranking holds 10 %.
    /// </summary>
    public static UncertaintyCalibration Uncertainty(Tensor reference, Tensor mean, Tensor std)
    {
        using var scope = NewDisposeScope();
        var (r, m) = Prepare(reference, mean, nameof(Uncertainty));
        var (_, s) = Prepare(reference, std, nameof(Uncertainty));
        var error = (r - m).abs().flatten();
        var squares = error.square();
        var spread = s.flatten();
        if (spread.min().item<double>() < 0) throw new ArgumentException("Uncertainty: the standard deviation has negative values");
        double errorSquares = squares.sum().item<double>();
        if (!(errorSquares > 0)) throw new ArgumentException("Uncertainty: the mean equals the reference, so there is no error to predict");
        double spreadSquares = spread.square().sum().item<double>();
        if (!(spreadSquares > 0)) throw new ArgumentException("Uncertainty: the standard deviation is zero everywhere (one sample?)");

        var ec = error - error.mean();
        var sc = spread - spread.mean();
        double den = Math.Sqrt(ec.square().sum().item<double>() * sc.square().sum().item<double>());
        double? correlation = den > 0 ? (ec * sc).sum().item<double>() / den : null;
        double coverage = (error <= 2 * spread).to(ScalarType.Float64).mean().item<double>();
        double ratio = Math.Sqrt(errorSquares / spreadSquares);

        long top = Math.Max(1, error.numel() / 10);
        var byStd = spread.topk((int)top).indexes;
        double share = squares.index_select(0, byStd).sum().item<double>() / errorSquares;
        double oracle = squares.topk((int)top).values.sum().item<double>() / errorSquares;
        return new UncertaintyCalibration(correlation, coverage, ratio, share, oracle);
    }

    static (Tensor Ref, Tensor Test) Prepare(Tensor reference, Tensor test, string who)
    {
        ArgumentNullException.ThrowIfNull(reference);
        ArgumentNullException.ThrowIfNull(test);
        if (!reference.shape.SequenceEqual(test.shape))
            throw new ArgumentException($"{who}: reference {Tensors.ShapeString(reference.shape)} and test {Tensors.ShapeString(test.shape)} differ in shape");
        if (reference.dim() is not (2 or 3))
            throw new ArgumentException($"{who}: expected a 2-D image (rows, cols) or a 3-D stack (slices, rows, cols), got shape {Tensors.ShapeString(reference.shape)}");
        if (reference.numel() == 0) throw new ArgumentException($"{who}: empty input {Tensors.ShapeString(reference.shape)}");
        return (ToReal64(reference), ToReal64(test));
    }

    static Tensor ToReal64(Tensor x)
    {
        var c = x.detach().cpu();
        if (c.is_complex()) return c.to(ScalarType.ComplexFloat64).abs();
        return c.to(ScalarType.Float64);
    }

    static double DataRange(Tensor r, string who)
    {
        double range = (r.max() - r.min()).item<double>();
        if (!(range > 0))
            throw new ArgumentException($"{who}: the reference is constant (max − min = {range}), so the data range is zero");
        return range;
    }

    /// <summary>
    /// The SSIM map restricted to the pixels scikit-image averages: filtering with a truncated Gaussian
    /// (11 taps for σ = 1.5) and cropping (win−1)/2 = 5 pixels at every edge. In that cropped region the filter
    /// never reaches the padding, so a 'valid' convolution gives exactly the same numbers as skimage's reflect mode
    /// followed by the crop. Input (rows, cols) or (slices, rows, cols); output (rows−10, cols−10) per slice.
    /// </summary>
    static Tensor SsimMap(Tensor x, Tensor y, double range)
    {
        int radius = (int)(SsimTruncate * SsimSigma + 0.5);
        int win = 2 * radius + 1;
        bool stack = x.dim() == 3;
        long rows = x.shape[^2], cols = x.shape[^1];
        if (rows < win || cols < win)
            throw new ArgumentException($"Ssim: images must be at least {win}×{win} (the Gaussian window), got {rows}×{cols}");

        var taps = new double[win];
        double sum = 0;
        for (int i = 0; i < win; i++)
        {
            double d = i - radius;
            taps[i] = Math.Exp(-0.5 * d * d / (SsimSigma * SsimSigma));
            sum += taps[i];
        }
        for (int i = 0; i < win; i++) taps[i] /= sum;
        var k = torch.tensor(taps, ScalarType.Float64);
        var kRow = k.reshape(1, 1, win, 1);
        var kCol = k.reshape(1, 1, 1, win);

        var xs = x.reshape(-1, 1, rows, cols);
        var ys = y.reshape(-1, 1, rows, cols);
        long n = xs.shape[0];
        // Filter the five maps together as one batch.
        var batch = torch.cat(new[] { xs, ys, xs * xs, ys * ys, xs * ys }, 0);
        var f = nn.functional.conv2d(nn.functional.conv2d(batch, kRow), kCol);
        var parts = f.split(n, 0);
        Tensor ux = parts[0], uy = parts[1], uxx = parts[2], uyy = parts[3], uxy = parts[4];
        var vx = uxx - ux * ux;
        var vy = uyy - uy * uy;
        var vxy = uxy - ux * uy;
        double c1 = Math.Pow(SsimK1 * range, 2), c2 = Math.Pow(SsimK2 * range, 2);
        var a1 = 2 * ux * uy + c1;
        var a2 = 2 * vxy + c2;
        var b1 = ux * ux + uy * uy + c1;
        var b2 = vx + vy + c2;
        var s = a1 * a2 / (b1 * b2);
        return stack ? s.reshape(n, rows - 2 * radius, cols - 2 * radius) : s.reshape(rows - 2 * radius, cols - 2 * radius);
    }
}

public readonly record struct MetricSet(double Psnr, double Ssim, double Nmse);

/// <summary>What <see cref="Metrics.Uncertainty"/> measures: correlation of std and |error| (null when either is
/// constant), share of pixels with |error| ≤ 2·std, RMS(error)/RMS(std), and the share of the squared error in the
/// 10 % most uncertain pixels beside the most any ranking reaches.</summary>
public sealed record UncertaintyCalibration(double? Correlation, double Coverage2Std, double ErrorToStdRatio,
    double ErrorShareTop10, double ErrorShareTop10Oracle);
