using System.Globalization;
using System.CommandLine;
using MedRecon.Core;
using MedRecon.Core.IO;
using MedRecon.Solvers;
using static TorchSharp.torch;

namespace MedRecon.Cli;

/// <summary>An error that the CLI reports as one line and exit code 2 (bad input or options).</summary>
public sealed class CliException : Exception
{
    public CliException(string message) : base(message) { }
}

/// <summary>Shared plumbing for commands: error handling, input checks, atomic outputs, progress.</summary>
public static class CliSupport
{
    public const int ExitBadInput = 2;
    public const int ExitFailure = 1;

    /// <summary>
    /// Runs a command body; known input problems become one clear line on stderr and exit code 2, so scripts can
    /// tell bad input from crashes. Unexpected exceptions print their message and exit 1.
    /// </summary>
    public static int Run(Func<int> body)
    {
        try
        {
            return body();
        }
        catch (Exception e) when (e is CliException or InvalidInputFileException or ArgumentException
                                      or FileNotFoundException or DirectoryNotFoundException or UnauthorizedAccessException
                                      or Dicom.DicomFileException or Dicom.DicomDataException)
        {
            // ArgumentException appends " (Parameter 'name')": a library detail, not the user's option name.
            string message = e is ArgumentException a && a.ParamName is not null
                ? a.Message.Replace($" (Parameter '{a.ParamName}')", "") : e.Message;
            Console.Error.WriteLine($"error: {message.ReplaceLineEndings(" ")}");
            return ExitBadInput;
        }
        catch (IOException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return ExitFailure;
        }
    }

    /// <summary>
    /// Runs <paramref name="body"/> and, if libtorch throws (<see cref="System.Runtime.InteropServices.ExternalException"/>),
    /// once more. Rare native errors that did not recur ("Unknown scalar type" in add, twice in ≈ 330 validation runs)
    /// come from TorchSharp 0.107 leaving implicit Scalars to the finalizer (dotnet/TorchSharp PR #1434); the
    /// reconstructions are seeded, so the retry gives the same result, and a real error fails twice and propagates.
    /// <paramref name="onRetry"/> gets the first error's first line (default: a line on stderr naming <paramref name="what"/>).
    /// </summary>
    public static T RetryNativeOnce<T>(Func<T> body, string what, Action<string>? onRetry = null)
    {
        try { return body(); }
        catch (System.Runtime.InteropServices.ExternalException e)
        {
            string first = e.Message.Split('\n')[0];
            if (onRetry is null) Console.Error.WriteLine($"{what}: native torch error, retrying once: {first}");
            else onRetry(first);
            return body();
        }
    }

    /// <summary>Reads a .npy file, naming the file in every error; rejects NaN/Inf.</summary>
    public static Tensor ReadNpy(string path, string role, int[]? allowedRanks = null)
    {
        if (!File.Exists(path)) throw new CliException($"{path}: {role} file not found");
        var t = Npy.Read(path);
        if (allowedRanks != null && !allowedRanks.Contains((int)t.dim()))
            throw new CliException(
                $"{path}: {role} has shape {Tensors.ShapeString(t.shape)}; expected {string.Join(" or ", allowedRanks.Select(r => r + "-D"))}");
        if (t.is_floating_point() || t.is_complex())
        {
            if (!Tensors.AllFinite(t)) throw new CliException($"{path}: {role} contains NaN or Inf values");
        }
        return t;
    }

    /// <summary>Writes a 2-D image as .npy or .png (magnitude), chosen by the extension.</summary>
    public static void WriteImage(string path, Tensor image)
    {
        string ext = Path.GetExtension(path).ToLowerInvariant();
        EnsureParent(path);
        switch (ext)
        {
            case ".npy": Npy.Write(path, image); break;
            case ".png":
                if (image.dim() == 3 && image.shape[0] > 1)
                    Png.WriteMontage(path, Enumerable.Range(0, (int)image.shape[0]).Select(i => image[i]).ToList());
                else
                    Png.Write(path, image.dim() == 3 ? image[0] : image);
                break;
            default: throw new CliException($"{path}: unknown output format '{ext}' (use .npy or .png)");
        }
    }

    public static void CheckOutputExtension(string path, params string[] allowed)
    {
        string ext = Path.GetExtension(path).ToLowerInvariant();
        if (!allowed.Contains(ext))
            throw new CliException($"{path}: unknown output format '{ext}' (use {string.Join(" or ", allowed)})");
    }

