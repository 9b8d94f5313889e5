using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace MedRecon.Operators.Ct;

/// <summary>
/// Ray-driven CT projector with Joseph's interpolation (Joseph 1982, as ASTRA's <c>linear</c> projector): each ray
/// steps through the image one row (or one column, for rays closer to horizontal) at a time and linearly
/// interpolates between the two nearest pixel centres of that row; each sample is weighted by the ray length per
/// step (1/|cos| of the ray's angle to the stepping axis) times the pixel size. The back-projector runs the same
/// loop with the same weights transposed, so it is the exact adjoint. Image (N, N) float32 → sinogram (views,
/// detectors) float32; other devices/dtypes are copied to the CPU and back. Views run in parallel on
/// <c>torch.get_num_threads()</c> threads with bounded memory (one N² buffer per thread for the adjoint).
/// </summary>
public abstract class CtProjector : LinearOperator, IDisposable
{
    // Per ray r = v·D + j: position along the interpolation axis = A[r] + B[r]·k for step k in [K0[r], K1[r]];
    // Vertical[r]: steps run over rows (interpolation along a row), else over columns. W[r]: length per step.
    readonly double[] a, b;
    readonly float[] w;
    readonly int[] k0, k1;
    readonly bool[] vertical;

    protected CtProjector(CtGeometry geometry, double[] angles)
        : base(new long[] { geometry.ImageSize, geometry.ImageSize }, new long[] { angles.Length, geometry.Detectors })
    {
        ArgumentNullException.ThrowIfNull(angles);
        geometry.Validate();
        if (angles.Length == 0) throw new ArgumentException("at least one view angle is needed");
        foreach (var t in angles)
            if (!double.IsFinite(t)) throw new ArgumentException("view angles must be finite");
        Geometry = geometry with { Views = angles.Length };
        Angles = (double[])angles.Clone();
        int n = geometry.ImageSize, d = geometry.Detectors, rays = angles.Length * d;
        a = new double[rays]; b = new double[rays]; w = new float[rays]; k0 = new int[rays]; k1 = new int[rays];
        vertical = new bool[rays];
        double h = (n - 1) / 2.0;
        for (int v = 0; v < angles.Length; v++)
        for (int j = 0; j < d; j++)
        {
            int r = v * d + j;
            var (px, py, dx, dy) = Geometry.Ray(angles[v], j);
            double aa, bb, step;
            if (Math.Abs(dy) >= Math.Abs(dx))
            {
                double q = dx / dy;
                aa = px + (h - py) * q + h; bb = -q; step = 1.0 / Math.Abs(dy); vertical[r] = true;
            }
            else
            {
                double q = dy / dx;
                aa = h - py + (h + px) * q; bb = -q; step = 1.0 / Math.Abs(dx);
            }
            a[r] = aa; b[r] = bb; w[r] = (float)(step * geometry.PixelSize);
            // Steps whose interpolation position lies in (−1, N) touch the image.
            double lo, hi;
            if (Math.Abs(bb) < 1e-12) { (lo, hi) = aa > -1 && aa < n ? (0.0, n - 1.0) : (1.0, 0.0); }
            else
            {
                double e1 = (-1 - aa) / bb, e2 = (n - aa) / bb;
                lo = Math.Min(e1, e2); hi = Math.Max(e1, e2);
            }
            k0[r] = (int)Math.Max(0, Math.Floor(lo));
            k1[r] = (int)Math.Min(n - 1, Math.Ceiling(hi));
            if (hi < 0 || lo > n - 1) { k0[r] = 1; k1[r] = 0; }
        }
    }

    public CtGeometry Geometry { get; }

    /// <summary>View angles in radians (a copy).</summary>
    public double[] Angles { get; }

    public int Views => Angles.Length;
    public int Detectors => Geometry.Detectors;
    public int ImageSize => Geometry.ImageSize;

    /// <summary>Builds the projector that matches a geometry (parallel or fan).</summary>
    public static CtProjector Create(CtGeometry geometry, double[] angles) => geometry.Beam == CtBeam.Parallel
        ? new ParallelBeamProjector(geometry, angles)
        : new FanBeamProjector(geometry, angles);

    static int Threads => Math.Max(1, torch.get_num_threads());

