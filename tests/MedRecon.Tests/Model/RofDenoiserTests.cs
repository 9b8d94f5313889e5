using MedRecon.Model.Training;
using MedRecon.Phantoms;
using TorchSharp;
using static TorchSharp.torch;

namespace MedRecon.Tests.Model;

public class RofDenoiserTests
{
    static Tensor NormalisedPhantom(int size)
    {
        var img = EllipsePhantom.SheppLogan().Rasterize(size).to(ScalarType.Float32);
        return img / img.max() * 2.0 - 1.0;
    }

    [Fact]
    public void RofLowersTheErrorOfANoisyPhantomByAClearMargin()
    {
        using var scope = NewDisposeScope();
        var clean = NormalisedPhantom(96);
        var noisy = clean + torch.randn(clean.shape, generator: new torch.Generator(4)) * 0.2;
        var denoised = RofDenoiser.Denoise(noisy, lambda: 0.2);
        double before = PriorEvaluation.Psnr(clean, noisy), after = PriorEvaluation.Psnr(clean, denoised);
        // Piecewise-constant phantom: TV's best case, so a clear margin. A much smaller λ must help, but clearly less.
        Assert.True(after > before + 6, $"ROF PSNR {after:F2} dB vs noisy {before:F2} dB");
        double weak = PriorEvaluation.Psnr(clean, RofDenoiser.Denoise(noisy, lambda: 0.01));
        Assert.True(weak < after - 3 && weak > before, $"λ = 0.01 gives {weak:F2} dB, λ = 0.2 gives {after:F2} dB, noisy {before:F2} dB");
    }

    [Fact]
    public void RofKeepsConstantsAndMeanAndStartsAtTheInputForLambdaZero()
    {
        using var scope = NewDisposeScope();
        var c = torch.full(new long[] { 20, 24 }, 0.3f);
        Assert.True(torch.allclose(RofDenoiser.Denoise(c, 0.5), c, atol: 1e-6));
        var noisy = torch.randn(new long[] { 2, 20, 24 }, generator: new torch.Generator(1));
        Assert.True(torch.equal(RofDenoiser.Denoise(noisy, 0), noisy).all().item<bool>());
        // div p sums to zero with Neumann boundaries, so ROF preserves each image's mean.
        var u = RofDenoiser.Denoise(noisy, 0.3);
        Assert.True(torch.allclose(u.mean(new long[] { 1, 2 }), noisy.mean(new long[] { 1, 2 }), atol: 1e-5));
        Assert.True((u - u.mean()).square().sum().item<float>() < (noisy - noisy.mean()).square().sum().item<float>());
    }
}
