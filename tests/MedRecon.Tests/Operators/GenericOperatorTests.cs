using MedRecon.Core;
using MedRecon.Operators;
using TorchSharp;
using static TorchSharp.torch;

namespace MedRecon.Tests.Operators;

public class GenericOperatorTests
{
    static Tensor RandnComplex(long[] shape, ulong seed)
    {
        var gen = new torch.Generator(seed);
        return torch.complex(torch.randn(shape, generator: gen), torch.randn(shape, generator: gen));
    }

    [Fact]
    public void MaskOperatorZeroesUnsampledAndKeepsDtype()
    {
        using var scope = NewDisposeScope();
        var mask = torch.tensor(new float[] { 1, 0, 1, 0, 0, 1 }, new long[] { 2, 3 });
        using var op = new MaskOperator(mask);
        var x = torch.arange(1, 7, ScalarType.Float32).reshape(2, 3);
        var y = op.Forward(x);
        Assert.Equal(new float[] { 1, 0, 3, 0, 0, 6 }, y.data<float>().ToArray());
        var xc = RandnComplex(new long[] { 2, 3 }, 1);
        var yc = op.Forward(xc);
        Assert.Equal(ScalarType.ComplexFloat32, yc.dtype);
        Assert.Equal(0.0, Tensors.Norm(yc * (1 - mask)));
        var x64 = torch.ones(new long[] { 2, 3 }, ScalarType.Float64);
        Assert.Equal(ScalarType.Float64, op.Forward(x64).dtype);
        // 0/1 mask: DC(x) = x − Aᴴ(Ax − y) is a projection: applying it twice changes nothing.
        var target = torch.randn(2, 3);
        var dc = x - op.Adjoint(op.Forward(x) - op.Forward(target));
        Assert.Equal(0.0, Tensors.Norm(op.Forward(dc) - op.Forward(target)), 6);
    }

    [Fact]
    public void MaskOperatorRejectsBadMasks()
    {
        Assert.Throws<ArgumentException>(() => new MaskOperator(torch.ones(4, 5), new long[] { 4, 6 }));
        Assert.Throws<ArgumentException>(() => new MaskOperator(torch.ones(4, 5, ScalarType.ComplexFloat32)));
        using var op = new MaskOperator(torch.ones(4, 5));
        var ex = Assert.Throws<ArgumentException>(() => op.Forward(torch.zeros(5, 4)));
        Assert.Contains("(5, 4)", ex.Message);
    }

    [Fact]
    public void FiniteDifferencesMatchHandComputedValues()
    {
        using var scope = NewDisposeScope();
        // x[i, j] = i² + 10 j: d/drow = 2i + 1, d/dcol = 10 (0 at the last row/column with Neumann boundary).
        var x = torch.tensor(Enumerable.Range(0, 12).Select(k => (float)((k / 4) * (k / 4) + 10 * (k % 4))).ToArray(), new long[] { 3, 4 });
        var g = new FiniteDifferenceOperator(3, 4).Forward(x);
        Assert.Equal(new long[] { 2, 3, 4 }, g.shape);
        Assert.Equal(new float[] { 1, 1, 1, 1, 3, 3, 3, 3, 0, 0, 0, 0 }, g[0].contiguous().data<float>().ToArray());
        Assert.Equal(new float[] { 10, 10, 10, 0, 10, 10, 10, 0, 10, 10, 10, 0 }, g[1].contiguous().data<float>().ToArray());
        var gp = new FiniteDifferenceOperator(3, 4, periodic: true).Forward(x);
        Assert.Equal(new float[] { 1, 1, 1, 1, 3, 3, 3, 3, -4, -4, -4, -4 }, gp[0].contiguous().data<float>().ToArray());
        Assert.Equal(new float[] { 10, 10, 10, -30, 10, 10, 10, -30, 10, 10, 10, -30 }, gp[1].contiguous().data<float>().ToArray());
        // A constant image has zero gradient, for real and complex inputs.
        var c = torch.full(new long[] { 5, 6 }, new System.Numerics.Complex(2, -1), ScalarType.ComplexFloat32);
        Assert.Equal(0.0, Tensors.Norm(new FiniteDifferenceOperator(5, 6).Forward(c)));
    }

    [Theory]
    [InlineData(WaveletKind.Haar, 1)]
    [InlineData(WaveletKind.Haar, 4)]
    [InlineData(WaveletKind.Daubechies4, 1)]
    [InlineData(WaveletKind.Daubechies4, 3)]
    public void WaveletIsOrthonormalAndExactlyInvertible(WaveletKind kind, int levels)
    {
        using var scope = NewDisposeScope();
        var w = new Wavelet2DOperator(32, 48, levels, kind);
        var x = RandnComplex(new long[] { 32, 48 }, 5).to(ScalarType.ComplexFloat64);
        var c = w.Forward(x);
        Assert.Equal(ScalarType.ComplexFloat64, c.dtype);
        Assert.True(Math.Abs(Tensors.Norm(c) - Tensors.Norm(x)) / Tensors.Norm(x) < 1e-12, "energy is not preserved");
        var back = w.Adjoint(c);
        Assert.True(Tensors.Norm(back - x) / Tensors.Norm(x) < 1e-12, "inverse is not exact");
        var xr = torch.randn(new long[] { 32, 48 }, generator: new torch.Generator(6));
        var cr = w.Forward(xr);
        Assert.False(cr.is_complex());
        Assert.True(Tensors.Norm(w.Adjoint(cr) - xr) / Tensors.Norm(xr) < 1e-5);
    }

    [Fact]
    public void HaarCoefficientsMatchHandComputedValues()
    {
        using var scope = NewDisposeScope();
        // One level on a 2x2 block [[a, b], [c, d]]: LL = (a+b+c+d)/2, LH = (a−b+c−d)/2, HL = (a+b−c−d)/2, HH = (a−b−c+d)/2.
        var x = torch.tensor(new double[] { 1, 2, 3, 4 }, new long[] { 2, 2 });
        var c = new Wavelet2DOperator(2, 2, 1, WaveletKind.Haar).Forward(x).data<double>().ToArray();
        Assert.Equal(new[] { 5.0, -1.0, -2.0, 0.0 }, c.Select(v => Math.Round(v, 12)).ToArray());
    }

    [Fact]
    public void WaveletSparsifiesSmoothImages()
    {
        using var scope = NewDisposeScope();
        // A smooth ramp: Db4 (2 vanishing moments) leaves almost nothing in the finest detail bands away from the wrap.
        var y = torch.linspace(0, 1, 64, ScalarType.Float64).unsqueeze(1);
        var x = (y * torch.linspace(0, 1, 64, ScalarType.Float64).unsqueeze(0) * 3.0).sin();
        var c = new Wavelet2DOperator(64, 64, 1, WaveletKind.Daubechies4).Forward(x);
        double detailInterior = Tensors.Norm(c.narrow(0, 32, 30).narrow(1, 32, 30));
        Assert.True(detailInterior < 1e-3 * Tensors.Norm(c), $"HH interior energy {detailInterior:E3}");
    }

    [Fact]
    public void WaveletRejectsIndivisibleSizes()
    {
        var ex = Assert.Throws<ArgumentException>(() => new Wavelet2DOperator(24, 20, 3));
        Assert.Contains("2^levels = 8", ex.Message);
        Assert.Throws<ArgumentException>(() => new Wavelet2DOperator(16, 16, 0));
    }
}
