using System.Text.Json;
using System.Text.Json.Serialization;

namespace MedRecon.Operators.Ct;

/// <summary>Beam geometry of a 2-D CT scan.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<CtBeam>))]
public enum CtBeam
{
    /// <summary>Parallel beam (ASTRA <c>parallel</c>).</summary>
    Parallel,
    /// <summary>Fan beam onto a flat detector (ASTRA <c>fanflat</c>).</summary>
    FanFlat,
    /// <summary>Fan beam onto an arc detector centred on the source (equal angles between detector elements).</summary>
    FanEquiangular,
}

/// <summary>
/// Geometry of a 2-D CT acquisition, in ASTRA's conventions (DESIGN.md "Conventions"). Lengths are in one physical
/// unit (e.g. mm): <see cref="PixelSize"/>, <see cref="DetectorSpacing"/>, <see cref="SourceDistance"/> (source to
/// rotation centre) and <see cref="DetectorDistance"/> (rotation centre to detector). For
/// <see cref="CtBeam.FanEquiangular"/> the detector spacing is the arc length between elements on a circle of radius
/// <c>SourceDistance + DetectorDistance</c> around the source (angular spacing = spacing / that radius).
/// <see cref="DetectorOffset"/> shifts the detector along its axis (centre-of-rotation correction), same unit.
/// The image is <see cref="ImageSize"/>² pixels centred on the rotation axis. Angles (radians) are kept separately
/// (angles.npy); <see cref="Views"/> records how many there were.
/// </summary>
public sealed record CtGeometry
{
    public CtBeam Beam { get; init; } = CtBeam.Parallel;
    public int ImageSize { get; init; }
    public int Detectors { get; init; }
    public double DetectorSpacing { get; init; } = 1.0;
    public double PixelSize { get; init; } = 1.0;
    public double SourceDistance { get; init; }
    public double DetectorDistance { get; init; }
    public double DetectorOffset { get; init; }
    public int Views { get; init; }

    /// <summary>Parallel beam, detector spacing 1 pixel unless given, detector count ⌈N√2⌉+1 unless given.</summary>
    public static CtGeometry ParallelBeam(int imageSize, int? detectors = null, double detectorSpacing = 1.0, double pixelSize = 1.0) =>
        new()
        {
            Beam = CtBeam.Parallel, ImageSize = imageSize,
            Detectors = detectors ?? DefaultDetectors(imageSize, detectorSpacing / pixelSize),
            DetectorSpacing = detectorSpacing, PixelSize = pixelSize,
        };

    /// <summary>
    /// Fan beam; defaults: source at 2N pixels from the centre, detector at N pixels behind it, detector spacing such
    /// that the fan covers the image's circumscribed circle with the given detector count.
    /// </summary>
    public static CtGeometry FanBeam(int imageSize, bool flatDetector = true, int? detectors = null, double? sourceDistance = null,
        double? detectorDistance = null, double? detectorSpacing = null, double pixelSize = 1.0)
    {
        double rs = sourceDistance ?? 2.0 * imageSize * pixelSize;
        double rd = detectorDistance ?? 1.0 * imageSize * pixelSize;
        double magnification = (rs + rd) / rs;
        int d = detectors ?? DefaultDetectors(imageSize, 1.0) + imageSize / 4;
        // Half fan angle that covers the circumscribed circle of the image, plus a small margin.
        double radius = imageSize * pixelSize / Math.Sqrt(2.0) * 1.02;
        double halfFan = Math.Asin(Math.Min(0.999, radius / rs));
        double spacing = detectorSpacing ?? (flatDetector
            ? 2.0 * (rs + rd) * Math.Tan(halfFan) / (d - 1)
            : 2.0 * (rs + rd) * halfFan / (d - 1));
        _ = magnification;
        return new CtGeometry
        {
            Beam = flatDetector ? CtBeam.FanFlat : CtBeam.FanEquiangular, ImageSize = imageSize, Detectors = d,
            DetectorSpacing = spacing, PixelSize = pixelSize, SourceDistance = rs, DetectorDistance = rd,
        };
    }

