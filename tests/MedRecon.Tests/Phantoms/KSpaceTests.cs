using MedRecon.Core;
using MedRecon.Phantoms;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;
using static MedRecon.Tests.Phantoms.PhantomTestUtil;

namespace MedRecon.Tests.Phantoms;

public class KSpaceTests(ITestOutputHelper output)
{
    [Fact]
    public void DcEqualsIntegralOfPhantom()
    {
        using var scope = NewDisposeScope();
        var sl = EllipsePhantom.SheppLogan();
        double integral = sl.Ellipses.Sum(e => e.Intensity * Math.PI * e.A * e.B);
        foreach (var (ny, nx) in new[] { (32, 32), (33, 31), (40, 24) })
        {
            var k = sl.KSpace(ny, nx);
            Assert.Equal(new long[] { ny, nx }, k.shape);
            Assert.Equal(ScalarType.ComplexFloat32, k.dtype);
            // DC of the orthonormal DFT of samples = Σ f / sqrt(N) ≈ ∫ f / (ΔxΔy sqrt(N)) = ∫ f · sqrt(nx ny) / 4.
            var dc = k[ny / 2, nx / 2];
            Assert.Equal(integral * Math.Sqrt((double)nx * ny) / 4, dc.real.item<float>(), 4);
            Assert.Equal(0.0, dc.imag.item<float>(), 6);
        }
    }

    /// <summary>
    /// The analytic transform against the FFT of a 16x supersampled raster: multiplying the analytic k-space by the
    /// known pixel-averaging filter leaves only the raster's aliasing, which is small at low frequencies. A half-pixel
    /// error in the phase convention would give ~πq/N rad (~20 % at |q| = N/16) and fail this.
    /// </summary>
    [Theory]
    [InlineData(64, 64)]
    [InlineData(63, 63)]
    [InlineData(64, 48)]
    [InlineData(65, 50)]
    public void AnalyticKSpaceMatchesFftOfSupersampledRaster(int ny, int nx)
    {
        using var scope = NewDisposeScope();
        var sl = EllipsePhantom.SheppLogan();
        var analytic = sl.KSpace(ny, nx).to(ScalarType.ComplexFloat64) * BoxFilter(ny, nx, 16);
        var fft = Fft.Centered2D(sl.Rasterize(ny, nx, 16)).to(ScalarType.ComplexFloat64);
        var m8 = CentralMask(ny, nx, 0.125);
        var m4 = CentralMask(ny, nx, 0.25);
        var m2 = CentralMask(ny, nx, 0.5);
        double e8 = RelErr(fft[m8], analytic[m8]), e4 = RelErr(fft[m4], analytic[m4]), e2 = RelErr(fft[m2], analytic[m2]);
        output.WriteLine($"{ny}x{nx}: relative error, central 1/8 band {e8:E2}, 1/4 band {e4:E2}, 1/2 band {e2:E2}");
        Assert.True(e8 < 3e-3, $"central 1/8: {e8}");
        Assert.True(e4 < 1.5e-2, $"central 1/4: {e4}");
        Assert.True(e2 < 5e-2, $"central 1/2: {e2}");
    }

    [Fact]
    public void OffCentreEllipsePhaseIsExact()
    {
        // A smooth-ish small disc far from the centre: the linear phase of its position dominates.
        using var scope = NewDisposeScope();
        var p = new EllipsePhantom("disc", new[] { new Ellipse(1, 0.15, 0.1, 0.43, -0.31, 20) });
        foreach (var n in new[] { 64, 65 })
        {
            var analytic = p.KSpace(n, n).to(ScalarType.ComplexFloat64) * BoxFilter(n, n, 16);
            var fft = Fft.Centered2D(p.Rasterize(n, n, 16)).to(ScalarType.ComplexFloat64);
            var m = CentralMask(n, n, 0.25);
            double e = RelErr(fft[m], analytic[m]);
            output.WriteLine($"off-centre disc {n}x{n}: central 1/4 band relative error {e:E2}");
            Assert.True(e < 1e-2, $"{n}: {e}");
        }
    }

    [Theory]
    [InlineData(128, 0.015)]
    [InlineData(64, 0.03)]
    public void InverseFftOfAnalyticKSpaceResemblesRaster(int n, double maxNmse)
    {
        using var scope = NewDisposeScope();
        var sl = EllipsePhantom.SheppLogan();
        var img = Fft.InverseCentered2D(sl.KSpace(n, n)).real;
        double nmse = Nmse(sl.Rasterize(n, 8), img);
        output.WriteLine($"{n}x{n}: NMSE(Rasterize, Re IFFT(KSpace)) = {nmse:P2} (Gibbs ringing at the edges)");
        Assert.True(nmse < maxNmse, $"NMSE {nmse}");
    }

    [Fact]
    public void FineGridSimulationWithUnitMapsMatchesAnalytic()
    {
        using var scope = NewDisposeScope();
        var sl = EllipsePhantom.SheppLogan();
        CoilSensitivity ones = (x, y) => torch.ones(1, y.shape[0], x.shape[1], ScalarType.ComplexFloat32);
        foreach (var (ny, nx) in new[] { (64, 64), (63, 50) })
        {
            var analytic = sl.KSpace(ny, nx);
            var fine8 = sl.KSpace(ones, ny, nx, fineFactor: 8);
            var fine4 = sl.KSpace(ones, ny, nx);
            var fromTensor = sl.KSpace(torch.ones(2, ny, nx, ScalarType.ComplexFloat32));
            Assert.Equal(new long[] { 1, ny, nx }, fine4.shape);
            Assert.Equal(new long[] { 2, ny, nx }, fromTensor.shape);
            double e8 = RelErr(analytic, fine8[0]), e4 = RelErr(analytic, fine4[0]), et = RelErr(analytic, fromTensor[1]);
            output.WriteLine($"{ny}x{nx}: whole k-space relative error vs analytic: fine x8 {e8:E2}, fine x4 {e4:E2}, maps tensor {et:E2}");
            Assert.True(e8 < 1e-2, $"x8 {e8}");
            Assert.True(e4 < 2.5e-2, $"x4 {e4}");
            Assert.True(et < 2.5e-2, $"tensor {et}");
        }
    }
}