    public override Tensor Forward(Tensor x)
    {
        CheckInput(x);
        var img = ToArray(x);
        var sino = new float[Views * Detectors];
        int n = ImageSize, d = Detectors;
        Parallel.For(0, Views, new ParallelOptions { MaxDegreeOfParallelism = Threads }, v =>
        {
            for (int j = 0; j < d; j++)
            {
                int r = v * d + j;
                sino[r] = RaySum(img, n, r);
            }
        });
        return FromArray(sino, OutputShape, x);
    }

    public override Tensor Adjoint(Tensor y)
    {
        CheckOutput(y);
        var sino = ToArray(y);
        int n = ImageSize, d = Detectors, views = Views;
        int parts = Math.Min(Threads, views);
        var buffers = new float[parts][];
        Parallel.For(0, parts, new ParallelOptions { MaxDegreeOfParallelism = parts }, p =>
        {
            var buf = new float[n * n];
            int vs = (int)((long)views * p / parts), ve = (int)((long)views * (p + 1) / parts);
            for (int v = vs; v < ve; v++)
            for (int j = 0; j < d; j++)
            {
                int r = v * d + j;
                float val = sino[r];
                if (val != 0f) RaySpread(buf, n, r, val);
            }
            buffers[p] = buf;
        });
        var img = buffers[0];
        for (int p = 1; p < parts; p++)
        {
            var other = buffers[p];
            for (int i = 0; i < img.Length; i++) img[i] += other[i];
        }
        return FromArray(img, InputShape, y);
    }

