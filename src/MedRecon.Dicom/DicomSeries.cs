namespace MedRecon.Dicom;

/// <summary>One image series: instances sorted along the slice normal, with geometry warnings.</summary>
public sealed class DicomSeries
{
    internal DicomSeries(string uid, List<DicomFile> instances)
    {
        SeriesInstanceUID = uid;
        Instances = instances;
    }

    public string SeriesInstanceUID { get; }
    /// <summary>Instances in slice order (increasing position along the normal, or InstanceNumber).</summary>
    public List<DicomFile> Instances { get; private set; }
    public List<string> Warnings { get; } = new();
    DicomDataset First => Instances[0].Dataset;
    public string Modality => First.GetString(DicomTag.Modality);
    public string StudyInstanceUID => First.GetString(DicomTag.StudyInstanceUID);
    public string SeriesDescription => First.GetString(DicomTag.SeriesDescription);
    public DicomTransferSyntax TransferSyntax => Instances[0].TransferSyntax;
    public int Rows => First.GetSingleValueOrDefault(DicomTag.Rows, 0);
    public int Columns => First.GetSingleValueOrDefault(DicomTag.Columns, 0);
    /// <summary>Total number of slices (frames of all instances).</summary>
    public int SliceCount => Instances.Sum(i => Math.Max(1, i.Dataset.GetSingleValueOrDefault(DicomTag.NumberOfFrames, 1)));
    /// <summary>Sorted by geometry (true) or by InstanceNumber (false).</summary>
    public bool SortedByPosition { get; private set; }
    /// <summary>Spacing (x = column spacing, y = row spacing, z = between slices) in mm; z from the positions when known.</summary>
    public (double X, double Y, double Z) Spacing { get; private set; } = (1, 1, 1);
    public double[]? Normal { get; private set; }

    internal void Sort()
    {
        var ds0 = First;
        bool geometry = Instances.All(i => i.Dataset.TryGetValues<double>(DicomTag.ImagePositionPatient, out var p) && p.Length == 3 &&
                                           i.Dataset.TryGetValues<double>(DicomTag.ImageOrientationPatient, out var o) && o.Length == 6);
        double sx = 1, sy = 1;
        if (ds0.TryGetValues<double>(DicomTag.PixelSpacing, out var ps) && ps.Length >= 2 && ps[0] > 0 && ps[1] > 0)
        {
            sy = ps[0];
            sx = ps[1];
        }
        else Warnings.Add("PixelSpacing missing: 1 mm assumed");
        double sz = ds0.TryGetValue<double>(DicomTag.SpacingBetweenSlices, 0, out var sbs) && sbs > 0 ? sbs
            : ds0.TryGetValue<double>(DicomTag.SliceThickness, 0, out var st) && st > 0 ? st : 1.0;

        if (Instances.Select(i => (i.Dataset.GetSingleValueOrDefault(DicomTag.Rows, 0), i.Dataset.GetSingleValueOrDefault(DicomTag.Columns, 0))).Distinct().Count() > 1)
            Warnings.Add("instances have different Rows/Columns: the series cannot be stacked into one volume");

        if (ds0.TryGetValue<double>(DicomTag.GantryDetectorTilt, 0, out var tilt) && Math.Abs(tilt) > 1e-3)
            Warnings.Add($"gantry tilt {tilt:0.##}° (GantryDetectorTilt): slices are sheared; the volume is not resampled");

        if (geometry && Instances.Count > 1)
        {
            var o = ds0.GetValues<double>(DicomTag.ImageOrientationPatient);
            var n = Cross(o[..3], o[3..]);
            double nn = Math.Sqrt(Dot(n, n));
            if (nn < 1e-6) { geometry = false; Warnings.Add("ImageOrientationPatient is degenerate"); }
            else
            {
                for (int k = 0; k < 3; k++) n[k] /= nn;
                Normal = n;
                foreach (var inst in Instances.Skip(1))
                {
                    var oi = inst.Dataset.GetValues<double>(DicomTag.ImageOrientationPatient);
                    if (oi.Zip(o).Any(t => Math.Abs(t.First - t.Second) > 1e-3))
                    {
                        Warnings.Add("instances have different ImageOrientationPatient (e.g. a localizer mixed in)");
                        break;
                    }
                }
                var keyed = Instances.Select(i => (File: i, Pos: Dot(i.Dataset.GetValues<double>(DicomTag.ImagePositionPatient), n),
                        Num: i.Dataset.GetSingleValueOrDefault(DicomTag.InstanceNumber, 0)))
                    .OrderBy(t => t.Pos).ThenBy(t => t.Num).ToList();
                Instances = keyed.Select(k => k.File).ToList();
                SortedByPosition = true;
                var gaps = new List<double>();
                for (int i = 1; i < keyed.Count; i++) gaps.Add(keyed[i].Pos - keyed[i - 1].Pos);
                var sorted = gaps.OrderBy(g => g).ToList();
                double median = sorted[sorted.Count / 2];
                if (sorted[0] < 1e-3)
                    Warnings.Add($"{gaps.Count(g => g < 1e-3)} slices share a position with another (duplicates or several acquisitions)");
                if (median > 1e-3)
                {
                    sz = median;
                    double tol = Math.Max(0.01, 0.01 * median);
                    var uneven = gaps.Where(g => Math.Abs(g - median) > tol).ToList();
                    var big = gaps.Select((g, i) => (g, i)).Where(t => t.g > 1.5 * median).ToList();
                    if (big.Count > 0)
                        Warnings.Add($"{big.Count} gap(s) in slice positions (e.g. {big[0].g:0.###} mm after slice {big[0].i}, spacing {median:0.###} mm): missing slices?");
                    else if (uneven.Count > 0)
                        Warnings.Add($"uneven slice spacing: {sorted[0]:0.###}..{sorted[^1]:0.###} mm (median {median:0.###} mm)");
                }
                // tilt/shear visible in the positions: the step between slices is not along the normal
                var p0 = Instances[0].Dataset.GetValues<double>(DicomTag.ImagePositionPatient);
                var p1 = Instances[^1].Dataset.GetValues<double>(DicomTag.ImagePositionPatient);
                var d = new[] { p1[0] - p0[0], p1[1] - p0[1], p1[2] - p0[2] };
                double dl = Math.Sqrt(Dot(d, d));
                if (dl > 1e-6)
                {
                    double angle = Math.Acos(Math.Clamp(Math.Abs(Dot(d, n)) / dl, 0, 1)) * 180 / Math.PI;
                    if (angle > 0.1 && !Warnings.Any(w => w.StartsWith("gantry tilt")))
                        Warnings.Add($"slice positions step {angle:0.##}° off the slice normal (gantry tilt or shear): the volume is not resampled");
                }
            }
        }
        if (!SortedByPosition)
        {
            if (Instances.Count > 1) Warnings.Add("ImagePositionPatient/ImageOrientationPatient missing: slices sorted by InstanceNumber");
            Instances = Instances.OrderBy(i => i.Dataset.GetSingleValueOrDefault(DicomTag.InstanceNumber, int.MaxValue))
                .ThenBy(i => i.FilePath, StringComparer.Ordinal).ToList();
        }
        Spacing = (sx, sy, sz);
    }

