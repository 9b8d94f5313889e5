using TorchSharp;
using static TorchSharp.torch;

namespace MedRecon.Model.Training;

/// <summary>
/// The model card's quality table: denoising PSNR and SSIM of f(x + σz, σ) on held-out slices, against the noisy
/// input and two classical baselines:
/// <list type="bullet">
/// <item>TV (ROF) denoising, <see cref="RofDenoiser"/>, with λ = k·σ where the factor k is chosen per σ on
/// <em>training</em> slices (never the held-out ones): a fixed, non-oracle rule, a fair baseline;</item>
/// <item>a Gaussian filter whose width is picked per σ by an <b>oracle</b> (the best of a grid measured against the
/// clean held-out slice): an upper bound for that filter, not something a user could run.</item>
/// </list>
/// PSNR and SSIM per slice with data_range = max(ref) − min(ref) (<see cref="MedRecon.Core.Metrics"/>), averaged over
/// slices; all in normalised units.
/// </summary>
public static class PriorEvaluation
{
    public sealed record Row(double Sigma, double PsnrNoisy, double PsnrModel, double PsnrGaussian, double GaussianWidthPx, int Slices)
    {
        public double PsnrTv { get; init; } = double.NaN;
        /// <summary>The ROF λ used at this σ (absolute, normalised units).</summary>
        public double TvLambda { get; init; } = double.NaN;
        /// <summary>Where λ came from: "training slices" or "default rule".</summary>
        public string TvRule { get; init; } = "";
        public double SsimNoisy { get; init; } = double.NaN;
        public double SsimModel { get; init; } = double.NaN;
        public double SsimTv { get; init; } = double.NaN;
        /// <summary>SSIM of the Gaussian at the PSNR-oracle width.</summary>
        public double SsimGaussian { get; init; } = double.NaN;
    }

    public static readonly double[] DefaultSigmas = { 0.05, 0.1, 0.2, 0.5, 1.0 };
    static readonly double[] GaussianWidths = { 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0 };

    /// <summary>Grid of k in λ = k·σ searched on training slices.</summary>
    public static readonly double[] RofFactors = { 0.25, 0.35, 0.5, 0.7, 1.0, 1.4, 2.0, 2.8, 4.0 };

    /// <summary>k used when no training slices are given: the middle of what the training-slice search picked on the MR
    /// brain slices (0.7 at σ ≤ 0.1 up to 2 at σ = 1).</summary>
    public const double DefaultRofFactor = 1.0;

    /// <summary>At most this many training slices (evenly spaced) are used to tune the ROF λ.</summary>
    public const int MaxTuningSlices = 4;

    /// <param name="slices">Clean held-out slices [H, W] in network units.</param>
    /// <param name="crop">Centre crop (pixels) to bound the cost; null = whole slice.</param>
    /// <param name="tuningSlices">Clean training slices (never held-out ones) on which λ of the ROF baseline is chosen
    /// per σ; null or empty = λ = <see cref="DefaultRofFactor"/>·σ.</param>
    public static IReadOnlyList<Row> Denoising(ConsistencyFunction f, IReadOnlyList<Tensor> slices, IReadOnlyList<double> sigmas, ulong seed, int? crop = null,
        IReadOnlyList<Tensor>? tuningSlices = null)
    {
        var rows = new List<Row>();
        using var noGrad = torch.no_grad();
        f.Network.eval();
        var tuning = Spread(tuningSlices ?? Array.Empty<Tensor>(), MaxTuningSlices);
        foreach (double sigma in sigmas)
        {
            var (k, rule) = tuning.Count > 0 ? (TuneRofFactor(tuning, sigma, seed ^ 0x5EEDUL, crop), "training slices") : (DefaultRofFactor, "default rule");
            double lambda = k * sigma;
            double noisySum = 0, modelSum = 0, tvSum = 0, ssimNoisy = 0, ssimModel = 0, ssimTv = 0;
            var gaussSums = new double[GaussianWidths.Length];
            var gaussSsim = new double[GaussianWidths.Length];
            var gen = new torch.Generator(seed + (ulong)(sigma * 1e6));
            foreach (var full in slices)
            {
                using var scope = NewDisposeScope();
                var x = Crop(full.to(ScalarType.Float32), crop);
                var noisy = x + torch.randn(x.shape, generator: gen) * sigma;
                var denoised = f.Forward(noisy, sigma);
                var tv = RofDenoiser.Denoise(noisy, lambda);
                noisySum += Psnr(x, noisy);
                modelSum += Psnr(x, denoised);
                tvSum += Psnr(x, tv);
                ssimNoisy += Ssim(x, noisy);
                ssimModel += Ssim(x, denoised);
                ssimTv += Ssim(x, tv);
                for (int i = 0; i < GaussianWidths.Length; i++)
                {
                    var g = Gaussian(noisy, GaussianWidths[i]);
                    gaussSums[i] += Psnr(x, g);
                    gaussSsim[i] += Ssim(x, g);
                }
            }
            int best = Array.IndexOf(gaussSums, gaussSums.Max());
            int n = slices.Count;
            rows.Add(new Row(sigma, noisySum / n, modelSum / n, gaussSums[best] / n, GaussianWidths[best], n)
            {
                PsnrTv = tvSum / n, TvLambda = lambda, TvRule = rule,
                SsimNoisy = ssimNoisy / n, SsimModel = ssimModel / n, SsimTv = ssimTv / n, SsimGaussian = gaussSsim[best] / n,
            });
        }
        return rows;
    }

