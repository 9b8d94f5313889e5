using System.Diagnostics;
using System.Globalization;
using System.Text;
using MedRecon.Dicom;

namespace MedRecon.Cli.Pipelines;

/// <summary>Load time of a DICOM series into a volume (HU for CT), MedRecon against pydicom on the same files.</summary>
public static class DicomBenchmark
{
    const string DebianPython = "/usr/bin/python3";

    public static string? DefaultSeries()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "..", "shared", "data", "ct", "philips-phantom-head-1mm");
            if (Directory.Exists(candidate)) return Path.GetFullPath(candidate);
        }
        return null;
    }

    public static string Run(string folder, TextWriter log, int repeats = 3)
    {
        var sb = new StringBuilder();
        sb.AppendLine($"## DICOM: load a series into a volume ({Path.GetFileName(folder.TrimEnd('/'))})");
        sb.AppendLine();
        double best = double.MaxValue;
        string shape = "";
        for (int i = 0; i < repeats; i++)
        {
            var clock = Stopwatch.StartNew();
            var result = DicomSeriesLoader.Load(folder);
            var series = result.Series.OrderByDescending(s => s.SliceCount).First();
            var volume = series.ToVolume();
            clock.Stop();
            best = Math.Min(best, clock.Elapsed.TotalSeconds);
            shape = $"{series.SliceCount}×{series.Rows}×{series.Columns}";
            GC.KeepAlive(volume);
        }
        sb.AppendLine("| reader | volume | best of 3 (s) |");
        sb.AppendLine("| --- | --- | ---: |");
        sb.AppendLine(string.Create(CultureInfo.InvariantCulture, $"| MedRecon (parse, sort, HU volume float32) | {shape} | {best:F3} |"));
        log.WriteLine($"MedRecon load {shape}: {best:F3} s");
        var py = PydicomSeconds(folder, repeats);
        sb.AppendLine(py is double s
            ? string.Create(CultureInfo.InvariantCulture, $"| pydicom (dcmread all, sort by position, HU volume float32) | {shape} | {s:F3} |")
            : "| pydicom | not installed | |");
        if (py is double t) log.WriteLine($"pydicom load: {t:F3} s");
        sb.AppendLine();
        sb.AppendLine("Both read every file of the folder from the page cache (one warm-up run first), on the same machine.");
        return sb.ToString();
    }

    static double? PydicomSeconds(string folder, int repeats)
    {
        if (!File.Exists(DebianPython)) return null;
        string script = """
import sys, os, time, numpy as np
import pydicom
folder, repeats = sys.argv[1], int(sys.argv[2])
def load():
    files = [os.path.join(r, f) for r, _, fs in os.walk(folder) for f in fs]
    ds = [pydicom.dcmread(f) for f in files]
    ds = [d for d in ds if 'PixelData' in d]
    n = np.cross(np.array(ds[0].ImageOrientationPatient[:3], float), np.array(ds[0].ImageOrientationPatient[3:], float))
    ds.sort(key=lambda d: float(np.dot(n, np.array(d.ImagePositionPatient, float))))
    return np.stack([d.pixel_array.astype(np.float32) * float(getattr(d, 'RescaleSlope', 1)) + float(getattr(d, 'RescaleIntercept', 0)) for d in ds])
load()
best = 1e9
for _ in range(repeats):
    t = time.perf_counter(); v = load(); best = min(best, time.perf_counter() - t)
print(best)
""";
        var psi = new ProcessStartInfo(DebianPython) { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(script);
        psi.ArgumentList.Add(folder);
        psi.ArgumentList.Add(repeats.ToString(CultureInfo.InvariantCulture));
        using var p = Process.Start(psi)!;
        string output = p.StandardOutput.ReadToEnd();
        p.StandardError.ReadToEnd();
        p.WaitForExit();
        return p.ExitCode == 0 && double.TryParse(output.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v : null;
    }
}
