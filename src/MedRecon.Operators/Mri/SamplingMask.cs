using TorchSharp;
using static TorchSharp.torch;

namespace MedRecon.Operators.Mri;

public enum MaskKind { Equispaced, Random, Poisson, Radial }

/// <summary>A k-space sampling mask (ky, kx) float32, 1 = sampled, with its exact acceleration.</summary>
public sealed record SamplingMask(Tensor Mask, MaskKind Kind, double RequestedAcceleration, double CenterFraction, int Seed)
{
    /// <summary>Exact acceleration = total points / sampled points (+∞ for an empty mask).</summary>
    public double Acceleration
    {
        get
        {
            using var scope = NewDisposeScope();
            double sampled = (Mask > 0).to(ScalarType.Float64).sum().item<double>();
            return sampled == 0 ? double.PositiveInfinity : Mask.numel() / sampled;
        }
    }

    /// <summary>Number of sampled k-space points.</summary>
    public long SampledCount
    {
        get
        {
            using var scope = NewDisposeScope();
            return (Mask > 0).sum().item<long>();
        }
    }
}

/// <summary>
/// Masks with fastMRI semantics: 1-D (undersampling along kx columns, every ky row kept) random and equispaced with a
/// fully sampled centre; 2-D variable-density Poisson disc; radial lines. Seeded through <see cref="System.Random"/>(seed),
/// whose seeded sequence .NET keeps stable across versions; never touches global RNG state.
/// </summary>
/// <remarks>
/// <para>The centre is the k-space centre of <see cref="MedRecon.Core.Fft"/> (index n/2). A fully sampled centre of
/// <c>numLow = round(n · centerFraction)</c> lines starts at <c>(n − numLow + 1) / 2</c> (integer division), as in
/// fastMRI's <c>subsample.py</c>; <see cref="CenterRange"/> gives it.</para>
/// <list type="bullet">
/// <item><b>Random</b>: besides the centre, each kx column is kept with probability
/// <c>(nx/accel − numLow) / (nx − numLow)</c> (fastMRI <c>RandomMaskFunc</c>), so the acceleration is met on average.</item>
/// <item><b>Equispaced</b>: besides the centre, columns <c>round(offset + k·a')</c> for all <c>offset + k·a' &lt; nx − 1</c>, with a seeded offset in
/// <c>[0, round(a'))</c> and the adjusted spacing <c>a' = accel (numLow − nx) / (numLow·accel − nx)</c>, so that the
/// centre plus the equispaced lines give the requested acceleration (fastMRI <c>EquispacedMaskFractionFunc</c>).</item>
/// <item><b>Poisson</b>: 2-D variable-density Poisson disc: grid points visited in a seeded random order are accepted
/// unless an already accepted point q lies closer than <c>d(r_q) = s (1 + α r_q)</c> pixels (r the radius normalised to 1 at the
/// edge of k-space, α = <see cref="PoissonDensitySlope"/>), so the density ∝ 1/d² falls with radius; a fully sampled
/// calibration block of round(ny·cf) × round(nx·cf) is added; the scale s is bisected until the total acceleration is
/// within <see cref="PoissonTolerance"/> of the request (the closest mask found is returned).</item>
/// <item><b>Radial</b>: golden-angle spokes through the k-space centre (seeded rotation), spanning the whole grid and
/// rasterised with nearest neighbour at half-pixel steps, plus the round(ny·cf) × round(nx·cf) centre block;
/// the number of spokes is the one whose acceleration is closest to the request.</item>
/// </list>
/// </remarks>
public static class SamplingMasks
{
    /// <summary>α in the Poisson-disc minimum distance d(r) = s (1 + α r).</summary>
    public const double PoissonDensitySlope = 3.0;

    /// <summary>Relative tolerance the Poisson search aims for on the acceleration.</summary>
    public const double PoissonTolerance = 0.02;

    /// <summary>The smallest ny and nx accepted.</summary>
    public const int MinSize = 4;

    public static SamplingMask Create(MaskKind kind, int ny, int nx, double acceleration, double centerFraction, int seed)
    {
        Validate(kind, ny, nx, acceleration, centerFraction);
        var rng = new Random(seed);
        float[] m = kind switch
        {
            MaskKind.Random => Random1D(ny, nx, acceleration, centerFraction, rng),
            MaskKind.Equispaced => Equispaced1D(ny, nx, acceleration, centerFraction, rng),
            MaskKind.Poisson => Poisson2D(ny, nx, acceleration, centerFraction, rng),
            MaskKind.Radial => Radial2D(ny, nx, acceleration, centerFraction, rng),
            _ => throw new ArgumentException($"unknown mask kind {kind}", nameof(kind)),
        };
        var t = torch.tensor(m, new long[] { ny, nx }, ScalarType.Float32);
        return new SamplingMask(t, kind, acceleration, centerFraction, seed);
    }

