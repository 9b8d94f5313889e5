using PureHDF;
using TorchSharp;
using static TorchSharp.torch;

namespace MedRecon.Core.IO;

/// <summary>
/// Projections from an APS DataExchange HDF5 file: <c>/exchange/data</c> (projections, rows, columns),
/// <c>/exchange/data_white</c> and <c>/exchange/data_dark</c> (flat and dark fields, optional), <c>/exchange/theta</c>
/// (angles; converted to radians). Arrays are float32 (projections, rows, columns); angles float64 radians.
/// </summary>
public sealed record DataExchangeScan(string Path, Tensor Data, Tensor? White, Tensor? Dark, double[] ThetaRadians, string ThetaUnits)
{
    public int Projections => (int)Data.shape[0];
    public int Rows => (int)Data.shape[1];
    public int Columns => (int)Data.shape[2];
}

/// <summary>Reader and pre-processing (flat/dark correction, −log, centre of rotation) for DataExchange HDF5 projections.</summary>
public static class DataExchange
{
    public static DataExchangeScan Read(string path)
    {
        if (!File.Exists(path)) throw new InvalidInputFileException(path, "file not found");
        PureHDF.VOL.Native.NativeFile file;
        try { file = H5File.OpenRead(path); }
        catch (Exception e) when (e is not OutOfMemoryException)
        { throw new InvalidInputFileException(path, $"not a readable HDF5 file ({e.Message})", e); }
        using (file)
        {
            try
            {
                var data = ReadArray(file, path, "/exchange/data", required: true)!;
                if (data.dim() != 3) throw new InvalidInputFileException(path, $"/exchange/data must be 3-D (projections, rows, columns), has shape {Tensors.ShapeString(data.shape)}");
                if (data.numel() == 0) throw new InvalidInputFileException(path, "/exchange/data is empty");
                var white = ReadArray(file, path, "/exchange/data_white", required: false);
                var dark = ReadArray(file, path, "/exchange/data_dark", required: false);
                foreach (var (t, name) in new[] { (white, "data_white"), (dark, "data_dark") })
                    if (t is not null && (t.dim() != 3 || t.shape[1] != data.shape[1] || t.shape[2] != data.shape[2] || t.shape[0] == 0))
                        throw new InvalidInputFileException(path, $"/exchange/{name} has shape {Tensors.ShapeString(t.shape)}, expected (n, {data.shape[1]}, {data.shape[2]})");
                var thetaT = ReadArray(file, path, "/exchange/theta", required: true)!;
                var theta = thetaT.to(ScalarType.Float64).flatten().data<double>().ToArray();
                if (theta.Length != data.shape[0])
                    throw new InvalidInputFileException(path, $"/exchange/theta has {theta.Length} angles but /exchange/data has {data.shape[0]} projections");
                if (theta.Any(t => !double.IsFinite(t))) throw new InvalidInputFileException(path, "/exchange/theta contains NaN or infinite values");
                if (!Tensors.AllFinite(data)) throw new InvalidInputFileException(path, "/exchange/data contains NaN or infinite values");
                string units = ThetaUnits(file, theta);
                var radians = units == "radians" ? theta : theta.Select(t => t * Math.PI / 180.0).ToArray();
                return new DataExchangeScan(path, data, white, dark, radians, units);
            }
            catch (InvalidInputFileException) { throw; }
            catch (Exception e) when (e is not OutOfMemoryException)
            { throw new InvalidInputFileException(path, $"cannot read DataExchange datasets ({e.Message})", e); }
        }
    }

    /// <summary>Units of /exchange/theta: from its "units" attribute when present, else degrees when any |θ| exceeds 2π.</summary>
    static string ThetaUnits(PureHDF.VOL.Native.NativeFile file, double[] theta)
    {
        try
        {
            var ds = file.Dataset("/exchange/theta");
            if (ds.AttributeExists("units"))
            {
                string u = ds.Attribute("units").Read<string>().Trim().ToLowerInvariant();
                if (u.StartsWith("deg")) return "degrees";
                if (u.StartsWith("rad")) return "radians";
            }
        }
        catch (Exception) { /* fall back to the values */ }
        return theta.Any(t => Math.Abs(t) > 2 * Math.PI + 1e-6) ? "degrees" : "radians";
    }