    internal static double Dot(double[] a, double[] b) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
    internal static double[] Cross(double[] a, double[] b) => new[] { a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0] };

    /// <summary>Stacks the series into a float volume of modality values (HU for CT).</summary>
    public DicomVolume ToVolume()
    {
        int rows = Rows, cols = Columns;
        if (rows <= 0 || cols <= 0) throw new DicomDataException($"series {SeriesInstanceUID} has no Rows/Columns");
        int depth = SliceCount;
        long total = (long)rows * cols * depth;
        if (total > Array.MaxLength) throw new DicomDataException($"volume of {total} voxels is too large");
        var vox = new float[total];
        // Each instance owns a known range of slices, so instances decode in parallel without sharing state.
        var firstSlice = new int[Instances.Count];
        var pixels = new DicomPixelData[Instances.Count];
        int z = 0;
        for (int i = 0; i < Instances.Count; i++)
        {
            var inst = Instances[i];
            var px = pixels[i] = DicomPixelData.Create(inst);
            if (px.Rows != rows || px.Columns != cols)
                throw new DicomFileException(inst.FilePath, -1, $"slice is {px.Columns}×{px.Rows}, the series is {cols}×{rows}");
            if (px.SamplesPerPixel != 1) throw new DicomFileException(inst.FilePath, -1, "colour images cannot be stacked into a scalar volume");
            firstSlice[i] = z;
            z += px.NumberOfFrames;
        }
        if (z != depth) throw new DicomDataException($"series {SeriesInstanceUID}: {z} frames, expected {depth}");
        try
        {
            Parallel.For(0, Instances.Count, i =>
            {
                for (int f = 0; f < pixels[i].NumberOfFrames; f++)
                    pixels[i].CopyFrameTo(f, vox.AsSpan((int)((long)(firstSlice[i] + f) * rows * cols), rows * cols));
            });
        }
        catch (AggregateException e) when (e.InnerExceptions.Count > 0)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e.InnerExceptions[0]).Throw();
            throw;
        }
        var ds0 = First;
        var o = ds0.TryGetValues<double>(DicomTag.ImageOrientationPatient, out var io) && io.Length == 6 ? io : new double[] { 1, 0, 0, 0, 1, 0 };
        var origin = ds0.TryGetValues<double>(DicomTag.ImagePositionPatient, out var ip) && ip.Length == 3 ? ip : new double[3];
        return new DicomVolume(vox, cols, rows, depth, Spacing, origin, o[..3], o[3..], Normal ?? Cross(o[..3], o[3..]), Modality,
            Modality == "CT", Warnings.ToList(), this);
    }
}

