using MedRecon.Core;
using MedRecon.Operators.Mri;
using MedRecon.Phantoms;
using TorchSharp;
using static TorchSharp.torch;

namespace MedRecon.Tests.Operators;

public class KSpaceNoiseTests
{
    /// <summary>The outer-band MAD estimate recovers the noise added to the k-space of a phantom (8 coils, 4x), is near 0
    /// without noise, and refuses what it cannot estimate.</summary>
    [Fact]
    public void EstimatesTheNoiseOfTheOuterKSpace()
    {
        using var scope = NewDisposeScope();
        var image = EllipsePhantom.SheppLogan().Rasterize(128).to(ScalarType.ComplexFloat32) * 100;
        var maps = CoilMaps.Birdcage(8, 128, 128);
        var clean = Fft.Centered2D(maps * image.unsqueeze(0));
        var mask = SamplingMasks.Create(MaskKind.Random, 128, 128, 4, 0.08, 1).Mask;
        using var gen = new torch.Generator(7);
        // The phantom's sharp edges leave a little signal in the outer band: the floor the estimate cannot go below.
        double floor = KSpaceNoise.Estimate(clean * mask, mask);
        double peak = clean.abs().max().item<float>();
        Assert.True(floor < 5e-3 * peak, $"noise-free floor {floor:G3} vs k-space peak {peak:G3}");
        foreach (double sigma in new[] { 5 * floor, 20 * floor })
        {
            var noise = torch.complex(torch.randn(clean.shape, generator: gen), torch.randn(clean.shape, generator: gen)) * sigma;
            double estimate = KSpaceNoise.Estimate((clean + noise) * mask, mask);
            Assert.InRange(estimate, 0.95 * sigma, 1.1 * sigma);
        }
        // A mask with nothing in the outer half, and mismatched shapes, are refused.
        var centre = torch.zeros(128, 128);
        centre[TensorIndex.Slice(48, 80), TensorIndex.Slice(48, 80)] = 1;
        Assert.Throws<ArgumentException>(() => KSpaceNoise.Estimate(clean * centre, centre));
        Assert.False(KSpaceNoise.CanEstimate(centre)); // what a default estimate checks before it falls back to exact
        Assert.True(KSpaceNoise.CanEstimate(mask));
        Assert.False(KSpaceNoise.CanEstimate(SamplingMasks.Create(MaskKind.Random, 16, 16, 4, 0.08, 1).Mask)); // 16²: too few samples
        Assert.Throws<ArgumentException>(() => KSpaceNoise.Estimate(clean, torch.ones(64, 64)));
    }
}
