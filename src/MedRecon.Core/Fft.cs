using TorchSharp;
using static TorchSharp.torch;

namespace MedRecon.Core;

/// <summary>
/// The one place that defines MedRecon's Fourier convention:
/// k = fftshift(fft2(ifftshift(x))) with orthonormal scaling over the last two axes (BART <c>fft -u</c> agrees),
/// so the zero frequency sits at index N/2 and the transform is unitary.
/// </summary>
public static class Fft
{
    static readonly long[] LastTwo = { -2, -1 };

    /// <summary>Centred orthonormal 2-D FFT over the last two axes. Real input is promoted to complex64.</summary>
    public static Tensor Centered2D(Tensor image)
    {
        using var scope = NewDisposeScope();
        var x = image.is_complex() ? image : image.to(ScalarType.ComplexFloat32);
        var k = fft.fftshift(fft.fft2(fft.ifftshift(x, LastTwo), dim: LastTwo, norm: FFTNormType.Ortho), LastTwo);
        return k.MoveToOuterDisposeScope();
    }

    /// <summary>Inverse of <see cref="Centered2D"/> (its adjoint, since the transform is unitary).</summary>
    public static Tensor InverseCentered2D(Tensor kspace)
    {
        using var scope = NewDisposeScope();
        var x = kspace.is_complex() ? kspace : kspace.to(ScalarType.ComplexFloat32);
        var img = fft.fftshift(fft.ifft2(fft.ifftshift(x, LastTwo), dim: LastTwo, norm: FFTNormType.Ortho), LastTwo);
        return img.MoveToOuterDisposeScope();
    }
}