/// <summary>A stacked scalar volume, voxels ordered [z][y][x] (slice, row, column), in modality units (HU for CT).</summary>
public sealed record DicomVolume(
    float[] Voxels, int Width, int Height, int Depth,
    (double X, double Y, double Z) Spacing,
    double[] Origin, double[] RowDirection, double[] ColumnDirection, double[] Normal,
    string Modality, bool IsHounsfield, IReadOnlyList<string> Warnings, DicomSeries Source);

/// <summary>The result of loading a folder: the series found and the files skipped (with the reason).</summary>
public sealed class DicomLoadResult
{
    public List<DicomSeries> Series { get; } = new();
    /// <summary>Files that are not DICOM or could not be parsed: (path, reason).</summary>
    public List<(string Path, string Reason)> Skipped { get; } = new();
    /// <summary>DICOM files without pixel data (structured reports, DICOMDIR, ...), ignored.</summary>
    public List<string> NonImage { get; } = new();
}

/// <summary>Loads DICOM series from a file or a folder (recursively).</summary>
public static class DicomSeriesLoader
{
    public static DicomLoadResult Load(string path, DicomReadOptions? options = null)
    {
        var result = new DicomLoadResult();
        IEnumerable<string> files;
        if (File.Exists(path)) files = new[] { path };
        else if (Directory.Exists(path))
            files = Directory.EnumerateFiles(path, "*", new EnumerationOptions { RecurseSubdirectories = true, IgnoreInaccessible = true, AttributesToSkip = FileAttributes.ReparsePoint })
                .OrderBy(p => p, StringComparer.Ordinal);
        else throw new FileNotFoundException($"{path}: no such file or folder", path);

        // Parse files in parallel (I/O and decoding dominate), then group in the sorted file order so results are
        // deterministic.
        var paths = files.ToArray();
        var parsed = new (DicomFile? File, string? Skip, bool NonImage)[paths.Length];
        Parallel.For(0, paths.Length, i => parsed[i] = Parse(paths[i], options));
        var bySeries = new Dictionary<string, List<DicomFile>>();
        for (int i = 0; i < paths.Length; i++)
        {
            var (file, skip, nonImage) = parsed[i];
            if (skip != null) { result.Skipped.Add((paths[i], skip)); continue; }
            if (nonImage) { result.NonImage.Add(paths[i]); continue; }
            string uid = file!.Dataset.GetString(DicomTag.SeriesInstanceUID);
            if (uid.Length == 0) uid = "(no SeriesInstanceUID)";
            if (!bySeries.TryGetValue(uid, out var list)) bySeries[uid] = list = new List<DicomFile>();
            list.Add(file);
        }
        foreach (var (uid, list) in bySeries)
        {
            var s = new DicomSeries(uid, list);
            s.Sort();
            result.Series.Add(s);
        }
        result.Series.Sort((a, b) => b.SliceCount.CompareTo(a.SliceCount));
        return result;
    }

    static (DicomFile? File, string? Skip, bool NonImage) Parse(string f, DicomReadOptions? options)
    {
        DicomFile file;
        try
        {
            file = DicomFile.Open(f, options);
        }
        catch (DicomFileException ex)
        {
            return (null, ex.Problem, false);
        }
        catch (IOException ex)
        {
            return (null, ex.Message, false);
        }
        if (!file.Dataset.Contains(DicomTag.PixelData) && !file.Dataset.Contains(DicomTag.FloatPixelData))
            return (null, null, true);
        try
        {
            DicomPixelData.Create(file); // validates the image pixel module without decoding
        }
        catch (DicomUnsupportedTransferSyntaxException)
        {
            // kept: the series is listed (its syntax is shown) but ToVolume will raise the transcoding hint
        }
        catch (DicomFileException ex)
        {
            return (null, ex.Problem, false);
        }
        return (file, null, false);
    }
}
