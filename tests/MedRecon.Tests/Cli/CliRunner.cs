using MedRecon.Tests.Infrastructure;

namespace MedRecon.Tests.Cli;

/// <summary>Runs the real <c>medrecon</c> executable (built next to the tests) in a child process.</summary>
public static class CliRunner
{
    public static (int ExitCode, string StdOut, string StdErr) Run(params string[] args)
    {
        string dll = Path.Combine(AppContext.BaseDirectory, "medrecon.dll");
        Assert.True(File.Exists(dll), $"medrecon.dll not found next to the tests: {dll}");
        var all = new List<string> { dll };
        all.AddRange(args);
        return ExternalTools.Run("dotnet", all, timeoutMs: 300_000);
    }

    /// <summary>Asserts a clean failure: exit code 2 and one line on stderr containing every fragment.</summary>
    public static void AssertBadInput((int ExitCode, string StdOut, string StdErr) r, params string[] fragments)
    {
        Assert.True(r.ExitCode == 2, $"expected exit code 2, got {r.ExitCode}; stderr: {r.StdErr}");
        var lines = r.StdErr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, $"expected one line on stderr, got {lines.Length}: {r.StdErr}");
        foreach (var f in fragments) Assert.Contains(f, lines[0]);
    }
}