    /// <summary>Number of fully sampled centre lines along an axis of n points: round(n · centerFraction) (banker's rounding, as Python).</summary>
    public static int NumLowFrequencies(int n, double centerFraction) =>
        (int)Math.Round(n * centerFraction, MidpointRounding.ToEven);

    /// <summary>The fully sampled centre [start, start + count) along an axis of n points (fastMRI's placement).</summary>
    public static (int Start, int Count) CenterRange(int n, double centerFraction)
    {
        int numLow = NumLowFrequencies(n, centerFraction);
        return ((n - numLow + 1) / 2, numLow);
    }

    /// <summary>The adjusted equispaced spacing a' of fastMRI's EquispacedMaskFractionFunc.</summary>
    public static double AdjustedEquispacedSpacing(int nx, double acceleration, double centerFraction)
    {
        int numLow = NumLowFrequencies(nx, centerFraction);
        return numLow == 0 ? acceleration : acceleration * (numLow - nx) / (numLow * acceleration - nx);
    }

    static void Validate(MaskKind kind, int ny, int nx, double acceleration, double centerFraction)
    {
        if (!Enum.IsDefined(kind)) throw new ArgumentException($"unknown mask kind {(int)kind}", nameof(kind));
        if (ny < MinSize || nx < MinSize)
            throw new ArgumentException($"mask size ({ny}, {nx}) is too small: ny and nx must be at least {MinSize}");
        if (!double.IsFinite(acceleration) || acceleration <= 1)
            throw new ArgumentException($"acceleration must be a finite number > 1, got {acceleration}", nameof(acceleration));
        if (!double.IsFinite(centerFraction) || centerFraction < 0 || centerFraction >= 1)
            throw new ArgumentException($"centerFraction must lie in [0, 1), got {centerFraction}", nameof(centerFraction));
        if (kind is MaskKind.Random or MaskKind.Equispaced)
        {
            int numLow = NumLowFrequencies(nx, centerFraction);
            if (numLow >= nx / acceleration)
                throw new ArgumentException(
                    $"the fully sampled centre of {numLow} of {nx} columns (centerFraction {centerFraction}) already exceeds " +
                    $"the {nx / acceleration:G4} columns allowed at acceleration {acceleration}; lower centerFraction or acceleration");
            if (nx / acceleration < 1)
                throw new ArgumentException($"acceleration {acceleration} leaves less than one of {nx} columns");
        }
        else
        {
            long cal = (long)NumLowFrequencies(ny, centerFraction) * NumLowFrequencies(nx, centerFraction);
            if (cal >= (double)ny * nx / acceleration)
                throw new ArgumentException(
                    $"the fully sampled calibration block of {cal} points (centerFraction {centerFraction}) already exceeds " +
                    $"the {ny * (double)nx / acceleration:G4} points allowed at acceleration {acceleration}; lower centerFraction or acceleration");
        }
    }

    static void FillColumns(float[] m, int ny, int nx, bool[] cols)
    {
        for (int y = 0; y < ny; y++)
            for (int x = 0; x < nx; x++)
                m[y * nx + x] = cols[x] ? 1f : 0f;
    }

    static bool[] CenterColumns(int nx, double centerFraction)
    {
        var cols = new bool[nx];
        var (start, count) = CenterRange(nx, centerFraction);
        for (int i = start; i < start + count; i++) cols[i] = true;
        return cols;
    }

    static float[] Random1D(int ny, int nx, double acceleration, double centerFraction, Random rng)
    {
        int numLow = NumLowFrequencies(nx, centerFraction);
        double prob = (nx / acceleration - numLow) / (nx - numLow);
        var cols = CenterColumns(nx, centerFraction);
        for (int x = 0; x < nx; x++)
            if (rng.NextDouble() < prob) cols[x] = true; // draw for every column: the sequence does not depend on the centre
        var m = new float[ny * nx];
        FillColumns(m, ny, nx, cols);
        return m;
    }

    static float[] Equispaced1D(int ny, int nx, double acceleration, double centerFraction, Random rng)
    {
        double spacing = AdjustedEquispacedSpacing(nx, acceleration, centerFraction);
        int offset = rng.Next(0, Math.Max(1, (int)Math.Round(spacing, MidpointRounding.ToEven)));
        var cols = CenterColumns(nx, centerFraction);
        for (int k = 0; ; k++)
        {
            double pos = offset + k * spacing;
            if (pos >= nx - 1) break; // fastMRI: np.arange(offset, num_cols - 1, adjusted_accel)
            int i = (int)Math.Round(pos, MidpointRounding.ToEven);
            if (i < nx) cols[i] = true;
        }
        var m = new float[ny * nx];
        FillColumns(m, ny, nx, cols);
        return m;
    }

