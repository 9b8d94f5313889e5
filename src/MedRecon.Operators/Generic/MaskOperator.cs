using MedRecon.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace MedRecon.Operators;

/// <summary>
/// Elementwise sampling y = M ⊙ x (inpainting, or any diagonal weighting), with a real mask M that broadcasts to the
/// input shape (e.g. a (ny, nx) mask on (channels, ny, nx) images). Input and output have the same shape and dtype;
/// real and complex inputs are supported. Aᴴ = A (M real), and AᴴA = M² ⊙ x. Where M is 0/1 the rows are orthonormal,
/// so <c>x − Aᴴ(A x − y)</c> is the exact projection onto {A x = y}.
/// </summary>
public sealed class MaskOperator : LinearOperator, IDisposable
{
    readonly Tensor mask;
    readonly Tensor maskSquared;

    /// <param name="mask">Real weights, 1 = kept, 0 = missing.</param>
    /// <param name="inputShape">The image shape; defaults to the mask's shape. The mask must broadcast to it.</param>
    public MaskOperator(Tensor mask, long[]? inputShape = null)
        : base(inputShape ?? mask.shape.ToArray(), inputShape ?? mask.shape.ToArray())
    {
        if (mask.is_complex()) throw new ArgumentException("MaskOperator: the mask must be real");
        var shape = InputShape;
        if (mask.dim() > shape.Length)
            throw new ArgumentException($"MaskOperator: mask {Tensors.ShapeString(mask.shape)} has more dimensions than the input {Tensors.ShapeString(shape)}");
        for (int i = 1; i <= mask.dim(); i++)
        {
            long m = mask.shape[^i], s = shape[^i];
            if (m != s && m != 1)
                throw new ArgumentException($"MaskOperator: mask {Tensors.ShapeString(mask.shape)} does not broadcast to the input {Tensors.ShapeString(shape)}");
        }
        this.mask = (mask.dtype == ScalarType.Float64 ? mask : mask.to(ScalarType.Float32)).detach().clone();
        maskSquared = this.mask.square();
    }

    public Tensor Mask => mask;
    public override string Name => "Mask";

    public override Tensor Forward(Tensor x)
    {
        CheckInput(x);
        return Apply(x, mask);
    }

    public override Tensor Adjoint(Tensor y)
    {
        CheckOutput(y);
        return Apply(y, mask);
    }

    public override Tensor Normal(Tensor x)
    {
        CheckInput(x);
        return Apply(x, maskSquared);
    }

    static Tensor Apply(Tensor x, Tensor m)
    {
        using var scope = NewDisposeScope();
        var xf = x.is_complex() || x.is_floating_point() ? x : x.to(ScalarType.Float32);
        bool dbl = xf.dtype is ScalarType.Float64 or ScalarType.ComplexFloat64;
        var w = m.to(dbl ? ScalarType.Float64 : ScalarType.Float32);
        return (xf * w).MoveToOuterDisposeScope();
    }

    public void Dispose()
    {
        mask.Dispose();
        maskSquared.Dispose();
    }
}
