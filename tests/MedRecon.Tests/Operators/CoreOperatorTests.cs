using MedRecon.Operators;
using MedRecon.Operators.Mri;
using TorchSharp;
using static TorchSharp.torch;

namespace MedRecon.Tests.Operators;

public class CoreOperatorTests
{
    static Tensor RandomMask(long ny, long nx, ulong seed) =>
        (torch.rand(new[] { ny, nx }, generator: new torch.Generator(seed)) < 0.4).to(ScalarType.Float32);

    [Fact]
    public void SingleCoilMaskedFftPassesContract()
    {
        using var op = SenseOperator.SingleCoil(RandomMask(24, 20, 1));
        OperatorContract.Check(op, complexInput: true, complexOutput: true);
    }

    [Fact]
    public void SensePassesContract()
    {
        var gen = new torch.Generator(7);
        var maps = torch.complex(torch.randn(new long[] { 4, 16, 18 }, generator: gen), torch.randn(new long[] { 4, 16, 18 }, generator: gen));
        using var op = new SenseOperator(maps, RandomMask(16, 18, 2));
        OperatorContract.Check(op, complexInput: true, complexOutput: true);
    }

    [Fact]
    public void CompositionScalingAndAdjointPassContract()
    {
        using var a = SenseOperator.SingleCoil(RandomMask(12, 12, 3));
        OperatorContract.Check(2.5 * a, true, true);
        OperatorContract.Check(a.H * a, true, true);
        OperatorContract.Check(a.H, true, true);
        OperatorContract.Check(a.N, true, true);
        OperatorContract.Check(new IdentityOperator(new long[] { 5, 6 }), false, false);
    }

    [Fact]
    public void ShapeMismatchThrowsClearError()
    {
        using var op = SenseOperator.SingleCoil(torch.ones(8, 8));
        var ex = Assert.Throws<ArgumentException>(() => op.Forward(torch.zeros(8, 9, ScalarType.ComplexFloat32)));
        Assert.Contains("(8, 9)", ex.Message);
    }
}
