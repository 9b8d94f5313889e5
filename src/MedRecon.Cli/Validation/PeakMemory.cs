using System.Diagnostics;

namespace MedRecon.Cli.Validation;

/// <summary>
/// Peak memory of a method, from Linux's resident-set accounting, which counts managed and native (libtorch)
/// memory alike. In process: the peak RSS (VmHWM) is reset by writing "5" to /proc/self/clear_refs before the method
/// and read after it; the reported number is peak − RSS before, i.e. the extra resident memory the method needed.
/// Where that is not possible (not Linux), the managed allocation count is reported instead and labelled so.
/// External peers: their process's peak RSS (whole process, interpreter included), read by polling.
/// </summary>
public static class PeakMemory
{
    public const string InProcessLabel = "process peak RSS − RSS before (VmHWM after clear_refs)";
    public const string ManagedLabel = "managed bytes allocated (GC) — RSS not available";

    public static (T Result, double MiB, string Source) Measure<T>(Func<T> body)
    {
        long before = ReadStatus("self", "VmRSS:");
        bool reset = before > 0 && TryReset();
        long gcBefore = GC.GetTotalAllocatedBytes(precise: false);
        var result = body();
        if (reset)
        {
            long peak = ReadStatus("self", "VmHWM:");
            return (result, Math.Max(0, peak - before) / 1024.0, InProcessLabel);
        }
        return (result, (GC.GetTotalAllocatedBytes(false) - gcBefore) / (1024.0 * 1024.0), ManagedLabel);
    }

    static bool TryReset()
    {
        try
        {
            File.WriteAllText("/proc/self/clear_refs", "5");
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return false; }
    }

    /// <summary>A field of /proc/PID/status in KiB, or -1.</summary>
    public static long ReadStatus(string pid, string field)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
                if (line.StartsWith(field, StringComparison.Ordinal))
                    return long.Parse(line[field.Length..].Trim().Split(' ')[0]);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException) { }
        return -1;
    }

    /// <summary>Runs an external process; returns exit code, stdout, stderr, wall seconds and its peak RSS in MiB
    /// (polled every 5 ms from /proc, so the last reading before exit; -1 when never read).</summary>
    public static (int Code, string StdOut, string StdErr, double Seconds, double PeakMiB) RunProcess(
        string exe, IEnumerable<string> args, string workingDirectory, IDictionary<string, string>? env = null, int timeoutMs = 600_000)
    {
        var psi = new ProcessStartInfo(exe)
        {
            WorkingDirectory = workingDirectory, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        if (env != null) foreach (var (k, v) in env) psi.Environment[k] = v;
        var clock = Stopwatch.StartNew();
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {exe}");
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        long peak = -1;
        string pid = p.Id.ToString();
        while (!p.WaitForExit(5))
        {
            long hwm = ReadStatus(pid, "VmHWM:");
            if (hwm > peak) peak = hwm;
            if (clock.ElapsedMilliseconds > timeoutMs)
            {
                try { p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
                throw new TimeoutException($"{Path.GetFileName(exe)} did not finish within {timeoutMs / 1000} s");
            }
        }
        clock.Stop();
        return (p.ExitCode, stdout.Result, stderr.Result, clock.Elapsed.TotalSeconds, peak > 0 ? peak / 1024.0 : -1);
    }
}
