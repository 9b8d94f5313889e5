using MedRecon.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace MedRecon.Operators.Mri;

/// <summary>
/// Cartesian MRI with coil sensitivities (SENSE): y_c = M ⊙ F(S_c x), for an image x of shape (ky, kx) and
/// k-space y of shape (coils, ky, kx), F the centred orthonormal FFT of <see cref="Fft"/>. Single-coil MRI is the
/// special case of one coil with unit sensitivity (<see cref="SingleCoil"/>). Unsampled entries of y are exactly 0.
/// </summary>
public sealed class SenseOperator : LinearOperator, IDisposable
{
    readonly Tensor mask;     // (ky, kx) float32, 1 = sampled (weights allowed)
    readonly Tensor maps;     // (coils, ky, kx) complex64
    readonly Tensor mapsConj;
    readonly bool unitMaps;

    public SenseOperator(Tensor maps, Tensor mask)
        : base(new[] { maps.shape[1], maps.shape[2] }, maps.shape.ToArray())
    {
        if (maps.dim() != 3) throw new ArgumentException($"coil maps must be (coils, ky, kx), got {Tensors.ShapeString(maps.shape)}");
        if (mask.dim() != 2 || mask.shape[0] != maps.shape[1] || mask.shape[1] != maps.shape[2])
            throw new ArgumentException(
                $"mask shape {Tensors.ShapeString(mask.shape)} does not match k-space (ky, kx) = ({maps.shape[1]}, {maps.shape[2]})");
        this.mask = mask.to(ScalarType.Float32).detach().clone();
        this.maps = (maps.is_complex() ? maps : maps.to(ScalarType.ComplexFloat32)).detach().clone();
        mapsConj = this.maps.conj().resolve_conj();
        unitMaps = false;
    }

    SenseOperator(Tensor mask) : base(mask.shape.ToArray(), new[] { 1L, mask.shape[0], mask.shape[1] })
    {
        this.mask = mask.to(ScalarType.Float32).detach().clone();
        maps = torch.ones(1, mask.shape[0], mask.shape[1], ScalarType.ComplexFloat32);
        mapsConj = maps.clone();
        unitMaps = true;
    }

    /// <summary>Single-coil Cartesian MRI: y = M ⊙ F x, with output shape (1, ky, kx).</summary>
    public static SenseOperator SingleCoil(Tensor mask)
    {
        if (mask.dim() != 2) throw new ArgumentException($"mask must be (ky, kx), got {Tensors.ShapeString(mask.shape)}");
        return new SenseOperator(mask);
    }

    public Tensor Mask => mask;
    public Tensor Maps => maps;
    public int Coils => (int)maps.shape[0];
    public override string Name => Coils == 1 && unitMaps ? "MaskedFFT" : $"SENSE{Coils}";

    public override Tensor Forward(Tensor x)
    {
        CheckInput(x);
        using var scope = NewDisposeScope();
        var xc = x.is_complex() ? x : x.to(ScalarType.ComplexFloat32);
        var coilImages = unitMaps ? xc.unsqueeze(0) : maps * xc.unsqueeze(0);
        return (Fft.Centered2D(coilImages) * mask).MoveToOuterDisposeScope();
    }

    public override Tensor Adjoint(Tensor y)
    {
        CheckOutput(y);
        using var scope = NewDisposeScope();
        var coilImages = Fft.InverseCentered2D(y * mask);
        var x = unitMaps ? coilImages[0] : (mapsConj * coilImages).sum(dim: 0);
        return x.MoveToOuterDisposeScope();
    }

    public override Tensor Normal(Tensor x)
    {
        CheckInput(x);
        using var scope = NewDisposeScope();
        var xc = x.is_complex() ? x : x.to(ScalarType.ComplexFloat32);
        if (unitMaps) // FᴴMF: one FFT pair, no coil dimension
            return Fft.InverseCentered2D(Fft.Centered2D(xc) * mask.square()).MoveToOuterDisposeScope();
        var coilImages = Fft.InverseCentered2D(Fft.Centered2D(maps * xc.unsqueeze(0)) * mask.square());
        return (mapsConj * coilImages).sum(dim: 0).MoveToOuterDisposeScope();
    }

    public void Dispose()
    {
        mask.Dispose();
        maps.Dispose();
        mapsConj.Dispose();
    }
}
