using MedRecon.Model;
using MedRecon.Model.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace MedRecon.Tests.Model;

public class PriorEvaluationTests
{
    [Fact]
    public void GaussianKeepsConstantsAndPsnrFollowsItsDefinition()
    {
        using var c = torch.full(new long[] { 12, 12 }, 0.3f);
        using var g = PriorEvaluation.Gaussian(c, 1.5);
        Assert.True(torch.allclose(g, c, atol: 1e-6));
        using var reference = torch.linspace(-1, 1, 100).reshape(10, 10);
        using var test = reference + 0.1;
        // data_range 2, MSE 0.01 → 10·log10(4 / 0.01) = 26.02 dB
        Assert.Equal(26.0206, PriorEvaluation.Psnr(reference, test), 3);
    }

    [Fact]
    public void DenoisingTableHasOneRowPerSigmaAndTheUntrainedNetworkOnlyScalesTheInput()
    {
        // An untrained network has a zero output layer: f = c_skip·x, which shrinks the noisy input.
        using var f = new ConsistencyFunction(new UNet(UNetConfig.Tiny, new torch.Generator(1)));
        var slices = new[] { torch.linspace(-1, 1, 256).reshape(16, 16), torch.linspace(1, -1, 256).reshape(16, 16) };
        var tuning = new[] { torch.linspace(-1, 1, 256).reshape(16, 16).t(), torch.linspace(1, -1, 256).reshape(16, 16).t() };
        var rows = PriorEvaluation.Denoising(f, slices, new[] { 0.1, 0.5 }, seed: 3, tuningSlices: tuning);
        Assert.Equal(2, rows.Count);
        Assert.All(rows, r => Assert.Equal(2, r.Slices));
        Assert.True(rows[0].PsnrNoisy > rows[1].PsnrNoisy);
        Assert.True(rows[1].PsnrGaussian > rows[1].PsnrNoisy, "the oracle Gaussian must beat the noisy input at σ = 0.5");
        // Smooth ramps: TV with λ tuned on the (transposed) training ramps must beat the noisy input too.
        Assert.All(rows, r => Assert.True(r.PsnrTv > r.PsnrNoisy + 1, $"σ {r.Sigma}: TV {r.PsnrTv:F2} dB vs noisy {r.PsnrNoisy:F2} dB"));
        Assert.All(rows, r => Assert.Equal("training slices", r.TvRule));
        Assert.All(rows, r => Assert.Contains(PriorEvaluation.RofFactors, k => Math.Abs(k * r.Sigma - r.TvLambda) < 1e-12));
        Assert.All(rows, r => Assert.True(r.SsimModel is > -1 and <= 1 && r.SsimTv is > -1 and <= 1 && r.SsimNoisy < r.SsimTv));
        string md = PriorEvaluation.Markdown(rows);
        Assert.Contains("| 0.1 |", md);
        Assert.Contains("PSNR TV/ROF (dB)", md);
        Assert.Contains("SSIM f(x+σz, σ)", md);
    }
}
