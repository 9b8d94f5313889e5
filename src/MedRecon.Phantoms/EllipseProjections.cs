namespace MedRecon.Phantoms;

/// <summary>
/// Analytic line integrals of ellipse phantoms (exact chord lengths, no discretisation), for simulating CT data
/// without the inverse crime. Coordinates: the phantom lives in normalised [−1, 1]² (x right, y up); an image of
/// N pixels of size p spans it, so one normalised unit is N·p/2 physical units, and results are in
/// intensity × physical length. Geometry follows DESIGN.md/ASTRA: parallel view θ integrates along
/// x cos θ + y sin θ = t; fan source at R_s (sin θ, −cos θ), detector centre at −R_d (sin θ, −cos θ), detector axis
/// (cos θ, sin θ). Detector element j sits at (j − (D−1)/2)·spacing + offset. Optional supersampling averages
/// <c>subsamples</c> positions across each detector element's width.
/// </summary>
public static class EllipseProjections
{
    /// <summary>Line integral of the ellipses along x cos θ + y sin θ = t (normalised units).</summary>
    public static double LineIntegral(this IEnumerable<Ellipse> ellipses, double theta, double t)
    {
        double c = Math.Cos(theta), s = Math.Sin(theta), sum = 0;
        foreach (var e in ellipses)
        {
            double phi = e.ThetaDegrees * Math.PI / 180.0;
            double tt = t - (e.X0 * c + e.Y0 * s);
            double rel = theta - phi;
            double cr = Math.Cos(rel), sr = Math.Sin(rel);
            double a2 = e.A * e.A * cr * cr + e.B * e.B * sr * sr;
            double disc = a2 - tt * tt;
            if (disc > 0) sum += e.Intensity * 2.0 * e.A * e.B * Math.Sqrt(disc) / a2;
        }
        return sum;
    }

    /// <summary>Parallel-beam sinogram (views, detectors), row-major, of line integrals in intensity × length.</summary>
    public static float[] ParallelProjection(this IEnumerable<Ellipse> ellipses, double[] angles, int detectors,
        double detectorSpacing, int imageSize, double pixelSize = 1.0, double detectorOffset = 0.0, int subsamples = 1)
    {
        var list = ellipses.ToArray();
        double half = imageSize * pixelSize / 2.0; // physical units per normalised unit
        var sino = new float[angles.Length * detectors];
        Parallel.For(0, angles.Length, v =>
        {
            for (int j = 0; j < detectors; j++)
            {
                double acc = 0;
                for (int q = 0; q < subsamples; q++)
                {
                    double u = (j - (detectors - 1) / 2.0 + (q + 0.5) / subsamples - 0.5) * detectorSpacing + detectorOffset;
                    acc += list.LineIntegral(angles[v], u / half);
                }
                sino[v * detectors + j] = (float)(acc / subsamples * half);
            }
        });
        return sino;
    }

    /// <summary>
    /// Fan-beam sinogram (views, detectors). <paramref name="equiangular"/>: detector elements equally spaced in fan
    /// angle, spacing measured as arc length at radius R_s + R_d; otherwise a flat detector.
    /// </summary>
    public static float[] FanProjection(this IEnumerable<Ellipse> ellipses, double[] angles, int detectors,
        double detectorSpacing, double sourceDistance, double detectorDistance, int imageSize, double pixelSize = 1.0,
        bool equiangular = false, double detectorOffset = 0.0, int subsamples = 1)
    {
        var list = ellipses.ToArray();
        double half = imageSize * pixelSize / 2.0;
        double sdd = sourceDistance + detectorDistance;
        var sino = new float[angles.Length * detectors];
        Parallel.For(0, angles.Length, v =>
        {
            double c = Math.Cos(angles[v]), s = Math.Sin(angles[v]);
            double sx = sourceDistance * s, sy = -sourceDistance * c;
            for (int j = 0; j < detectors; j++)
            {
                double acc = 0;
                for (int q = 0; q < subsamples; q++)
                {
                    double u = (j - (detectors - 1) / 2.0 + (q + 0.5) / subsamples - 0.5) * detectorSpacing + detectorOffset;
                    double dx, dy;
                    if (equiangular)
                    {
                        double g = u / sdd, cg = Math.Cos(g), sg = Math.Sin(g);
                        dx = -s * cg + c * sg; dy = c * cg + s * sg;
                    }
                    else
                    {
                        dx = -detectorDistance * s + u * c - sx; dy = detectorDistance * c + u * s - sy;
                        double len = Math.Sqrt(dx * dx + dy * dy);
                        dx /= len; dy /= len;
                    }
                    // Normal form of the ray: n = (dy, −dx), n·r = n·source.
                    double theta = Math.Atan2(-dx, dy);
                    double t = sx * Math.Cos(theta) + sy * Math.Sin(theta);
                    acc += list.LineIntegral(theta, t / half);
                }
                sino[v * detectors + j] = (float)(acc / subsamples * half);
            }
        });
        return sino;
    }

    /// <summary>Parallel-beam analytic sinogram of a phantom (see the IEnumerable overload).</summary>
    public static float[] ParallelProjection(this EllipsePhantom phantom, double[] angles, int detectors,
        double detectorSpacing, int imageSize, double pixelSize = 1.0, double detectorOffset = 0.0, int subsamples = 1) =>
        phantom.Ellipses.ParallelProjection(angles, detectors, detectorSpacing, imageSize, pixelSize, detectorOffset, subsamples);

    /// <summary>Fan-beam analytic sinogram of a phantom (see the IEnumerable overload).</summary>
    public static float[] FanProjection(this EllipsePhantom phantom, double[] angles, int detectors, double detectorSpacing,
        double sourceDistance, double detectorDistance, int imageSize, double pixelSize = 1.0, bool equiangular = false,
        double detectorOffset = 0.0, int subsamples = 1) =>
        phantom.Ellipses.FanProjection(angles, detectors, detectorSpacing, sourceDistance, detectorDistance, imageSize,
            pixelSize, equiangular, detectorOffset, subsamples);

    /// <summary>The modified Shepp–Logan ellipses (Toft's contrast), for tests that must not wait on the rasteriser.</summary>
    public static IReadOnlyList<Ellipse> ModifiedSheppLogan { get; } = new[]
    {
        new Ellipse(1.0, 0.69, 0.92, 0, 0, 0),
        new Ellipse(-0.8, 0.6624, 0.8740, 0, -0.0184, 0),
        new Ellipse(-0.2, 0.1100, 0.3100, 0.22, 0, -18),
        new Ellipse(-0.2, 0.1600, 0.4100, -0.22, 0, 18),
        new Ellipse(0.1, 0.2100, 0.2500, 0, 0.35, 0),
        new Ellipse(0.1, 0.0460, 0.0460, 0, 0.1, 0),
        new Ellipse(0.1, 0.0460, 0.0460, 0, -0.1, 0),
        new Ellipse(0.1, 0.0460, 0.0230, -0.08, -0.605, 0),
        new Ellipse(0.1, 0.0230, 0.0230, 0, -0.606, 0),
        new Ellipse(0.1, 0.0230, 0.0460, 0.06, -0.605, 0),
    };
}
