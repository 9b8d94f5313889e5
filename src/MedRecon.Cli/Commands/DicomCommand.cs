using System.CommandLine;
using System.Globalization;
using MedRecon.Cli.Pipelines;
using MedRecon.Dicom;
using static TorchSharp.torch;

namespace MedRecon.Cli.Commands;

/// <summary>`medrecon dicom info PATH` and `medrecon dicom export PATH --out FILE.npy`.</summary>
public static class DicomCommand
{
    public static Command Create()
    {
        var cmd = new Command("dicom", "Inspect DICOM files and folders and export series as volumes.");
        cmd.Subcommands.Add(CreateInfo());
        cmd.Subcommands.Add(CreateExport());
        return cmd;
    }

    static Command CreateInfo()
    {
        var path = new Argument<string>("path") { Description = "A DICOM file or a folder (searched recursively)." };
        var cmd = new Command("info", "List the series found: modality, size, slices, spacing, transfer syntax and warnings.");
        cmd.Arguments.Add(path);
        cmd.SetAction(parseResult => Run(() =>
        {
            var result = DicomSeriesLoader.Load(parseResult.GetValue(path)!);
            Console.WriteLine(Info(result));
            return result.Series.Count > 0 ? 0 : Fail("no image series found");
        }));
        return cmd;
    }

    /// <summary>The series table printed by `dicom info` (no patient identifiers).</summary>
    public static string Info(DicomLoadResult result)
    {
        var inv = CultureInfo.InvariantCulture;
        var sb = new System.Text.StringBuilder();
        sb.AppendLine($"{"#",-3} {"modality",-8} {"size",-11} {"slices",6} {"spacing (mm)",-22} {"syntax",-34} series");
        int k = 0;
        foreach (var s in result.Series)
        {
            var sp = s.Spacing;
            string spacing = string.Format(inv, "{0:0.###} x {1:0.###} x {2:0.###}", sp.X, sp.Y, sp.Z);
            string syntax = s.TransferSyntax.Name.Length > 34 ? s.TransferSyntax.Name[..34] : s.TransferSyntax.Name;
            sb.AppendLine($"{++k,-3} {s.Modality,-8} {s.Columns + "x" + s.Rows,-11} {s.SliceCount,6} {spacing,-22} {syntax,-34} {s.SeriesInstanceUID}");
            if (!s.TransferSyntax.IsPixelDataSupported)
                sb.AppendLine($"    warning: pixel data in {s.TransferSyntax.Name} cannot be decoded; transcode with `dcmdjpeg`/`gdcmconv --raw`");
            foreach (var w in s.Warnings) sb.AppendLine($"    warning: {w}");
        }
        if (result.NonImage.Count > 0) sb.AppendLine($"{result.NonImage.Count} DICOM file(s) without pixel data ignored");
        foreach (var (p, why) in result.Skipped) sb.AppendLine($"skipped {p}: {why}");
        return sb.ToString().TrimEnd();
    }

    static Command CreateExport()
    {
        var path = new Argument<string>("path") { Description = "A DICOM file or a folder (searched recursively)." };
        var output = new Option<string>("--out") { Description = "Output .npy file: float32 volume [slices, rows, columns], HU for CT.", Required = true };
        var seriesOpt = new Option<string?>("--series") { Description = "SeriesInstanceUID or 1-based index from `dicom info` (default: the largest series)." };
        var preview = new Option<string?>("--preview") { Description = "Also write a PNG of the middle slice, windowed by the series' WindowCenter/Width (else min–max)." };
        var cmd = new Command("export", "Export a series as a float32 .npy volume (modality values: Hounsfield units for CT).");
        cmd.Arguments.Add(path);
        cmd.Options.Add(output);
        cmd.Options.Add(seriesOpt);
        cmd.Options.Add(preview);
        cmd.SetAction(parseResult => Run(() =>
        {
            var result = DicomSeriesLoader.Load(parseResult.GetValue(path)!);
            if (result.Series.Count == 0) return Fail("no image series found" + (result.Skipped.Count > 0 ? $" ({result.Skipped.Count} file(s) skipped: {result.Skipped[0].Reason})" : ""));
            var sel = parseResult.GetValue(seriesOpt);
            DicomSeries series;
            if (sel == null) series = result.Series[0];
            else if (int.TryParse(sel, out int idx) && idx >= 1 && idx <= result.Series.Count) series = result.Series[idx - 1];
            else series = result.Series.FirstOrDefault(s => s.SeriesInstanceUID == sel) ?? throw new ArgumentException($"series '{sel}' not found");
            var vol = series.ToVolume();
            string outPath = parseResult.GetValue(output)!;
            using (var t = tensor(vol.Voxels, new long[] { vol.Depth, vol.Height, vol.Width }))
            {
                MedRecon.Core.IO.Npy.Write(outPath, t);
                if (parseResult.GetValue(preview) is { } png)
                {
                    var mid = series.Instances[Math.Min(DicomImages.MiddleSlice(vol.Depth), series.Instances.Count - 1)].Dataset;
                    double? lo = null, hi = null;
                    if (mid.TryGetValue<double>(DicomTag.WindowCenter, 0, out var c) && mid.TryGetValue<double>(DicomTag.WindowWidth, 0, out var w) && w > 0)
                        (lo, hi) = (c - w / 2, c + w / 2);
                    int middle = DicomImages.MiddleSlice(vol.Depth);
                    MedRecon.Core.IO.Png.Write(png, t[middle], lo, hi);
                    Console.WriteLine($"wrote {png} (slice {middle + 1} of {vol.Depth})");
                }
            }
            Console.WriteLine(string.Format(CultureInfo.InvariantCulture,
                "wrote {0}: {1} x {2} x {3} float32 ({4}), spacing {5:0.###} x {6:0.###} x {7:0.###} mm", outPath, vol.Depth, vol.Height, vol.Width,
                vol.IsHounsfield ? "HU" : "modality values", vol.Spacing.Z, vol.Spacing.Y, vol.Spacing.X));
            foreach (var w in vol.Warnings) Console.WriteLine("warning: " + w);
            return 0;
        }));
        return cmd;
    }

    static int Fail(string message)
    {
        Console.Error.WriteLine("error: " + message);
        return CliSupport.ExitBadInput;
    }

    static int Run(Func<int> body) => CliSupport.Run(body);
}
