using System.Globalization;
using MedRecon.Core.IO;
using MedRecon.Dicom;
using static TorchSharp.torch;

namespace MedRecon.Cli.Pipelines;

/// <summary>Slices read from a DICOM series: a float32 stack (slices, rows, cols) in modality units (HU for CT, stored
/// units after rescale for MR), the 0-based indices of the slices in the sorted series, and the series itself.</summary>
public sealed record DicomSlices(DicomSeries Series, Tensor Images, int[] Indices, string Path);

/// <summary>
/// The CLI's adapter to <c>MedRecon.Dicom</c>: recognises DICOM inputs, loads exactly one series, turns slices into
/// tensors, and writes derived or phantom series atomically into a new (or empty) folder. Every problem is a
/// <see cref="CliException"/> (one line, exit code 2).
/// </summary>
public static class DicomImages
{
    /// <summary>True for a folder, or for a file with the Part 10 <c>DICM</c> marker or that parses as DICOM
    /// (files without preamble). <c>.npy</c> files are never DICOM.</summary>
    public static bool IsDicom(string path)
    {
        if (Directory.Exists(path)) return true;
        if (!File.Exists(path)) return false;
        if (path.EndsWith(".npy", StringComparison.OrdinalIgnoreCase)) return false;
        try
        {
            using (var f = File.OpenRead(path))
            {
                var head = new byte[132];
                if (f.Read(head, 0, 132) == 132 && head[128] == 'D' && head[129] == 'I' && head[130] == 'C' && head[131] == 'M') return true;
            }
            DicomFile.Open(path);
            return true;
        }
        catch (Exception e) when (e is DicomFileException or DicomDataException or IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>Loads one image series from a file or folder. Several series are an error that lists them unless
    /// <paramref name="selector"/> (SeriesInstanceUID or 1-based index as in `dicom info`) picks one. Slices of
    /// different sizes are an error.</summary>
    public static DicomSeries LoadSeries(string path, string? selector)
    {
        DicomLoadResult result;
        try
        {
            result = DicomSeriesLoader.Load(path);
        }
        catch (FileNotFoundException)
        {
            throw new CliException($"{path}: no such file or folder");
        }
        if (result.Series.Count == 0)
            throw new CliException($"{path}: no DICOM image series found" +
                                   (result.Skipped.Count > 0 ? $" ({result.Skipped.Count} file(s) skipped, e.g. {System.IO.Path.GetFileName(result.Skipped[0].Path)}: {result.Skipped[0].Reason})" : ""));
        DicomSeries series;
        if (selector is not null)
        {
            if (int.TryParse(selector, NumberStyles.Integer, CultureInfo.InvariantCulture, out int k))
            {
                if (k < 1 || k > result.Series.Count)
                    throw new CliException($"--series {selector}: out of range ({path} has {result.Series.Count} series, 1..{result.Series.Count})");
                series = result.Series[k - 1];
            }
            else
                series = result.Series.FirstOrDefault(s => s.SeriesInstanceUID == selector)
                         ?? throw new CliException($"--series {selector}: not found in {path} (series: {ListSeries(result)})");
        }
        else if (result.Series.Count > 1)
            throw new CliException($"{path}: {result.Series.Count} series found, choose one with --series N or UID: {ListSeries(result)}");
        else series = result.Series[0];

        var sizes = series.Instances.Select(i => (Cols: i.Dataset.GetSingleValueOrDefault(DicomTag.Columns, 0), Rows: i.Dataset.GetSingleValueOrDefault(DicomTag.Rows, 0)))
            .Distinct().ToList();
        if (sizes.Count > 1)
            throw new CliException($"{path}: series {series.SeriesInstanceUID} mixes slice sizes ({string.Join(", ", sizes.Select(s => $"{s.Cols}x{s.Rows}"))}); " +
                                   "it cannot be stacked — separate the slices into one folder per size");
        if (series.Rows <= 0 || series.Columns <= 0) throw new CliException($"{path}: series {series.SeriesInstanceUID} has no Rows/Columns");
        return series;
    }

    static string ListSeries(DicomLoadResult result) =>
        string.Join("; ", result.Series.Select((s, i) => $"{i + 1}: {s.Modality} {s.Columns}x{s.Rows}x{s.SliceCount} {s.SeriesInstanceUID}"));

    /// <summary>The default slice of every command: the middle one, the lower of the two for an even count.</summary>
    public static int MiddleSlice(int count) => (count - 1) / 2;

    /// <summary>
    /// Parses a slice selection: null → the middle slice ((n − 1) / 2), "all", a 0-based index K, or a comma-separated
    /// list of indices and inclusive ranges ("3,5,7", "10-19", "0,4-6"), kept in the order given; repeats are refused.
    /// </summary>
    public static int[] ParseSlices(string? spec, int count)
    {
        if (spec is null) return new[] { MiddleSlice(count) };
        if (spec.Trim().Equals("all", StringComparison.OrdinalIgnoreCase)) return Enumerable.Range(0, count).ToArray();
        var indices = new List<int>();
        foreach (var part in spec.Split(','))
        {
            string item = part.Trim();
            int dash = item.Length > 1 ? item.IndexOf('-', 1) : -1; // from 1: a leading '-' is a (negative, refused) number, not a range
            int first, last;
            if (dash < 0) first = last = Index(item);
            else
            {
                first = Index(item[..dash]);
                last = Index(item[(dash + 1)..]);
                if (last < first) throw new CliException($"--slice {spec}: range {item} runs backwards");
            }
            for (int k = first; k <= last; k++)
            {
                if (indices.Contains(k)) throw new CliException($"--slice {spec}: slice {k} is selected twice");
                indices.Add(k);
            }
        }
        return indices.ToArray();

        int Index(string text)
        {
            if (!int.TryParse(text.Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out int k))
                throw new CliException($"--slice {spec}: expected 0-based slice indices (K, a list 3,5,7, a range 10-19) or 'all'");
            if (k < 0 || k >= count)
                throw new CliException($"--slice {spec}: {k} is out of range (the series has {count} slice(s), indices 0..{count - 1})");
            return k;
        }
    }

    /// <summary>(instance, frame) of each slice in series order.</summary>
    static List<(DicomFile File, int Frame)> SliceList(DicomSeries series)
    {
        var list = new List<(DicomFile, int)>();
        foreach (var inst in series.Instances)
        {
            int frames = Math.Max(1, inst.Dataset.GetSingleValueOrDefault(DicomTag.NumberOfFrames, 1));
            for (int f = 0; f < frames; f++) list.Add((inst, f));
        }
        return list;
    }

    /// <summary>Reads the selected slices as float32 (slices, rows, cols) in modality units.</summary>
    public static DicomSlices Read(string path, string? selector, string? sliceSpec)
    {
        var series = LoadSeries(path, selector);
        return Read(series, path, ParseSlices(sliceSpec, SliceList(series).Count));
    }

    /// <summary>Reads slices of a series already loaded (a per-slice loop reads each file once, not the folder per slice).</summary>
    public static DicomSlices Read(DicomSeries series, string path, int[] indices)
    {
        var slices = SliceList(series);
        foreach (int i in indices)
            if (i < 0 || i >= slices.Count) throw new CliException($"slice {i} is out of range (the series has {slices.Count})");
        int rows = series.Rows, cols = series.Columns;
        var buffer = new float[(long)indices.Length * rows * cols];
        try
        {
            for (int i = 0; i < indices.Length; i++)
            {
                var (file, frame) = slices[indices[i]];
                var px = DicomPixelData.Create(file);
                if (px.SamplesPerPixel != 1) throw new CliException($"{file.FilePath}: colour images are not supported (SamplesPerPixel {px.SamplesPerPixel})");
                px.CopyFrameTo(frame, buffer.AsSpan(i * rows * cols, rows * cols));
            }
        }
        catch (DicomFileException e)
        {
            throw new CliException(e.Message.ReplaceLineEndings(" "));
        }
        if (buffer.Any(v => !float.IsFinite(v))) throw new CliException($"{path}: pixel data contains NaN or Inf values");
        var t = tensor(buffer, new long[] { indices.Length, rows, cols });
        return new DicomSlices(series, t, indices, path);
    }

    /// <summary>The data sets of the given slices (single-frame instances only; the derived-series writer needs one
    /// instance per slice).</summary>
    public static List<DicomDataset> SourceDatasets(DicomSeries series, IReadOnlyList<int> indices)
    {
        var slices = SliceList(series);
        foreach (int k in indices)
            if (k < 0 || k >= slices.Count)
                throw new CliException($"slice {k} is out of range for series {series.SeriesInstanceUID} ({slices.Count} slices)");
        if (slices.Count != series.Instances.Count)
            throw new CliException($"series {series.SeriesInstanceUID} is multi-frame; derived DICOM output needs one instance per slice");
        return indices.Select(k => slices[k].File.Dataset).ToList();
    }

    /// <summary>Checks that a DICOM output folder is new or empty, so two series never mix.</summary>
    public static void CheckOutputFolder(string folder)
    {
        if (File.Exists(folder)) throw new CliException($"--out {folder}: is a file; DICOM output needs a folder");
        if (Directory.Exists(folder) && Directory.EnumerateFileSystemEntries(folder).Any())
            throw new CliException($"--out {folder}: folder exists and is not empty; choose a new folder for the DICOM series");
    }

    /// <summary>Writes a derived series (one output slice per entry of <paramref name="indices"/>) from a float stack
    /// (slices, rows, cols), geometry and UIDs taken from the source slices; atomic (temporary folder, then moved).
    /// A <paramref name="standardDeviation"/> series gets its own Series Number (the result's + 1) and a description
    /// ending in " std", so a PACS lists it apart from the result.</summary>
    public static IReadOnlyList<string> WriteDerived(DicomSeries source, IReadOnlyList<int> indices, Tensor stack, string derivation,
        string? seriesDescription, string folder, bool standardDeviation = false)
    {
        CheckOutputFolder(folder);
        if (stack.dim() == 2) stack = stack.unsqueeze(0);
        if (stack.dim() != 3 || stack.shape[0] != indices.Count)
            throw new CliException($"{indices.Count} source slice(s) but the image stack is {Core.Tensors.ShapeString(stack.shape)}");
        int depth = (int)stack.shape[0], rows = (int)stack.shape[1], cols = (int)stack.shape[2];
        if (rows != source.Rows || cols != source.Columns)
            throw new CliException($"the image is {cols}x{rows} but the DICOM source series is {source.Columns}x{source.Rows}");
        var datasets = SourceDatasets(source, indices);
        float[] voxels;
        using (var f = stack.to(ScalarType.Float32).contiguous()) voxels = f.data<float>().ToArray();
        if (voxels.Any(v => !float.IsFinite(v))) throw new CliException("the reconstruction contains NaN or Inf values; no DICOM written");
        try
        {
            string? description = seriesDescription is null ? null : Truncate(seriesDescription, 64);
            int? number = null;
            if (standardDeviation)
            {
                description = Truncate(description ?? $"MedRecon {source.SeriesDescription}".Trim(), 60) + " std";
                number = datasets[0].GetSingleValueOrDefault(DicomTag.SeriesNumber, 0) + DerivedSeriesOptions.SeriesNumberOffset + 1;
            }
            return DicomSeriesWriter.WriteDerived(datasets, voxels, cols, rows, depth,
                new DerivedSeriesOptions { DerivationDescription = Truncate(derivation, 1024), SeriesDescription = description, SeriesNumber = number },
                folder);
        }
        catch (DicomDataException e)
        {
            throw new CliException($"{source.SeriesInstanceUID}: cannot write a derived series: {e.Message}");
        }
    }

    /// <summary>Writes a synthetic phantom series (slices, rows, cols) in modality units; atomic.</summary>
    public static IReadOnlyList<string> WritePhantom(Tensor stack, string modality, string name, (double X, double Y, double Z) spacing, string folder)
    {
        CheckOutputFolder(folder);
        if (stack.dim() == 2) stack = stack.unsqueeze(0);
        int depth = (int)stack.shape[0], rows = (int)stack.shape[1], cols = (int)stack.shape[2];
        float[] voxels;
        using (var f = stack.to(ScalarType.Float32).contiguous()) voxels = f.data<float>().ToArray();
        return DicomSeriesWriter.WritePhantom(voxels, cols, rows, depth,
            new PhantomSeriesOptions { Modality = modality, PhantomName = name, Spacing = spacing }, folder);
    }

    /// <summary>
    /// A NIfTI-1 volume as a DICOM series (one instance per slice along the file's third axis), so the DICOM-in,
    /// DICOM-out pipeline can start from it: values as stored (MR: arbitrary units; CT: taken as HU), geometry from
    /// the NIfTI affine (RAS+ → DICOM LPS), patient "ANONYMOUS^MEDRECON" (a NIfTI file carries no identity).
    /// </summary>
    public static NiftiVolume WriteNifti(string niftiPath, string modality, string folder)
    {
        CheckOutputFolder(folder);
        var v = Nifti.Read(niftiPath);
        var a = v.Affine;
        double Norm(int c) => Math.Sqrt(a[0, c] * a[0, c] + a[1, c] * a[1, c] + a[2, c] * a[2, c]);
        // RAS+ → LPS: negate x and y.
        double[] Lps(double x, double y, double z) => new[] { -x, -y, z };
        double[] Direction(int c) { double n = Norm(c); return Lps(a[0, c] / n, a[1, c] / n, a[2, c] / n); }
        var row = Direction(0);
        var column = Direction(1);
        var geometry = new PatientGeometry(row.Concat(column).ToArray(), Lps(a[0, 3], a[1, 3], a[2, 3]), Lps(a[0, 2], a[1, 2], a[2, 2]));
        int depth = (int)v.Data.shape[0], rows = (int)v.Data.shape[1], cols = (int)v.Data.shape[2];
        float[] voxels;
        using (var f = v.Data.contiguous()) voxels = f.data<float>().ToArray();
        DicomSeriesWriter.WritePhantom(voxels, cols, rows, depth, new PhantomSeriesOptions
        {
            Modality = modality, PhantomName = Path.GetFileName(niftiPath), ConvertedFrom = $"NIfTI-1 file {Path.GetFileName(niftiPath)} ({v.AffineSource} geometry)",
            Spacing = (Norm(0), Norm(1), Norm(2)), Geometry = geometry,
        }, folder);
        return v;
    }

    /// <summary>
    /// Where slices of a series written by <see cref="WriteNifti"/> lie in the NIfTI volume, for writing results back as
    /// NIfTI: the volume's slice index k of each series index (the series is sorted along row × column, which runs
    /// against k when the affine is left-handed), the order that sorts them by k, and the affine of that sub-volume
    /// (origin moved to the first slice, slice axis times the step). Null with a reason when the slices are not evenly
    /// spaced (no single affine describes them).
    /// </summary>
    public static (double[,] Affine, int[] Order)? NiftiSubVolume(double[,] affine, int depth, IReadOnlyList<int> seriesIndices, out string? reason)
    {
        if (Math.Abs(Nifti.Determinant(affine)) < 1e-9)
        {
            reason = "the file's affine is singular";
            return null;
        }
        var k = NiftiSliceOf(affine, depth, seriesIndices);
        var order = Enumerable.Range(0, k.Length).OrderBy(j => k[j]).ToArray();
        int step = k.Length > 1 ? k[order[1]] - k[order[0]] : 1;
        for (int j = 1; j < order.Length; j++)
            if (k[order[j]] - k[order[j - 1]] != step || step < 1)
            {
                reason = $"slices {string.Join(",", seriesIndices)} are not evenly spaced";
                return null;
            }
        var a = (double[,])affine.Clone();
        for (int r = 0; r < 3; r++)
        {
            a[r, 3] += affine[r, 2] * k[order[0]];
            a[r, 2] *= step;
        }
        reason = null;
        return (a, order);
    }

    /// <summary>The file's slice index k of each series index (see <see cref="NiftiSubVolume"/>).</summary>
    public static int[] NiftiSliceOf(double[,] affine, int depth, IReadOnlyList<int> seriesIndices)
    {
        bool rightHanded = Nifti.Determinant(affine) >= 0;
        return seriesIndices.Select(i => rightHanded ? i : depth - 1 - i).ToArray();
    }

    static string Truncate(string s, int n) => s.Length <= n ? s : s[..n];
}
