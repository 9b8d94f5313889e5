using MedRecon.Solvers.Ct;
using TorchSharp;
using Xunit.Abstractions;

namespace MedRecon.Tests.Ct;

public class CtBenchmarkTests(ITestOutputHelper output)
{
    /// <summary>Runs the CT benchmark only when MEDRECON_BENCH=1 (it takes about a minute); a tiny smoke run otherwise.</summary>
    [Fact]
    public void BenchmarkHookRuns()
    {
        var writer = new StringWriter();
        bool full = Environment.GetEnvironmentVariable("MEDRECON_BENCH") == "1";
        int old = torch.get_num_threads();
        if (full) torch.set_num_threads(Environment.ProcessorCount);
        try
        {
            var results = full ? CtBenchmarks.Run(writer) : CtBenchmarks.Run(writer, new[] { 32 }, new[] { 8 }, repeats: 1);
            Assert.NotEmpty(results);
            Assert.All(results, r => Assert.True(r.ForwardSeconds > 0 && r.AdjointSeconds > 0));
        }
        finally { if (full) torch.set_num_threads(old); }
        output.WriteLine(writer.ToString());
        if (full) File.WriteAllText(Path.Combine(Path.GetTempPath(), "medrecon-ct-bench.txt"), writer.ToString());
    }
}
