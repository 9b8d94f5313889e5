using System.Text.Json;
using MedRecon.Dicom;
using static TorchSharp.torch;

namespace MedRecon.Cli.Pipelines;

/// <summary>
/// DICOM for the CT commands. A CT slice in HU becomes linear attenuation per mm, μ = μ_water·(1 + HU/1000) with
/// μ_water = 0.0192 /mm (water near 70 keV; air → 0, clamped at 0), and the pixel size defaults to the PixelSpacing in
/// mm, so line integrals are dimensionless and `--photons` is meaningful. Other modalities keep their values.
/// `simulate ct` records the source in dicom-source.json; `recon ct --out DIR` converts μ back to HU and writes a
/// derived series.
/// </summary>
public static class CtDicom
{
    public const double MuWaterPerMm = 0.0192;
    public const string RecordName = "dicom-source.json";

    public static Tensor HuToMu(Tensor hu) => (hu / 1000.0 + 1.0).clamp_min(0.0) * MuWaterPerMm;
    public static Tensor MuToHu(Tensor mu) => (mu / MuWaterPerMm - 1.0) * 1000.0;

    /// <summary>A CT-ready slice: values (μ per mm for CT), pixel size in mm, and the JSON record of its source.</summary>
    public sealed record Slice(Tensor Image, double PixelSizeMm, DicomSlices Source, bool Converted);

    public static Slice Read(string path, string? series, string? slice)
    {
        if (slice is not null && slice.Equals("all", StringComparison.OrdinalIgnoreCase))
            throw new CliException("--slice all is not supported by simulate ct; choose one slice (0-based index)");
        var src = DicomImages.Read(path, series, slice);
        int rows = (int)src.Images.shape[1], cols = (int)src.Images.shape[2];
        if (rows != cols) throw new CliException($"{path}: CT simulation needs square slices, the series is {cols}x{rows}");
        var (sx, sy, _) = src.Series.Spacing;
        if (Math.Abs(sx - sy) > 1e-3 * Math.Max(sx, sy))
            throw new CliException($"{path}: pixels are not square ({sx} x {sy} mm)");
        bool ct = src.Series.Modality == "CT";
        var img = ct ? HuToMu(src.Images[0]) : src.Images[0].clone();
        return new Slice(img, sx, src, ct);
    }

    public static void WriteRecord(string folder, Slice s) =>
        File.WriteAllText(Path.Combine(folder, RecordName), JsonSerializer.Serialize(new
        {
            path = Path.GetFullPath(s.Source.Path),
            seriesInstanceUID = s.Source.Series.SeriesInstanceUID,
            studyInstanceUID = s.Source.Series.StudyInstanceUID,
            modality = s.Source.Series.Modality,
            seriesSlices = s.Source.Series.SliceCount,
            slices = s.Source.Indices,
            pixelSizeMm = s.PixelSizeMm,
            values = s.Converted ? "attenuation per mm: mu = 0.0192 * (1 + HU/1000)" : "modality values",
            huToMu = s.Converted,
            muWaterPerMm = MuWaterPerMm,
        }, new JsonSerializerOptions { WriteIndented = true }));

    /// <summary>True when <paramref name="outPath"/> asks for a DICOM folder (no extension, or an existing folder).</summary>
    public static bool IsFolderOutput(string outPath) => Path.GetExtension(outPath).Length == 0 || Directory.Exists(outPath);

    /// <summary>Fails fast (before reconstructing) when a folder output has no DICOM source.</summary>
    public static void CheckSource(string sinogramPath, string? like, string outPath)
    {
        DicomImages.CheckOutputFolder(outPath);
        string record = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(sinogramPath)) ?? ".", RecordName);
        if (like is null && !File.Exists(record))
            throw new CliException($"--out {outPath}: a folder output writes a derived DICOM series, but the sinogram was not simulated from DICOM " +
                                   $"(no {RecordName} next to it); give --like SOURCE or an --out FILE.npy/.png");
    }

    /// <summary>Writes a reconstructed slice as a derived series: the source from dicom-source.json next to the
    /// sinogram, or <paramref name="like"/> (+ series, slice). μ is converted back to HU when the simulation converted.</summary>
    public static IReadOnlyList<string> WriteDerived(Tensor image, string sinogramPath, string? like, string? series, string? slice,
        string derivation, string outPath, bool standardDeviation = false)
    {
        DicomImages.CheckOutputFolder(outPath);
        string record = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(sinogramPath)) ?? ".", RecordName);
        DicomSeries src;
        int[] indices;
        bool toHu = false;
        if (like is null)
        {
            if (!File.Exists(record))
                throw new CliException($"--out {outPath}: a folder output writes a derived DICOM series, but the sinogram was not simulated from DICOM " +
                                       $"(no {RecordName} next to it); give --like SOURCE or an --out FILE.npy/.png");
            try
            {
                using var doc = JsonDocument.Parse(File.ReadAllText(record));
                var r = doc.RootElement;
                src = DicomImages.LoadSeries(r.GetProperty("path").GetString()!, r.GetProperty("seriesInstanceUID").GetString());
                indices = r.GetProperty("slices").EnumerateArray().Select(e => e.GetInt32()).ToArray();
                toHu = r.GetProperty("huToMu").GetBoolean();
            }
            catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
            {
                throw new CliException($"{record}: not a valid DICOM source record ({e.Message})");
            }
        }
        else
        {
            src = DicomImages.LoadSeries(like, series);
            indices = DicomImages.ParseSlices(slice ?? (src.SliceCount == 1 ? "0" : null), src.SliceCount);
            if (slice is null && src.SliceCount > 1)
                throw new CliException($"--like {like}: the series has {src.SliceCount} slices; choose the source slice with --slice K");
        }
        if (src.Modality is not ("CT" or "MR"))
            throw new CliException($"the DICOM source series is {src.Modality}; derived series are written for CT and MR sources only");
        using var scope = NewDisposeScope();
        // A standard deviation is a difference of μ values: only the scale of the HU map applies (1000 / μ_water).
        var values = !toHu ? image : standardDeviation ? image * (1000.0 / MuWaterPerMm) : MuToHu(image);
        string units = !toHu ? "" : standardDeviation ? "; HU scale: 1000 sigma_mu / 0.0192" : "; HU = 1000 (mu / 0.0192 - 1)";
        return DicomImages.WriteDerived(src, indices, values.unsqueeze(0), derivation + units,
            $"MedRecon CT recon {src.SeriesDescription}".Trim(), outPath, standardDeviation);
    }
}