    // Steps [kStart, ka) and (kb, kEnd] may touch the image border (checked); [ka, kb] are interior: 0 ≤ pos < N − 1.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    void Interior(int r, int n, out int ka, out int kb)
    {
        int kStart = k0[r], kEnd = k1[r];
        double aa = a[r], bb = b[r];
        if (Math.Abs(bb) < 1e-12)
        {
            if (aa >= 1e-7 && aa < n - 1 - 1e-7) { ka = kStart; kb = kEnd; } else { ka = kEnd + 1; kb = kEnd; }
            return;
        }
        double e1 = (1e-7 - aa) / bb, e2 = (n - 1 - 1e-7 - aa) / bb;
        double lo = Math.Min(e1, e2), hi = Math.Max(e1, e2);
        ka = (int)Math.Max(kStart, Math.Min(kEnd + 1.0, Math.Ceiling(lo) + 1));
        kb = (int)Math.Min(kEnd, Math.Max(ka - 1.0, Math.Floor(hi) - 1));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    float RaySum(float[] img, int n, int r)
    {
        int kStart = k0[r], kEnd = k1[r];
        if (kEnd < kStart) return 0f;
        Interior(r, n, out int ka, out int kb);
        double aa = a[r], bb = b[r];
        int so = vertical[r] ? n : 1, si = vertical[r] ? 1 : n;
        ref float im = ref MemoryMarshal.GetArrayDataReference(img);
        float sum = 0f;
        for (int k = kStart; k <= kEnd; k++)
        {
            double pos = aa + bb * k;
            if (k >= ka && k <= kb)
            {
                // Interior run: no bounds checks (pos ≥ 0, so truncation is floor).
                for (; k <= kb; k++)
                {
                    pos = aa + bb * k;
                    int j0 = (int)pos;
                    float g = (float)(pos - j0);
                    int idx = k * so + j0 * si;
                    sum += (1f - g) * Unsafe.Add(ref im, idx) + g * Unsafe.Add(ref im, idx + si);
                }
                k--;
                continue;
            }
            double fl = Math.Floor(pos);
            int i0 = (int)fl;
            float f = (float)(pos - fl);
            int baseIdx = k * so;
            if ((uint)i0 < (uint)n) sum += (1f - f) * Unsafe.Add(ref im, baseIdx + i0 * si);
            if ((uint)(i0 + 1) < (uint)n) sum += f * Unsafe.Add(ref im, baseIdx + (i0 + 1) * si);
        }
        return sum * w[r];
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    void RaySpread(float[] img, int n, int r, float value)
    {
        int kStart = k0[r], kEnd = k1[r];
        if (kEnd < kStart) return;
        Interior(r, n, out int ka, out int kb);
        double aa = a[r], bb = b[r];
        int so = vertical[r] ? n : 1, si = vertical[r] ? 1 : n;
        ref float im = ref MemoryMarshal.GetArrayDataReference(img);
        float val = value * w[r];
        for (int k = kStart; k <= kEnd; k++)
        {
            double pos = aa + bb * k;
            if (k >= ka && k <= kb)
            {
                for (; k <= kb; k++)
                {
                    pos = aa + bb * k;
                    int j0 = (int)pos;
                    float g = (float)(pos - j0);
                    int idx = k * so + j0 * si;
                    Unsafe.Add(ref im, idx) += (1f - g) * val;
                    Unsafe.Add(ref im, idx + si) += g * val;
                }
                k--;
                continue;
            }
            double fl = Math.Floor(pos);
            int i0 = (int)fl;
            float f = (float)(pos - fl);
            int baseIdx = k * so;
            if ((uint)i0 < (uint)n) Unsafe.Add(ref im, baseIdx + i0 * si) += (1f - f) * val;
            if ((uint)(i0 + 1) < (uint)n) Unsafe.Add(ref im, baseIdx + (i0 + 1) * si) += f * val;
        }
    }

    internal static float[] ToArray(Tensor t)
    {
        using var scope = NewDisposeScope();
        var c = t.detach().to(ScalarType.Float32).cpu().contiguous();
        if (!c.isfinite().all().item<bool>()) throw new ArgumentException("CT projector input contains NaN or infinite values");
        return c.data<float>().ToArray();
    }

    internal static Tensor FromArray(float[] data, long[] shape, Tensor like)
    {
        var t = torch.tensor(data, shape, ScalarType.Float32);
        if (like.dtype == ScalarType.Float32 && like.device_type == DeviceType.CPU) return t;
        using (t) return t.to(like.dtype == ScalarType.Float64 ? ScalarType.Float64 : ScalarType.Float32, like.device);
    }

    public void Dispose() => GC.SuppressFinalize(this);
}

/// <summary>Parallel-beam projector in ASTRA's <c>parallel</c> geometry: view θ integrates along x cos θ + y sin θ = t.</summary>
public sealed class ParallelBeamProjector : CtProjector
{
    public ParallelBeamProjector(CtGeometry geometry, double[] angles) : base(Check(geometry), angles) { }

    /// <summary>N×N image, detector spacing 1 pixel, ⌈N√2⌉+1 detectors unless given.</summary>
    public ParallelBeamProjector(int imageSize, double[] angles, int? detectors = null, double detectorSpacing = 1.0, double pixelSize = 1.0)
        : this(CtGeometry.ParallelBeam(imageSize, detectors, detectorSpacing, pixelSize), angles) { }

    static CtGeometry Check(CtGeometry g) => g.Beam == CtBeam.Parallel ? g : throw new ArgumentException("ParallelBeamProjector needs a parallel geometry");

    public override string Name => "CT-parallel";
}

/// <summary>Fan-beam projector (flat or equiangular detector) in ASTRA's <c>fanflat</c> orientation.</summary>
public sealed class FanBeamProjector : CtProjector
{
    public FanBeamProjector(CtGeometry geometry, double[] angles) : base(Check(geometry), angles) { }

    static CtGeometry Check(CtGeometry g) => g.Beam != CtBeam.Parallel ? g : throw new ArgumentException("FanBeamProjector needs a fan geometry");

    public override string Name => Geometry.Beam == CtBeam.FanFlat ? "CT-fan-flat" : "CT-fan-equiangular";
}

/// <summary>Common angle sets (radians, float64).</summary>
public static class CtAngles
{
    /// <summary><paramref name="views"/> equally spaced angles over an arc (degrees) starting at 0, endpoint excluded.</summary>
    public static double[] Uniform(int views, double arcDegrees = 180.0)
    {
        if (views < 1) throw new ArgumentException($"views must be positive, got {views}");
        if (!(arcDegrees > 0) || !double.IsFinite(arcDegrees)) throw new ArgumentException($"arc must be positive, got {arcDegrees}");
        var a = new double[views];
        for (int i = 0; i < views; i++) a[i] = arcDegrees * Math.PI / 180.0 * i / views;
        return a;
    }
}
