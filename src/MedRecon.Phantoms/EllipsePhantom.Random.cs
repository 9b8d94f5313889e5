namespace MedRecon.Phantoms;

public sealed partial class EllipsePhantom
{
    /// <summary>Default range of the number of inner structures when none is given: 4 to 12 inclusive.</summary>
    public const int DefaultMinInnerEllipses = 4, DefaultMaxInnerEllipses = 12;

    /// <summary>
    /// A seeded random-ellipse phantom for training and tests: reproducible from <paramref name="seed"/> alone (one
    /// <see cref="System.Random"/>(seed), never global state; the same seed gives the same table on every run).
    /// <para>Distribution (all draws uniform unless stated; angles in degrees; field of view [−1, 1]²):</para>
    /// <list type="bullet">
    /// <item>Body: centre in [−0.05, 0.05]², semi-axes a, b in [0.55, 0.9] each, rotation in [−30, 30], interior
    /// value β in [0.3, 0.7]. With probability 1/2 it has a skull-like shell: an outer ellipse of value s in
    /// [0.8, 1.0] and an inner ellipse of the same centre and rotation, semi-axes scaled by k in [0.88, 0.95], value
    /// β − s; otherwise the body is one ellipse of value β.</item>
    /// <item>Inner structures: <paramref name="ellipseCount"/> of them (default: 4 to 12). Major semi-axis
    /// log-uniform in [0.02, 0.3], minor/major ratio in [0.3, 1], rotation in [0, 180), centre uniform in the body
    /// interior subject to the whole structure lying inside it (rejection; the structure shrinks by 0.8 after 50
    /// failed draws). Contrast ±c with the sign a fair coin and c in [0.05, 0.35]; structures may overlap.</item>
    /// <item>Range: all inner contrasts are scaled by one factor α ≤ 1 chosen so that β + Σ(inner) stays in
    /// [0.025β, β + 0.975(1 − β)] on a 256² grid of points and at every structure centre, so the image lies in
    /// [0, 1] up to overlaps finer than that grid.</item>
    /// </list>
    /// </summary>
    /// <param name="seed">Seed of the private <see cref="System.Random"/>.</param>
    /// <param name="ellipseCount">Number of inner structures (not counting the body and shell); null draws 4 to 12.</param>
    public static EllipsePhantom Random(int seed, int? ellipseCount = null)
    {
        if (ellipseCount is < 0) throw new ArgumentOutOfRangeException(nameof(ellipseCount), "must be non-negative");
        var rng = new System.Random(seed);
        double U(double lo, double hi) => lo + (hi - lo) * rng.NextDouble();

        var list = new List<Ellipse>();
        double bx = U(-0.05, 0.05), by = U(-0.05, 0.05);
        double ba = U(0.55, 0.9), bb = U(0.55, 0.9), btheta = U(-30, 30);
        double beta = U(0.3, 0.7);
        bool shell = rng.NextDouble() < 0.5;
        Ellipse interior;
        if (shell)
        {
            double s = U(0.8, 1.0), k = U(0.88, 0.95);
            list.Add(new Ellipse(s, ba, bb, bx, by, btheta));
            interior = new Ellipse(beta - s, ba * k, bb * k, bx, by, btheta);
            list.Add(interior);
        }
        else
        {
            interior = new Ellipse(beta, ba, bb, bx, by, btheta);
            list.Add(interior);
        }

        int n = ellipseCount ?? rng.Next(DefaultMinInnerEllipses, DefaultMaxInnerEllipses + 1);
        var inner = new List<Ellipse>(n);
        // Slightly shrunk interior: structures must fit inside it.
        var fit = interior with { A = interior.A * 0.97, B = interior.B * 0.97 };
        for (int i = 0; i < n; i++)
        {
            double major = Math.Exp(U(Math.Log(0.02), Math.Log(0.3)));
            double minor = major * U(0.3, 1.0);
            double theta = U(0, 180);
            double sign = rng.NextDouble() < 0.5 ? -1.0 : 1.0;
            double c = sign * U(0.05, 0.35);
            Ellipse? placed = null;
            while (placed == null)
            {
                for (int attempt = 0; attempt < 50 && placed == null; attempt++)
                {
                    // Uniform point in the interior ellipse: uniform in the unit disc, then mapped.
                    double u, v;
                    do { u = U(-1, 1); v = U(-1, 1); } while (u * u + v * v > 1);
                    double t = interior.ThetaDegrees * Math.PI / 180.0;
                    double px = interior.A * u, py = interior.B * v;
                    double x0 = interior.X0 + px * Math.Cos(t) - py * Math.Sin(t);
                    double y0 = interior.Y0 + px * Math.Sin(t) + py * Math.Cos(t);
                    var candidate = new Ellipse(c, major, minor, x0, y0, theta);
                    if (InsideOf(candidate, fit)) placed = candidate;
                }
                if (placed == null) { major *= 0.8; minor *= 0.8; }
            }
            inner.Add(placed);
        }

        // One common scale so the interior values stay within [0, 1].
        if (inner.Count > 0)
        {
            var (gmin, gmax) = InnerRange(inner);
            double alpha = 1.0;
            if (gmax > 0) alpha = Math.Min(alpha, 0.975 * (1 - beta) / gmax);
            if (gmin < 0) alpha = Math.Min(alpha, 0.975 * beta / -gmin);
            foreach (var e in inner) list.Add(e with { Intensity = e.Intensity * alpha });
        }
        return new EllipsePhantom($"random-{seed}", list);
    }