    public static void EnsureParent(string path)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
    }

    /// <summary>
    /// Writes outputs that belong together (a reconstruction and its standard deviation) so that all appear or none:
    /// each writer gets a temporary sibling path (same extension), and only when every one succeeded are they moved
    /// into place. A folder target must be absent or empty (the DICOM writers check that before the work).
    /// </summary>
    public static void WriteTogether(params (string Path, Action<string> Write)[] outputs)
    {
        var staged = new List<(string Tmp, string Full)>();
        try
        {
            foreach (var (path, write) in outputs)
            {
                string full = Path.GetFullPath(path);
                string parent = Path.GetDirectoryName(full) ?? ".";
                Directory.CreateDirectory(parent);
                string tmp = Path.Combine(parent, $".{Path.GetFileNameWithoutExtension(full)}.tmp-{Environment.ProcessId}-{Guid.NewGuid():N}{Path.GetExtension(full)}");
                staged.Add((tmp, full));
                write(tmp);
            }
            // Every target checked before the first move, so a clash moves nothing.
            foreach (var (tmp, full) in staged)
                if (Directory.Exists(full) && (File.Exists(tmp) || Directory.EnumerateFileSystemEntries(full).Any()) || Directory.Exists(tmp) && File.Exists(full))
                    throw new CliException($"{full}: {(Directory.Exists(full) ? "a folder" : "a file")} is in the way of the output");
            foreach (var (tmp, full) in staged)
            {
                if (Directory.Exists(tmp))
                {
                    if (Directory.Exists(full)) Directory.Delete(full); // empty (checked above)
                    Directory.Move(tmp, full);
                }
                else File.Move(tmp, full, overwrite: true);
            }
        }
        catch
        {
            foreach (var (tmp, _) in staged)
            {
                try
                {
                    if (Directory.Exists(tmp)) Directory.Delete(tmp, true);
                    else if (File.Exists(tmp)) File.Delete(tmp);
                }
                catch (IOException) { }
            }
            throw;
        }
    }

    /// <summary><see cref="WriteTogether"/> for a result and, when there is one, its standard deviation.</summary>
    public static void WriteWithStandardDeviation(string path, Action<string> write, string? stdPath, Action<string>? writeStd)
    {
        if (writeStd is null) WriteTogether((path, write));
        else WriteTogether((path, write), (stdPath ?? throw new ArgumentNullException(nameof(stdPath)), writeStd));
    }

    /// <summary>Refuses, before any work, a file output whose path is an existing folder.</summary>
    public static void CheckOutputFile(string path)
    {
        if (Directory.Exists(path)) throw new CliException($"{path}: is a folder; give a file name for this output");
    }

    /// <summary>
    /// Writes a folder of outputs atomically: files go to a sibling temporary folder that replaces
    /// <paramref name="dir"/>'s files only when <paramref name="write"/> succeeded, so bad input leaves nothing behind.
    /// Files and folders of an earlier run that match <paramref name="ownedPatterns"/> (e.g. "*.png", "dicom-std") but were
    /// not written this time are removed then, so a rerun into the same folder leaves no stale result beside the new ones.
    /// </summary>
    public static void WriteFolder(string dir, Action<string> write, params string[] ownedPatterns)
    {
        var full = Path.GetFullPath(dir);
        var parent = Path.GetDirectoryName(full) ?? ".";
        Directory.CreateDirectory(parent);
        var tmp = Path.Combine(parent, $".{Path.GetFileName(full)}.tmp-{Environment.ProcessId}-{Guid.NewGuid():N}");
        if (Directory.Exists(tmp)) Directory.Delete(tmp, true);
        Directory.CreateDirectory(tmp);
        try
        {
            write(tmp);
            Directory.CreateDirectory(full);
            foreach (var pattern in ownedPatterns)
            {
                foreach (var stale in Directory.GetFiles(full, pattern))
                    if (!File.Exists(Path.Combine(tmp, Path.GetFileName(stale)))) File.Delete(stale);
                foreach (var stale in Directory.GetDirectories(full, pattern))
                    if (!Directory.Exists(Path.Combine(tmp, Path.GetFileName(stale)))) Directory.Delete(stale, recursive: true);
            }
            foreach (var f in Directory.GetFiles(tmp))
                File.Move(f, Path.Combine(full, Path.GetFileName(f)), overwrite: true);
            foreach (var d in Directory.GetDirectories(tmp))
            {
                var target = Path.Combine(full, Path.GetFileName(d));
                if (Directory.Exists(target)) Directory.Delete(target, recursive: true);
                Directory.Move(d, target);
            }
            Directory.Delete(tmp, true);
        }
        catch
        {
            try { Directory.Delete(tmp, true); } catch (IOException) { }
            throw;
        }
    }

    /// <summary>`--ref`: PSNR/SSIM/NMSE of the result against the ground truth, and with samples how the std relates to
    /// the error (stdout).</summary>
    public static void PrintReferenceMetrics(Tensor reference, Tensor result, Tensor? std)
    {
        var metrics = Metrics.Compute(reference, result);
        Console.WriteLine($"PSNR {metrics.Psnr:F2} dB  SSIM {metrics.Ssim:F4}  NMSE {metrics.Nmse:E3}");
        if (std is not null && Uncertainty(reference, result, std, Console.Out) is { } u) Console.WriteLine(DescribeUncertainty(u));
    }

    /// <summary><see cref="Metrics.Uncertainty"/>, or null with a line on <paramref name="log"/> where it is undefined (a
    /// zero std, an exact result): a report on the std must not cost the reconstruction already made.</summary>
    public static UncertaintyCalibration? Uncertainty(Tensor reference, Tensor result, Tensor std, TextWriter log)
    {
        try { return Metrics.Uncertainty(reference, result, std); }
        catch (ArgumentException e)
        {
            log.WriteLine($"std against |error| not measured: {e.Message}");
            return null;
        }
    }

    /// <summary>One line on how a std map relates to the error of the mean (docs/metrics.md, "Uncertainty").</summary>
    public static string DescribeUncertainty(UncertaintyCalibration u) => string.Create(CultureInfo.InvariantCulture,
        $"std against |error|: correlation {(u.Correlation is double c ? c.ToString("F2", CultureInfo.InvariantCulture) : "n/a")}, " +
        $"|error| <= 2 std at {100 * u.Coverage2Std:F1} % of pixels, RMS error / RMS std {u.ErrorToStdRatio:F2}, " +
        $"the 10 % largest std hold {100 * u.ErrorShareTop10:F1} % of the squared error (at most {100 * u.ErrorShareTop10Oracle:F1} %, random 10 %)");
}

