using MedRecon.Core;
using MedRecon.Operators;
using TorchSharp;
using static TorchSharp.torch;

namespace MedRecon.Tests.Operators;

/// <summary>
/// The contract every operator must pass: dot-product adjoint test ⟨A x, y⟩ = ⟨x, Aᴴ y⟩ (relative 1e-5),
/// linearity, and Normal = AᴴA. Random inputs come from an explicit generator, never the global seed.
/// </summary>
public static class OperatorContract
{
    public static void Check(LinearOperator op, bool complexInput, bool complexOutput, long seed = 1234, double tolerance = 1e-5)
    {
        using var scope = NewDisposeScope();
        var gen = new torch.Generator((ulong)seed);
        Tensor Rand(long[] shape, bool complex) => complex
            ? torch.complex(torch.randn(shape, generator: gen), torch.randn(shape, generator: gen))
            : torch.randn(shape, generator: gen);

        var x = Rand(op.InputShape, complexInput);
        var x2 = Rand(op.InputShape, complexInput);
        var y = Rand(op.OutputShape, complexOutput);

        var ax = op.Forward(x);
        Assert.Equal(op.OutputShape, ax.shape);
        var aty = op.Adjoint(y);
        Assert.Equal(op.InputShape, aty.shape);

        // Adjoint: Re⟨Ax, y⟩ = Re⟨x, Aᴴy⟩ (and the imaginary parts for complex operators).
        var lhs = Tensors.Inner(ax, y);
        var rhs = Tensors.Inner(x, aty);
        double scale = Tensors.Norm(ax) * Tensors.Norm(y) + 1e-30;
        Assert.True((lhs - rhs).Magnitude / scale < tolerance,
            $"{op.Name}: adjoint test failed: <Ax,y>={lhs}, <x,A^H y>={rhs}, rel={(lhs - rhs).Magnitude / scale:E3}");

        // Linearity: A(2x + 3x2) = 2Ax + 3Ax2.
        var combo = op.Forward(x * 2 + x2 * 3);
        var expected = ax * 2 + op.Forward(x2) * 3;
        double linErr = Tensors.Norm(combo - expected) / (Tensors.Norm(expected) + 1e-30);
        Assert.True(linErr < tolerance * 10, $"{op.Name}: linearity error {linErr:E3}");

        // Normal = AᴴA.
        var n = op.Normal(x);
        var ata = op.Adjoint(ax);
        double nErr = Tensors.Norm(n - ata) / (Tensors.Norm(ata) + 1e-30);
        Assert.True(nErr < tolerance * 10, $"{op.Name}: Normal differs from AᴴA by {nErr:E3}");
    }
}
