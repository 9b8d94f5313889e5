using TorchSharp;
using static TorchSharp.torch;

namespace MedRecon.Model.Training;

/// <summary>
/// The model card's quality table: denoising PSNR of f(x + σz, σ) on held-out slices, against the noisy input and a
/// classical baseline (a Gaussian filter whose width is picked per σ by an oracle, i.e. the best of a grid measured
/// against the clean slice — an upper bound for that filter). PSNR per slice with
/// data_range = max(ref) − min(ref) (DESIGN.md), averaged over slices; all in normalised units.
/// </summary>
public static class PriorEvaluation
{
    public sealed record Row(double Sigma, double PsnrNoisy, double PsnrModel, double PsnrGaussian, double GaussianWidthPx, int Slices);

    public static readonly double[] DefaultSigmas = { 0.05, 0.1, 0.2, 0.5, 1.0 };
    static readonly double[] GaussianWidths = { 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0 };

    /// <param name="slices">Clean held-out slices [H, W] in network units.</param>
    /// <param name="crop">Centre crop (pixels) to bound the cost; null = whole slice.</param>
    public static IReadOnlyList<Row> Denoising(ConsistencyFunction f, IReadOnlyList<Tensor> slices, IReadOnlyList<double> sigmas, ulong seed, int? crop = null)
    {
        var rows = new List<Row>();
        using var noGrad = torch.no_grad();
        f.Network.eval();
        foreach (double sigma in sigmas)
        {
            double noisySum = 0, modelSum = 0;
            var gaussSums = new double[GaussianWidths.Length];
            var gen = new torch.Generator(seed + (ulong)(sigma * 1e6));
            foreach (var full in slices)
            {
                using var scope = NewDisposeScope();
                var x = Crop(full.to(ScalarType.Float32), crop);
                var noisy = x + torch.randn(x.shape, generator: gen) * sigma;
                noisySum += Psnr(x, noisy);
                modelSum += Psnr(x, f.Forward(noisy, sigma));
                for (int i = 0; i < GaussianWidths.Length; i++) gaussSums[i] += Psnr(x, Gaussian(noisy, GaussianWidths[i]));
            }
            int best = Array.IndexOf(gaussSums, gaussSums.Max());
            int n = slices.Count;
            rows.Add(new Row(sigma, noisySum / n, modelSum / n, gaussSums[best] / n, GaussianWidths[best], n));
        }
        return rows;
    }

    public static string Markdown(IReadOnlyList<Row> rows)
    {
        var lines = new List<string>
        {
            "| σ (normalised) | PSNR noisy (dB) | PSNR f(x+σz, σ) (dB) | PSNR Gaussian, oracle width (dB) | width (px) |",
            "| --- | --- | --- | --- | --- |",
        };
        lines.AddRange(rows.Select(r => $"| {r.Sigma:0.###} | {r.PsnrNoisy:F2} | {r.PsnrModel:F2} | {r.PsnrGaussian:F2} | {r.GaussianWidthPx:0.##} |"));
        return string.Join("\n", lines);
    }

    /// <summary>PSNR in dB as defined in <see cref="MedRecon.Core.Metrics"/> (data range = max(ref) − min(ref)), over all pixels.</summary>
    public static double Psnr(Tensor reference, Tensor test) =>
        MedRecon.Core.Metrics.Psnr(reference.reshape(-1, reference.shape[^2], reference.shape[^1]),
            test.reshape(-1, test.shape[^2], test.shape[^1]));

    static Tensor Crop(Tensor x, int? crop)
    {
        if (crop is not { } c || (x.shape[^2] <= c && x.shape[^1] <= c)) return x;
        long h = Math.Min(c, x.shape[^2]), w = Math.Min(c, x.shape[^1]);
        return x.narrow(-2, (x.shape[^2] - h) / 2, h).narrow(-1, (x.shape[^1] - w) / 2, w);
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
