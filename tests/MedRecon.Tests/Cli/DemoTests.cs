using MedRecon.Tests.Infrastructure;

namespace MedRecon.Tests.Cli;

public class DemoTests
{
    [Fact]
    public void DemoWritesImagesAndAMetricsTableWhereRegularisationBeatsZeroFilled()
    {
        using var dir = new TempDir();
        var r = CliRunner.Run("demo", "--size", "128", "--coils", "4", "--out", dir["demo"]);
        Assert.True(r.ExitCode == 0, r.StdErr);
        foreach (var f in new[] { "ground-truth.png", "singlecoil-zf.png", "singlecoil-tv.png", "multicoil-cg.png",
                     "singlecoil-montage.png", "metrics.md", "metrics.json" })
            Assert.True(File.Exists(Path.Combine(dir["demo"], f)), $"missing {f}");
        Assert.NotEmpty(Directory.GetFiles(Path.Combine(dir["demo"], "dicom-phantom")));
        Assert.NotEmpty(Directory.GetFiles(Path.Combine(dir["demo"], "dicom-tv")));
        Assert.Contains("dicom-tv", r.StdOut);
        var rows = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(dir["demo"], "metrics.json"))).RootElement;
        double Psnr(string caseStart, string method) => rows.EnumerateArray()
            .First(e => e.GetProperty("Case").GetString()!.StartsWith(caseStart) && e.GetProperty("Method").GetString() == method)
            .GetProperty("Psnr").GetDouble();
        Assert.True(Psnr("single", "tv") > Psnr("single", "zf") + 3);
        Assert.True(Psnr("4-coil", "cg") > Psnr("4-coil", "zf"));
    }
}
