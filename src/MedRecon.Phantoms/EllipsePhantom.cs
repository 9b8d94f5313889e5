using static TorchSharp.torch;

namespace MedRecon.Phantoms;

/// <summary>
/// One ellipse of an additive phantom, in normalised coordinates: the field of view is [−1, 1]² with x to the right
/// and y up (DESIGN.md conventions), semi-axes <paramref name="A"/> (along x before rotation) and <paramref name="B"/>,
/// centre (X0, Y0), counter-clockwise rotation in degrees, additive intensity.
/// </summary>
public sealed record Ellipse(double Intensity, double A, double B, double X0, double Y0, double ThetaDegrees);

/// <summary>A sum of ellipses with exact rasterisation, analytic k-space, and (for CT) analytic line integrals.</summary>
public sealed partial class EllipsePhantom
{
    public EllipsePhantom(string name, IReadOnlyList<Ellipse> ellipses)
    {
        Name = name;
        Ellipses = ellipses;
    }

    public string Name { get; }
    public IReadOnlyList<Ellipse> Ellipses { get; }

    /// <summary>The modified Shepp–Logan phantom (Toft's contrast), loaded from phantoms/shepp-logan-modified.csv data.</summary>
    public static EllipsePhantom SheppLogan() => throw new NotImplementedException();

    /// <summary>A seeded random-ellipse phantom (reproducible; does not touch global RNG state).</summary>
    public static EllipsePhantom Random(int seed, int? ellipseCount = null) => throw new NotImplementedException();

    /// <summary>Image (size, size) float32 with pixel centres per the DESIGN.md convention; supersampled at the edges.</summary>
    public Tensor Rasterize(int size, int supersample = 4) => throw new NotImplementedException();

    /// <summary>
    /// Analytic (continuous) Fourier transform of the phantom sampled on the (ny, nx) Cartesian grid of the centred
    /// orthonormal FFT, scaled so that for a smooth phantom it agrees with <c>Fft.Centered2D(Rasterize(n))</c>. complex64.
    /// </summary>
    public Tensor KSpace(int ny, int nx) => throw new NotImplementedException();

    /// <summary>Multi-coil k-space (coils, ky, kx) of the phantom weighted by coil maps, simulated without the inverse crime.</summary>
    public Tensor KSpace(Tensor coilMaps) => throw new NotImplementedException();
}