    static void AddCenterBlock(float[] m, int ny, int nx, double centerFraction)
    {
        var (y0, cy) = CenterRange(ny, centerFraction);
        var (x0, cx) = CenterRange(nx, centerFraction);
        for (int y = y0; y < y0 + cy; y++)
            for (int x = x0; x < x0 + cx; x++)
                m[y * nx + x] = 1f;
    }

    static int Count(float[] m)
    {
        int c = 0;
        foreach (var v in m) if (v > 0) c++;
        return c;
    }

    static float[] Poisson2D(int ny, int nx, double acceleration, double centerFraction, Random rng)
    {
        int total = ny * nx;
        // One seeded visiting order, reused for every scale s: the search changes only the distance threshold.
        var order = new int[total];
        for (int i = 0; i < total; i++) order[i] = i;
        rng.Shuffle(order);

        // Normalised radius of every grid point (1 at the middle of each edge).
        var radius = new double[total];
        double hy = ny / 2.0, hx = nx / 2.0;
        for (int y = 0; y < ny; y++)
            for (int x = 0; x < nx; x++)
            {
                double dy = (y - ny / 2) / hy, dx = (x - nx / 2) / hx;
                radius[y * nx + x] = Math.Sqrt(dy * dy + dx * dx);
            }

        float[] Sample(double s)
        {
            // Dart throwing on the grid: an accepted point q blocks every grid point closer than d(q), so each
            // candidate costs O(1) and each acceptance O(d²).
            var m = new float[total];
            var blocked = new bool[total];
            foreach (int p in order)
            {
                if (blocked[p]) continue;
                m[p] = 1f;
                int py = p / nx, px = p % nx;
                double d = s * (1 + PoissonDensitySlope * radius[p]);
                double d2 = d * d;
                int r = (int)Math.Ceiling(d);
                for (int y = Math.Max(0, py - r); y <= Math.Min(ny - 1, py + r); y++)
                {
                    int ddy = y - py;
                    for (int x = Math.Max(0, px - r); x <= Math.Min(nx - 1, px + r); x++)
                    {
                        int ddx = x - px;
                        if (ddy * ddy + ddx * ddx < d2) blocked[y * nx + x] = true;
                    }
                }
                blocked[p] = true;
            }
            AddCenterBlock(m, ny, nx, centerFraction);
            return m;
        }

        double target = total / acceleration;
        // Bisection on log s: a larger s keeps fewer points.
        double lo = Math.Log(0.05), hi = Math.Log(Math.Max(ny, nx));
        float[]? best = null;
        double bestErr = double.PositiveInfinity;
        for (int it = 0; it < 40; it++)
        {
            double mid = 0.5 * (lo + hi);
            var m = Sample(Math.Exp(mid));
            int c = Count(m);
            double err = Math.Abs(total / (double)c - acceleration) / acceleration;
            if (err < bestErr) { bestErr = err; best = m; }
            if (err <= PoissonTolerance / 4) break;
            if (c > target) lo = mid; else hi = mid;
            if (hi - lo < 1e-6) break;
        }
        return best!;
    }

    static float[] Radial2D(int ny, int nx, double acceleration, double centerFraction, Random rng)
    {
        int total = ny * nx;
        double golden = Math.PI * (Math.Sqrt(5) - 1) / 2; // golden angle for spokes over [0, π): ≈ 111.25°
        double theta0 = rng.NextDouble() * Math.PI;
        double cy = ny / 2, cx = nx / 2;
        double reach = Math.Sqrt((double)ny * ny + (double)nx * nx) / 2 + 1;
        var m = new float[total];
        AddCenterBlock(m, ny, nx, centerFraction);
        m[(ny / 2) * nx + nx / 2] = 1f;
        double target = total / acceleration;
        float[] previous = (float[])m.Clone();
        int maxSpokes = 4 * Math.Max(ny, nx);
        for (int l = 0; l < maxSpokes; l++)
        {
            double theta = theta0 + l * golden;
            double s = Math.Sin(theta), c = Math.Cos(theta);
            Array.Copy(m, previous, total);
            for (double t = -reach; t <= reach; t += 0.5)
            {
                int y = (int)Math.Floor(cy - t * s + 0.5); // k-space y axis points down the rows
                int x = (int)Math.Floor(cx + t * c + 0.5);
                if (y >= 0 && y < ny && x >= 0 && x < nx) m[y * nx + x] = 1f;
            }
            int count = Count(m);
            if (count >= target)
            {
                // Keep the spoke count whose acceleration is closest to the request.
                int prevCount = Count(previous);
                double errNow = Math.Abs(total / (double)count - acceleration);
                double errPrev = Math.Abs(total / (double)prevCount - acceleration);
                return errPrev < errNow && l > 0 ? previous : m;
            }
        }
        return m;
    }
}