    static Tensor? ReadArray(PureHDF.VOL.Native.NativeFile file, string path, string name, bool required)
    {
        bool exists;
        try { exists = file.LinkExists(name); }
        catch (Exception) { exists = false; }
        if (!exists)
        {
            if (required) throw new InvalidInputFileException(path, $"missing dataset {name}");
            return null;
        }
        var ds = file.Dataset(name);
        var dims = ds.Space.Dimensions.Select(d => (long)d).ToArray();
        long count = dims.Aggregate(1L, (a, b) => checked(a * b));
        if (count > int.MaxValue) throw new InvalidInputFileException(path, $"{name} is too large ({count} elements)");
        var type = ds.Type;
        float[] values;
        switch (type.Class)
        {
            case H5DataTypeClass.FloatingPoint when type.Size == 4: values = ds.Read<float[]>(); break;
            case H5DataTypeClass.FloatingPoint when type.Size == 8:
                return torch.tensor(ds.Read<double[]>(), dims, ScalarType.Float64).to(ScalarType.Float32);
            case H5DataTypeClass.FixedPoint:
                bool signed = type.FixedPoint.IsSigned;
                values = (type.Size, signed) switch
                {
                    (1, false) => ds.Read<byte[]>().Select(v => (float)v).ToArray(),
                    (1, true) => ds.Read<sbyte[]>().Select(v => (float)v).ToArray(),
                    (2, false) => ds.Read<ushort[]>().Select(v => (float)v).ToArray(),
                    (2, true) => ds.Read<short[]>().Select(v => (float)v).ToArray(),
                    (4, false) => ds.Read<uint[]>().Select(v => (float)v).ToArray(),
                    (4, true) => ds.Read<int[]>().Select(v => (float)v).ToArray(),
                    (8, false) => ds.Read<ulong[]>().Select(v => (float)v).ToArray(),
                    (8, true) => ds.Read<long[]>().Select(v => (float)v).ToArray(),
                    _ => throw new InvalidInputFileException(path, $"{name}: unsupported integer size {type.Size}"),
                };
                break;
            default:
                throw new InvalidInputFileException(path, $"{name}: unsupported element type {type.Class} ({type.Size} bytes)");
        }
        return torch.tensor(values, dims, ScalarType.Float32);
    }

