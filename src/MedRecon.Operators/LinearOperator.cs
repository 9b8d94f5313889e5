using MedRecon.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace MedRecon.Operators;

/// <summary>
/// The one contract every measurement operator follows (in the spirit of sigpy's Linop): A maps tensors of
/// <see cref="InputShape"/> to <see cref="OutputShape"/>; <see cref="Adjoint"/> is the exact adjoint Aᴴ under
/// the real inner product Re⟨·,·⟩ (complex inner product for complex operators); <see cref="Normal"/> is AᴴA
/// and may be overridden where cheaper. Operators compose like the maths: <c>A * B</c>, <c>2.0 * A</c>, <c>A.H</c>.
/// Returned tensors are owned by the caller.
/// </summary>
public abstract class LinearOperator
{
    protected LinearOperator(long[] inputShape, long[] outputShape)
    {
        InputShape = inputShape;
        OutputShape = outputShape;
    }

    public long[] InputShape { get; }
    public long[] OutputShape { get; }

    /// <summary>Short human-readable name, used in reports and DICOM DerivationDescription.</summary>
    public virtual string Name => GetType().Name;

    public abstract Tensor Forward(Tensor x);
    public abstract Tensor Adjoint(Tensor y);

    public virtual Tensor Normal(Tensor x)
    {
        using var scope = NewDisposeScope();
        return Adjoint(Forward(x)).MoveToOuterDisposeScope();
    }

    /// <summary>The adjoint operator as an operator in its own right.</summary>
    public LinearOperator H => this is AdjointOperator a ? a.Inner : new AdjointOperator(this);

    /// <summary>Aᴴ A as an operator.</summary>
    public LinearOperator N => new NormalOperator(this);

    public static LinearOperator operator *(LinearOperator a, LinearOperator b) => new CompositeOperator(a, b);
    public static LinearOperator operator *(double s, LinearOperator a) => new ScaledOperator(a, s);
    public static LinearOperator operator *(LinearOperator a, double s) => new ScaledOperator(a, s);

    /// <summary>Throws <see cref="ArgumentException"/> unless <paramref name="x"/> has this operator's input shape.</summary>
    protected void CheckInput(Tensor x) => CheckShape(x, InputShape, "input");

    protected void CheckOutput(Tensor y) => CheckShape(y, OutputShape, "output");

    void CheckShape(Tensor t, long[] expected, string what)
    {
        if (!t.shape.SequenceEqual(expected))
            throw new ArgumentException(
                $"{Name}: {what} has shape {Tensors.ShapeString(t.shape)}, expected {Tensors.ShapeString(expected)}");
    }
}

public sealed class AdjointOperator : LinearOperator
{
    public AdjointOperator(LinearOperator inner) : base(inner.OutputShape, inner.InputShape) => Inner = inner;
    public LinearOperator Inner { get; }
    public override string Name => Inner.Name + "ᴴ";
    public override Tensor Forward(Tensor x) => Inner.Adjoint(x);
    public override Tensor Adjoint(Tensor y) => Inner.Forward(y);
}

public sealed class NormalOperator : LinearOperator
{
    public NormalOperator(LinearOperator inner) : base(inner.InputShape, inner.InputShape) => Inner = inner;
    public LinearOperator Inner { get; }
    public override string Name => Inner.Name + "ᴴ" + Inner.Name;
    public override Tensor Forward(Tensor x) => Inner.Normal(x);
    public override Tensor Adjoint(Tensor y) => Inner.Normal(y);
    public override Tensor Normal(Tensor x)
    {
        using var scope = NewDisposeScope();
        return Inner.Normal(Inner.Normal(x)).MoveToOuterDisposeScope();
    }
}

/// <summary>(A B) x = A (B x).</summary>
public sealed class CompositeOperator : LinearOperator
{
    public CompositeOperator(LinearOperator outer, LinearOperator inner) : base(inner.InputShape, outer.OutputShape)
    {
        if (!inner.OutputShape.SequenceEqual(outer.InputShape))
            throw new ArgumentException(
                $"cannot compose {outer.Name} {Tensors.ShapeString(outer.InputShape)} after {inner.Name} {Tensors.ShapeString(inner.OutputShape)}");
        Outer = outer;
        Inner = inner;
    }

    public LinearOperator Outer { get; }
    public LinearOperator Inner { get; }
    public override string Name => Outer.Name + "·" + Inner.Name;

    public override Tensor Forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        return Outer.Forward(Inner.Forward(x)).MoveToOuterDisposeScope();
    }

    public override Tensor Adjoint(Tensor y)
    {
        using var scope = NewDisposeScope();
        return Inner.Adjoint(Outer.Adjoint(y)).MoveToOuterDisposeScope();
    }
}

/// <summary>(s A) x = s (A x) for a real scale s.</summary>
public sealed class ScaledOperator : LinearOperator
{
    public ScaledOperator(LinearOperator inner, double scale) : base(inner.InputShape, inner.OutputShape)
    {
        Inner = inner;
        Scale = scale;
    }

    public LinearOperator Inner { get; }
    public double Scale { get; }
    public override string Name => $"{Scale:G4}·{Inner.Name}";

    public override Tensor Forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        // An explicit Scalar, disposed here: TorchSharp 0.107 leaves the implicit one of `tensor * double` to the
        // finalizer, which can free it while libtorch still reads it (TotalVariation calls this thousands of times).
        using var s = Scale.ToScalar();
        return Inner.Forward(x).mul_(s).MoveToOuterDisposeScope();
    }

    public override Tensor Adjoint(Tensor y)
    {
        using var scope = NewDisposeScope();
        using var s = Scale.ToScalar();
        return Inner.Adjoint(y).mul_(s).MoveToOuterDisposeScope();
    }

    public override Tensor Normal(Tensor x)
    {
        using var scope = NewDisposeScope();
        using var s = (Scale * Scale).ToScalar();
        return Inner.Normal(x).mul_(s).MoveToOuterDisposeScope();
    }
}

/// <summary>The identity on a given shape (denoising; a neutral element for composition).</summary>
public sealed class IdentityOperator : LinearOperator
{
    public IdentityOperator(long[] shape) : base(shape, shape) { }
    public override Tensor Forward(Tensor x) { CheckInput(x); return x.clone(); }
    public override Tensor Adjoint(Tensor y) { CheckOutput(y); return y.clone(); }
}