/// <summary>
/// Progress for iterative solvers on stderr: an updating line on a terminal, a few milestone lines when redirected
/// (logs and CI stay readable).
/// </summary>
public sealed class ConsoleProgress : IProgress<SolverProgress>
{
    readonly string label;
    readonly bool interactive = !Console.IsErrorRedirected;
    readonly System.Diagnostics.Stopwatch clock = System.Diagnostics.Stopwatch.StartNew();
    int lastMilestone = -1;
    string? stage;
    double stageStart, lastReport;

    public ConsoleProgress(string label) => this.label = label;

    public static bool Quiet { get; set; }

    public void Report(SolverProgress p)
    {
        if (Quiet) return;
        double now = clock.Elapsed.TotalSeconds;
        if (p.Stage != stage)
        {
            // A new stage (the zero-shot loop's TV start, then its network evaluations) started when the last one
            // reported its end: its own elapsed time and ETA from there.
            stage = p.Stage;
            stageStart = lastReport;
            lastMilestone = -1;
        }
        lastReport = now;
        double elapsed = now - stageStart;
        double frac = p.Total > 0 ? (double)p.Iteration / p.Total : 0;
        double eta = frac > 0 ? elapsed * (1 - frac) / frac : 0;
        string line = $"{label}{(stage is null ? "" : $" {stage}")}: {p.Iteration}/{p.Total} ({frac:P0}) {p.ValueName ?? "value"} {p.Value:G4}, " +
                      $"{elapsed:F1} s, ETA {eta:F1} s";
        if (interactive)
        {
            Console.Error.Write("\r" + line.PadRight(Math.Min(Console.BufferWidth > 0 ? Console.BufferWidth - 1 : 100, 120)));
            if (p.Iteration >= p.Total) Console.Error.WriteLine();
        }
        else
        {
            int milestone = (int)(frac * 4); // 25 % steps
            if (milestone != lastMilestone || p.Iteration >= p.Total)
            {
                lastMilestone = milestone;
                Console.Error.WriteLine(line);
            }
        }
    }
}