    /// <summary>The k of λ = k·σ with the best mean PSNR of ROF on the (training) slices, noise seeded independently
    /// of the held-out evaluation.</summary>
    public static double TuneRofFactor(IReadOnlyList<Tensor> trainingSlices, double sigma, ulong seed, int? crop = null)
    {
        if (trainingSlices.Count == 0) return DefaultRofFactor;
        var sums = new double[RofFactors.Length];
        var gen = new torch.Generator(seed + (ulong)(sigma * 1e6));
        foreach (var full in trainingSlices)
        {
            using var scope = NewDisposeScope();
            var x = Crop(full.to(ScalarType.Float32), crop);
            var noisy = x + torch.randn(x.shape, generator: gen) * sigma;
            for (int i = 0; i < RofFactors.Length; i++) sums[i] += Psnr(x, RofDenoiser.Denoise(noisy, RofFactors[i] * sigma));
        }
        return RofFactors[Array.IndexOf(sums, sums.Max())];
    }

    public static string Markdown(IReadOnlyList<Row> rows)
    {
        var lines = new List<string>
        {
            "| σ (normalised) | PSNR noisy (dB) | PSNR f(x+σz, σ) (dB) | PSNR TV/ROF (dB) | ROF λ | PSNR Gaussian, oracle width (dB) | width (px) | SSIM noisy | SSIM f(x+σz, σ) | SSIM TV/ROF | SSIM Gaussian, oracle |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        };
        lines.AddRange(rows.Select(r => string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"| {r.Sigma:0.###} | {r.PsnrNoisy:F2} | {r.PsnrModel:F2} | {r.PsnrTv:F2} | {r.TvLambda:0.####} | {r.PsnrGaussian:F2} | {r.GaussianWidthPx:0.##} | {r.SsimNoisy:F4} | {r.SsimModel:F4} | {r.SsimTv:F4} | {r.SsimGaussian:F4} |")));
        return string.Join("\n", lines);
    }

    /// <summary>PSNR in dB as defined in <see cref="MedRecon.Core.Metrics"/> (data range = max(ref) − min(ref)), over all pixels.</summary>
    public static double Psnr(Tensor reference, Tensor test) =>
        MedRecon.Core.Metrics.Psnr(reference.reshape(-1, reference.shape[^2], reference.shape[^1]),
            test.reshape(-1, test.shape[^2], test.shape[^1]));

    /// <summary>SSIM as defined in <see cref="MedRecon.Core.Metrics"/> of one 2-D image (data range = max(ref) − min(ref)).</summary>
    public static double Ssim(Tensor reference, Tensor test) =>
        MedRecon.Core.Metrics.Ssim(reference.reshape(reference.shape[^2], reference.shape[^1]), test.reshape(test.shape[^2], test.shape[^1]));

    /// <summary>Centre crop of the last two dimensions (unchanged when the image is not larger).</summary>
    public static Tensor Crop(Tensor x, int? crop)
    {
        if (crop is not { } c || (x.shape[^2] <= c && x.shape[^1] <= c)) return x;
        long h = Math.Min(c, x.shape[^2]), w = Math.Min(c, x.shape[^1]);
        return x.narrow(-2, (x.shape[^2] - h) / 2, h).narrow(-1, (x.shape[^1] - w) / 2, w);
    }

    static IReadOnlyList<Tensor> Spread(IReadOnlyList<Tensor> items, int max)
    {
        if (items.Count <= max) return items;
        return Enumerable.Range(0, max).Select(i => items[(int)((i + 0.5) * items.Count / max)]).ToList();
    }

    /// <summary>Separable Gaussian filter (reflect padding) of a 2-D image.</summary>
    public static Tensor Gaussian(Tensor image, double widthPx)
    {
        using var scope = NewDisposeScope();
        int radius = (int)Math.Ceiling(3 * widthPx);
        var k = torch.arange(-radius, radius + 1, dtype: ScalarType.Float32);
        k = torch.exp(-(k * k) / (2 * widthPx * widthPx));
        k = k / k.sum();
        var x = image.reshape(1, 1, image.shape[^2], image.shape[^1]);
        x = torch.nn.functional.pad(x, new long[] { radius, radius, radius, radius }, PaddingModes.Reflect);
        x = torch.nn.functional.conv2d(x, k.reshape(1, 1, 1, -1));
        x = torch.nn.functional.conv2d(x, k.reshape(1, 1, -1, 1));
        return x.reshape(image.shape).MoveToOuterDisposeScope();
    }
}
