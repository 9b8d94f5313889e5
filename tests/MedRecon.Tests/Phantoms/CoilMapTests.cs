using MedRecon.Core;
using MedRecon.Phantoms;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;
using static MedRecon.Tests.Phantoms.PhantomTestUtil;

namespace MedRecon.Tests.Phantoms;

public class CoilMapTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(8, 64, 64, 1.5)]
    [InlineData(4, 48, 40, 1.2)]   // coils closer than the corners: softened, still finite
    [InlineData(1, 16, 16, 1.5)]
    public void BirdcageShapeFiniteAndSumOfSquaresIsOne(int coils, int ny, int nx, double radius)
    {
        using var scope = NewDisposeScope();
        var maps = CoilMaps.Birdcage(coils, ny, nx, radius);
        Assert.Equal(new long[] { coils, ny, nx }, maps.shape);
        Assert.Equal(ScalarType.ComplexFloat32, maps.dtype);
        Assert.True(Tensors.AllFinite(maps));
        var sos = CoilMaps.SumOfSquares(maps);
        Assert.True((sos - 1).abs().max().item<float>() < 1e-5f);
    }

    [Fact]
    public void BirdcageMapsAreSmoothWithMagnitudeFallingAwayFromTheCoil()
    {
        using var scope = NewDisposeScope();
        var maps = CoilMaps.Birdcage(8, 64, 64);
        // Neighbouring pixels differ by little inside the inscribed disc, where objects lie (the maps change fastest
        // in the corners nearest a coil, which sit just outside the field of view at the default radius 1.5).
        var (x, y) = EllipsePhantom.PixelCentres(64, 64);
        var disc = (x.square() + y.square()) < 1.0;
        var ddx = (maps.narrow(2, 1, 63) - maps.narrow(2, 0, 63)).abs();
        var ddy = (maps.narrow(1, 1, 63) - maps.narrow(1, 0, 63)).abs();
        float dxDisc = (ddx * disc.narrow(1, 0, 63)).max().item<float>();
        float dyDisc = (ddy * disc.narrow(0, 0, 63)).max().item<float>();
        output.WriteLine($"max neighbour difference inside the disc: along x {dxDisc:F4}, along y {dyDisc:F4}; anywhere {ddx.max().item<float>():F4}");
        Assert.True(dxDisc < 0.1f && dyDisc < 0.1f);
        Assert.True(ddx.max().item<float>() < 0.25f && ddy.max().item<float>() < 0.25f);
        // Coil 0 sits at angle 0 (right), coil 2 at 90° (top): brighter on their side.
        var m = maps.abs();
        Assert.True(m[0, 32, 62].item<float>() > 3 * m[0, 32, 1].item<float>());
        Assert.True(m[2, 1, 32].item<float>() > 3 * m[2, 62, 32].item<float>());
        // Phase varies with position (not a real-valued map).
        var phase = maps[0].angle();
        Assert.True((phase.max() - phase.min()).item<float>() > 1.0f);
    }

    [Fact]
    public void FunctionFormAndInterpolationAgreeWithSampledMaps()
    {
        using var scope = NewDisposeScope();
        var f = CoilMaps.BirdcageFunction(6, 1.5);
        var maps = CoilMaps.Birdcage(6, 40, 48, 1.5);
        var (x, y) = EllipsePhantom.PixelCentres(40, 48);
        Assert.Equal(0f, (f(x, y) - maps).abs().max().item<float>());
        // Cubic interpolation reproduces the samples at the grid points and approximates the analytic maps on a 4x grid.
        var interp = CoilMaps.Interpolate(maps);
        Assert.True((interp(x, y) - maps).abs().max().item<float>() < 1e-5f);
        var (xf, yf) = EllipsePhantom.PixelCentres(160, 192);
        double e = RelErr(f(xf, yf), interp(xf, yf));
        // Bilinear path for non-separable point sets (full 2-D grids).
        var xg = xf.expand(160, 192);
        var yg = yf.expand(160, 192);
        double eLinear = RelErr(f(xf, yf), interp(xg, yg));
        output.WriteLine($"interpolated vs analytic maps on the 4x grid: relative error cubic {e:E2}, bilinear {eLinear:E2}");
        Assert.True(e < 1e-2, $"cubic {e}");
        Assert.True(eLinear < 2e-2, $"bilinear {eLinear}");
    }

    [Fact]
    public void MultiCoilKSpaceCombinesToTheSingleCoilImage()
    {
        using var scope = NewDisposeScope();
        var sl = EllipsePhantom.SheppLogan();
        int n = 64, coils = 8;
        var k = sl.KSpaceBirdcage(coils, n, n);
        Assert.Equal(new long[] { coils, n, n }, k.shape);
        Assert.Equal(ScalarType.ComplexFloat32, k.dtype);
        Assert.True(Tensors.AllFinite(k));
        // Σ_c conj(S_c)·IFFT(k_c) = image, since Σ|S_c|² = 1: compare with the IFFT of the analytic single-coil k-space.
        var maps = CoilMaps.Birdcage(coils, n, n);
        var combined = (maps.conj() * Fft.InverseCentered2D(k)).sum(dim: 0);
        var single = Fft.InverseCentered2D(sl.KSpace(n, n));
        double e = RelErr(single, combined);
        // With maps sampled on the coarse grid (interpolated to the fine grid) the result is close to the analytic path.
        var kTensor = sl.KSpace(maps);
        double et = RelErr(k, kTensor);
        output.WriteLine($"{coils} coils {n}x{n}: SENSE combination vs single-coil image relative error {e:E2}; maps-tensor vs analytic-maps k-space {et:E2}");
        Assert.True(e < 0.1, $"combination {e}");
        Assert.True(et < 2e-2, $"maps tensor {et}");
    }
}