    static int DefaultDetectors(int n, double spacingInPixels) => (int)Math.Ceiling(n * Math.Sqrt(2.0) / spacingInPixels) + 1;

    /// <summary>Throws <see cref="ArgumentException"/> when a parameter is out of range.</summary>
    public void Validate()
    {
        if (ImageSize < 1) throw new ArgumentException($"image size must be positive, got {ImageSize}");
        if (Detectors < 1) throw new ArgumentException($"detector count must be positive, got {Detectors}");
        if (!(DetectorSpacing > 0) || !double.IsFinite(DetectorSpacing)) throw new ArgumentException($"detector spacing must be positive, got {DetectorSpacing}");
        if (!(PixelSize > 0) || !double.IsFinite(PixelSize)) throw new ArgumentException($"pixel size must be positive, got {PixelSize}");
        if (!double.IsFinite(DetectorOffset)) throw new ArgumentException("detector offset must be finite");
        if (Beam != CtBeam.Parallel)
        {
            double radius = ImageSize * PixelSize / Math.Sqrt(2.0);
            if (!(SourceDistance > radius)) throw new ArgumentException(
                $"fan beam: source distance {SourceDistance} must exceed the image's circumscribed radius {radius:G4}");
            if (!(DetectorDistance >= 0) || !double.IsFinite(DetectorDistance)) throw new ArgumentException($"fan beam: detector distance must be ≥ 0, got {DetectorDistance}");
        }
    }

    /// <summary>Position of detector element j along the detector axis (physical units, offset included).</summary>
    public double DetectorPosition(int j) => (j - (Detectors - 1) / 2.0) * DetectorSpacing + DetectorOffset;

    /// <summary>Half-angle of the fan that the detector sees (radians; 0 for parallel beam).</summary>
    public double HalfFanAngle
    {
        get
        {
            if (Beam == CtBeam.Parallel) return 0;
            double edge = Math.Max(Math.Abs(DetectorPosition(0)), Math.Abs(DetectorPosition(Detectors - 1)));
            return Beam == CtBeam.FanFlat ? Math.Atan(edge / (SourceDistance + DetectorDistance)) : edge / (SourceDistance + DetectorDistance);
        }
    }

    /// <summary>
    /// The ray of view angle <paramref name="theta"/> and detector <paramref name="j"/> in image coordinates (pixel
    /// units, x right, y up, origin at the image centre): a point on the ray and its unit direction.
    /// Parallel: direction (sin θ, −cos θ), detector axis (cos θ, sin θ), so the ray is x cos θ + y sin θ = t_j (ASTRA).
    /// Fan: source at R_s (sin θ, −cos θ), detector centre at −R_d (sin θ, −cos θ), same detector axis (ASTRA fanflat).
    /// </summary>
    public (double Px, double Py, double Dx, double Dy) Ray(double theta, int j)
    {
        double c = Math.Cos(theta), s = Math.Sin(theta);
        double u = DetectorPosition(j) / PixelSize;
        switch (Beam)
        {
            case CtBeam.Parallel:
                return (u * c, u * s, s, -c);
            case CtBeam.FanFlat:
            {
                double rs = SourceDistance / PixelSize, rd = DetectorDistance / PixelSize;
                double sx = rs * s, sy = -rs * c;
                double dx = -rd * s + u * c - sx, dy = rd * c + u * s - sy;
                double len = Math.Sqrt(dx * dx + dy * dy);
                return (sx, sy, dx / len, dy / len);
            }
            default:
            {
                double rs = SourceDistance / PixelSize;
                double gamma = DetectorPosition(j) / (SourceDistance + DetectorDistance);
                double sx = rs * s, sy = -rs * c;
                double cg = Math.Cos(gamma), sg = Math.Sin(gamma);
                return (sx, sy, -s * cg + c * sg, c * cg + s * sg);
            }
        }
    }

    static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);

    public static CtGeometry FromJson(string json) =>
        JsonSerializer.Deserialize<CtGeometry>(json, JsonOptions) ?? throw new JsonException("geometry JSON is null");
}