    /// <summary>
    /// Flat/dark-field correction and −log for one detector row: returns the (projections, columns) sinogram of line
    /// integrals −log((data − dark) / (white − dark)), with the averaged fields; transmissions are clamped to
    /// [1e-6, ∞) so that dead or saturated pixels stay finite. Without fields the data are taken as transmissions.
    /// </summary>
    public static Tensor Sinogram(DataExchangeScan scan, int row = 0)
    {
        if (row < 0 || row >= scan.Rows) throw new ArgumentException($"row {row} is outside 0..{scan.Rows - 1}");
        using var scope = NewDisposeScope();
        var data = scan.Data.select(1, row);
        var dark = scan.Dark is null ? torch.zeros(scan.Columns) : scan.Dark.select(1, row).mean(new long[] { 0 });
        var white = scan.White is null ? torch.ones(scan.Columns) : scan.White.select(1, row).mean(new long[] { 0 });
        var denominator = (white - dark).clamp_min(1e-6f);
        var transmission = ((data - dark) / denominator).clamp_min(1e-6f);
        return transmission.log().neg().to(ScalarType.Float32).contiguous().MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The effective counts per ray of the open beam, I0, estimated from the flat fields of one detector row. A reading
    /// g·N of N Poisson-distributed photons has mean g·I0 and variance g²·I0 over repeated flat frames, so the gain is
    /// g = (variance − dark variance) / (mean − dark) for every column; its median over the columns (robust to dead and
    /// hot pixels), divided by the median of the sample variance's χ²_k/k (Wilson–Hilferty, k = frames − 1; a median of
    /// variance ratios is biased low otherwise), gives g, and I0 is the median flat signal over g. Intensity drifts
    /// between the frames add variance, so the estimate errs low (more smoothing, not less). Null with fewer than 2 flat
    /// frames or when no column shows a positive signal and excess variance. A penalised weighted least-squares
    /// reconstruction then weighs a ray of line integral y by I0·e^(−y) (<c>--photons</c>).
    /// </summary>
    public static double? EstimateFlatFieldCounts(DataExchangeScan scan, int row = 0)
    {
        if (row < 0 || row >= scan.Rows) throw new ArgumentException($"row {row} is outside 0..{scan.Rows - 1}");
        if (scan.White is null || scan.White.shape[0] < 2) return null;
        using var scope = NewDisposeScope();
        var white = scan.White.select(1, row).to(ScalarType.Float64);
        var dim = new long[] { 0 };
        var darkMean = torch.zeros(scan.Columns, dtype: ScalarType.Float64);
        var darkVariance = torch.zeros(scan.Columns, dtype: ScalarType.Float64);
        if (scan.Dark is not null)
        {
            var dark = scan.Dark.select(1, row).to(ScalarType.Float64);
            darkMean = dark.mean(dim);
            if (dark.shape[0] >= 2) darkVariance = dark.var(dim, unbiased: true);
        }
        var signal = white.mean(dim) - darkMean;
        var excess = white.var(dim, unbiased: true) - darkVariance;
        var valid = (signal > 0) & (excess > 0);
        if (!valid.any().item<bool>()) return null;
        double k = white.shape[0] - 1;
        double medianChiSquareOverK = Math.Pow(1 - 2 / (9 * k), 3);
        double gain = (excess[valid] / signal[valid]).median().item<double>() / medianChiSquareOverK;
        double counts = signal[valid].median().item<double>() / gain;
        return double.IsFinite(counts) && counts > 0 ? counts : null;
    }

    /// <summary>
    /// Centre of rotation (detector column, 0-based, fractional) by matching the projection at each angle θ with the
    /// mirrored projection at the angle closest to θ + 180° (the same lines seen from the other side): for every pair
    /// closer than 2° to opposite, the shift that minimises the mean squared difference is searched in ¼-column steps,
    /// then refined by a parabola; the median over pairs is returned.
    /// </summary>
    public static double FindRotationCentre(Tensor sinogram, double[] thetaRadians)
    {
        var s = sinogram.to(ScalarType.Float32).contiguous();
        int views = (int)s.shape[0], d = (int)s.shape[1];
        var data = s.data<float>().ToArray();
        var estimates = new List<double>();
        for (int i = 0; i < views; i++)
        {
            int best = -1;
            double bestGap = 2 * Math.PI / 180;
            for (int j = 0; j < views; j++)
            {
                double diff = Math.IEEERemainder(thetaRadians[j] - thetaRadians[i] - Math.PI, 2 * Math.PI);
                if (Math.Abs(diff) < bestGap) { bestGap = Math.Abs(diff); best = j; }
            }
            if (best < 0 || best < i) continue;
            estimates.Add(PairCentre(data.AsSpan(i * d, d).ToArray(), data.AsSpan(best * d, d).ToArray()));
            if (estimates.Count >= 16) break;
        }
        if (estimates.Count == 0) return (d - 1) / 2.0;
        estimates.Sort();
        return estimates[estimates.Count / 2];
    }

    static double PairCentre(float[] p0, float[] p1)
    {
        int d = p0.Length;
        // Mirror about centre c: p1(2c − u) ≈ p0(u). Search c in [d/4, 3d/4] in quarter steps.
        double Cost(double c)
        {
            double acc = 0; int n = 0;
            for (int u = 0; u < d; u++)
            {
                double m = 2 * c - u;
                int i0 = (int)Math.Floor(m);
                if (i0 < 0 || i0 + 1 >= d) continue;
                double f = m - i0;
                double v = (1 - f) * p1[i0] + f * p1[i0 + 1];
                double e = v - p0[u];
                acc += e * e; n++;
            }
            return n > d / 4 ? acc / n : double.MaxValue;
        }
        double bestC = (d - 1) / 2.0, bestCost = double.MaxValue;
        for (double c = d / 4.0; c <= 3 * d / 4.0; c += 0.25)
        {
            double cost = Cost(c);
            if (cost < bestCost) { bestCost = cost; bestC = c; }
        }
        double cm = Cost(bestC - 0.25), cp = Cost(bestC + 0.25);
        double denom = cm - 2 * bestCost + cp;
        if (denom > 0 && cm < double.MaxValue && cp < double.MaxValue) bestC += 0.25 * 0.5 * (cm - cp) / denom;
        return bestC;
    }
}
