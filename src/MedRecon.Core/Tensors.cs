using TorchSharp;
using static TorchSharp.torch;

namespace MedRecon.Core;

/// <summary>Small helpers on TorchSharp tensors used across layers (complex numbers are native complex64).</summary>
public static class Tensors
{
    /// <summary>Real inner product Re⟨a, b⟩ = Re Σ conj(a)·b, in double precision.</summary>
    public static double InnerReal(Tensor a, Tensor b)
    {
        using var scope = NewDisposeScope();
        if (a.is_complex() || b.is_complex())
        {
            var ac = a.is_complex() ? a : a.to(ScalarType.ComplexFloat32);
            var bc = b.is_complex() ? b : b.to(ScalarType.ComplexFloat32);
            return (ac.conj() * bc).real.to(ScalarType.Float64).sum().item<double>();
        }
        return (a.to(ScalarType.Float64) * b.to(ScalarType.Float64)).sum().item<double>();
    }

    /// <summary>Complex inner product ⟨a, b⟩ = Σ conj(a)·b in double precision.</summary>
    public static System.Numerics.Complex Inner(Tensor a, Tensor b)
    {
        using var scope = NewDisposeScope();
        var ac = (a.is_complex() ? a : a.to(ScalarType.ComplexFloat32)).to(ScalarType.ComplexFloat64);
        var bc = (b.is_complex() ? b : b.to(ScalarType.ComplexFloat32)).to(ScalarType.ComplexFloat64);
        var s = (ac.conj() * bc).sum();
        return new System.Numerics.Complex(s.real.item<double>(), s.imag.item<double>());
    }

    /// <summary>Euclidean norm ‖x‖₂ in double precision (magnitude for complex tensors).</summary>
    public static double Norm(Tensor x)
    {
        using var scope = NewDisposeScope();
        var m = x.is_complex() ? x.abs() : x;
        return Math.Sqrt(m.to(ScalarType.Float64).square().sum().item<double>());
    }

    /// <summary>Magnitude for complex tensors, the tensor itself (a new reference) for real ones.</summary>
    public static Tensor Magnitude(Tensor x) => x.is_complex() ? x.abs() : x.alias();

    /// <summary>True when every element is finite (no NaN or ±Inf).</summary>
    public static bool AllFinite(Tensor x)
    {
        using var scope = NewDisposeScope();
        var v = x.is_complex() ? torch.view_as_real(x) : x;
        return v.isfinite().all().item<bool>();
    }

    public static string ShapeString(long[] shape) => "(" + string.Join(", ", shape) + ")";
}
