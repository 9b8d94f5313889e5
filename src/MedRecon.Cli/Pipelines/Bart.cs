using System.Diagnostics;
using MedRecon.Core.IO;
using static TorchSharp.torch;

namespace MedRecon.Cli.Pipelines;

/// <summary>
/// Runs BART (the Berkeley Advanced Reconstruction Toolbox) on MedRecon's data for side-by-side comparisons.
/// Axis mapping: BART is column-major, so a C-order (coils, 1, ky, kx) tensor is BART's [kx, ky, 1, coils]
/// (dims READ, PHS1, PHS2, COIL), exactly what <c>pics</c> expects.
/// </summary>
public static class Bart
{
    public static string? Executable =>
        (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin").Split(':')
        .Select(d => Path.Combine(d, "bart")).FirstOrDefault(File.Exists);

    public static bool IsAvailable => Executable != null;

    /// <summary>
    /// <c>bart pics</c> on k-space (coils, ky, kx) with maps (coils, ky, kx) (ones for single coil).
    /// <paramref name="regularization"/> is pics's own syntax, e.g. "-R T:3:0:0.01" or "-l2 -r 0".
    /// Returns the complex image (ky, kx) and the wall time of the BART process.
    /// </summary>
    public static (Tensor Image, double Seconds) Pics(Tensor kspace, Tensor maps, string regularization, int iterations)
    {
        string exe = Executable ?? throw new InvalidOperationException("bart is not installed (apt-get install bart)");
        string dir = Path.Combine(Path.GetTempPath(), "medrecon-bart-" + Guid.NewGuid().ToString("N")[..10]);
        Directory.CreateDirectory(dir);
        try
        {
            long c = kspace.shape[0], ny = kspace.shape[1], nx = kspace.shape[2];
            Cfl.Write(Path.Combine(dir, "ksp"), kspace.reshape(c, 1, ny, nx));
            Cfl.Write(Path.Combine(dir, "sens"), maps.reshape(c, 1, ny, nx));
            var args = new List<string> { "pics", "-S", "-i", iterations.ToString() };
            args.AddRange(regularization.Split(' ', StringSplitOptions.RemoveEmptyEntries));
            args.AddRange(new[] { "ksp", "sens", "out" });
            var clock = Stopwatch.StartNew();
            Run(exe, args, dir);
            clock.Stop();
            var img = Cfl.Read(Path.Combine(dir, "out"));
            return (img.reshape(ny, nx), clock.Elapsed.TotalSeconds);
        }
        finally
        {
            try { Directory.Delete(dir, true); } catch (IOException) { }
        }
    }

    static void Run(string exe, IEnumerable<string> args, string dir)
    {
        var psi = new ProcessStartInfo(exe) { WorkingDirectory = dir, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["OMP_NUM_THREADS"] = Environment.ProcessorCount.ToString();
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        p.StandardOutput.ReadToEnd();
        if (!p.WaitForExit(600_000)) { p.Kill(true); throw new TimeoutException("bart pics took longer than 10 minutes"); }
        if (p.ExitCode != 0) throw new InvalidOperationException($"bart {string.Join(' ', args)} failed ({p.ExitCode}): {err.Result.Trim()}");
    }
}