    /// <summary>True when 64 points on the boundary of <paramref name="e"/> lie inside <paramref name="container"/>.</summary>
    static bool InsideOf(Ellipse e, Ellipse container)
    {
        double t = e.ThetaDegrees * Math.PI / 180.0, ct = Math.Cos(t), st = Math.Sin(t);
        for (int k = 0; k < 64; k++)
        {
            double phi = 2 * Math.PI * k / 64;
            double px = e.A * Math.Cos(phi), py = e.B * Math.Sin(phi);
            if (!container.Contains(e.X0 + px * ct - py * st, e.Y0 + px * st + py * ct)) return false;
        }
        return true;
    }

    /// <summary>Min and max of the sum of the inner structures over a 256² point grid and the structure centres.</summary>
    static (double Min, double Max) InnerRange(IReadOnlyList<Ellipse> inner)
    {
        const int n = 256;
        const double d = 2.0 / n;
        var g = new double[n * n];
        foreach (var e in inner)
        {
            // Visit only the grid points in the ellipse's bounding box (pixel-centre convention of an n² image).
            var (hx, hy) = e.BoundingHalfWidths();
            int c0 = Math.Max(0, (int)Math.Floor((e.X0 - hx) / d + (n - 1) / 2.0));
            int c1 = Math.Min(n - 1, (int)Math.Ceiling((e.X0 + hx) / d + (n - 1) / 2.0));
            int r0 = Math.Max(0, (int)Math.Floor(-(e.Y0 + hy) / d + (n - 1) / 2.0));
            int r1 = Math.Min(n - 1, (int)Math.Ceiling(-(e.Y0 - hy) / d + (n - 1) / 2.0));
            double t = e.ThetaDegrees * Math.PI / 180.0, ct = Math.Cos(t), st = Math.Sin(t);
            for (int r = r0; r <= r1; r++)
            {
                double dy = -(r - (n - 1) / 2.0) * d - e.Y0;
                for (int c = c0; c <= c1; c++)
                {
                    double dx = (c - (n - 1) / 2.0) * d - e.X0;
                    double xr = (dx * ct + dy * st) / e.A, yr = (dy * ct - dx * st) / e.B;
                    if (xr * xr + yr * yr <= 1.0) g[r * n + c] += e.Intensity;
                }
            }
        }
        double gmin = 0, gmax = 0;
        foreach (var v in g)
        {
            if (v < gmin) gmin = v;
            if (v > gmax) gmax = v;
        }
        var probe = new EllipsePhantom("probe", inner);
        foreach (var e in inner)
        {
            double v = probe.ValueAt(e.X0, e.Y0);
            if (v < gmin) gmin = v;
            if (v > gmax) gmax = v;
        }
        return (gmin, gmax);
    }
}
