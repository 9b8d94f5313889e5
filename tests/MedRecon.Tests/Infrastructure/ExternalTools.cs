using System.Diagnostics;

namespace MedRecon.Tests.Infrastructure;

/// <summary>Runs peer tools (Debian's python3 with numpy/scipy/skimage, BART, dcmtk, ...) from tests.</summary>
public static class ExternalTools
{
    /// <summary>Debian's own interpreter: the python3 on PATH may be a separate build without Debian's modules.</summary>
    public const string DebianPython = "/usr/bin/python3";

    static readonly Dictionary<string, bool> ModuleCache = new();

    public static (int ExitCode, string StdOut, string StdErr) Run(string exe, IEnumerable<string> args,
        string? stdin = null, int timeoutMs = 120_000, string? workingDirectory = null)
    {
        var psi = new ProcessStartInfo(exe)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = stdin != null,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {exe}");
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (stdin != null)
        {
            p.StandardInput.Write(stdin);
            p.StandardInput.Close();
        }
        if (!p.WaitForExit(timeoutMs))
        {
            try { p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            throw new TimeoutException($"{exe} did not finish within {timeoutMs} ms");
        }
        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>Runs a Python script with Debian's python3; throws with stderr on failure.</summary>
    public static string RunPython(string script, int timeoutMs = 120_000, string? workingDirectory = null)
    {
        var (code, outText, err) = Run(DebianPython, new[] { "-c", script }, null, timeoutMs, workingDirectory);
        if (code != 0) throw new InvalidOperationException($"python failed ({code}): {err}");
        return outText;
    }

    public static bool HasPythonModules(params string[] modules)
    {
        if (!File.Exists(DebianPython)) return false;
        string key = string.Join(",", modules);
        lock (ModuleCache)
        {
            if (!ModuleCache.TryGetValue(key, out bool ok))
            {
                try { ok = Run(DebianPython, new[] { "-c", "import " + key }, timeoutMs: 60_000).ExitCode == 0; }
                catch (Exception) { ok = false; }
                ModuleCache[key] = ok;
            }
            return ok;
        }
    }

    /// <summary>Skips the calling test unless Debian's python3 can import the modules (installed by .ci/run).</summary>
    public static void RequirePython(params string[] modules) =>
        Skip.IfNot(HasPythonModules(modules), $"Debian python3 with {string.Join(", ", modules)} not installed (apt-get install python3-{string.Join(" python3-", modules)})");

    public static string? Which(string tool)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin").Split(':'))
        {
            var p = Path.Combine(dir, tool);
            if (File.Exists(p)) return p;
        }
        return null;
    }

    /// <summary>Skips the calling test unless the tool is on PATH.</summary>
    public static string RequireTool(string tool, string aptPackage)
    {
        var p = Which(tool);
        Skip.If(p == null, $"{tool} not installed (apt-get install {aptPackage})");
        return p!;
    }

    /// <summary>The shared data folder (../shared/data from the repository root), or null when absent.</summary>
    public static string? SharedData
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir != null)
            {
                var candidate = Path.Combine(dir.FullName, "..", "shared", "data");
                if (File.Exists(Path.Combine(dir.FullName, "MedRecon.sln")) && Directory.Exists(candidate))
                    return Path.GetFullPath(candidate);
                dir = dir.Parent;
            }
            return null;
        }
    }

    public static string RepositoryRoot
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir != null && !File.Exists(Path.Combine(dir.FullName, "MedRecon.sln"))) dir = dir.Parent;
            return dir?.FullName ?? throw new InvalidOperationException("repository root not found");
        }
    }
}

/// <summary>A temporary folder deleted on dispose.</summary>
public sealed class TempDir : IDisposable
{
    public TempDir() => Directory.CreateDirectory(Path);
    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "medrecon-test-" + Guid.NewGuid().ToString("N")[..12]);
    public string this[string name] => System.IO.Path.Combine(Path, name);
    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { }
    }
}
