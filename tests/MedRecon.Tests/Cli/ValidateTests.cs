using System.Diagnostics;
using System.Text.Json;
using MedRecon.Core.IO;
using MedRecon.Solvers.Ct;
using MedRecon.Tests.Infrastructure;

namespace MedRecon.Tests.Cli;

/// <summary><c>medrecon validate --quick</c> end to end through the real executable.</summary>
public class ValidateTests
{
    [Fact]
    public void FixedNfeAndTvStartRowsRunForBothModalities()
    {
        using var dir = new TempDir();
        var r = CliRunner.Run("validate", "--quick", "--methods", "zf,fbp,cm-8,cm-tv,cm-fast", "--out", dir["out"]);
        Assert.True(r.ExitCode == 0, $"exit {r.ExitCode}: {r.StdErr}");
        using var doc = JsonDocument.Parse(File.ReadAllText(dir["out/validation.json"]));
        var rows = doc.RootElement.GetProperty("rows").EnumerateArray().ToList();
        Assert.DoesNotContain(rows, x => x.GetProperty("status").GetString() == "failed");
        JsonElement Row(string task, string method) =>
            rows.First(x => x.GetProperty("task").GetString() == task && x.GetProperty("method").GetString() == method);
        foreach (var (task, method) in new[] { ("mri-4x", "cm-8"), ("ct-60v", "cm-8"), ("mri-4x", "cm-tv"), ("ct-60v", "cm-tv") })
        {
            var row = Row(task, method);
            Assert.Equal("ok", row.GetProperty("status").GetString());
            Assert.Equal(8, row.GetProperty("nfe").GetInt32()); // fixed, although --quick caps --nfe at 2
        }
        // The rows say where they started.
        Assert.Contains("from TV", Row("ct-60v", "cm-tv").GetProperty("settings").GetString());
        Assert.Contains("from FBP", Row("ct-60v", "cm-8").GetProperty("settings").GetString());
        // 64² Shepp–Logan (the quick image): 60 views nearly suffice there, so CT gets no margin test here (ZeroShotTests
        // has one at 30 views); from TV the MRI row clearly beats zero-filled (measured 24.1 vs 17.8 dB).
        Assert.True(Row("mri-4x", "cm-tv").GetProperty("psnr").GetDouble() > Row("mri-4x", "zf").GetProperty("psnr").GetDouble() + 3);
        string md = File.ReadAllText(dir["out/validation.md"]);
        Assert.Contains("consistency model, 8 NFE from TV", md);
        // The speed point: the small prior, 4 NFE after 100 TV iterations, MRI only, and its file in the model list.
        var fast = Row("mri-4x", "cm-fast");
        Assert.Equal("ok", fast.GetProperty("status").GetString());
        Assert.Equal(4, fast.GetProperty("nfe").GetInt32());
        Assert.Contains("TV (100 iterations)", fast.GetProperty("settings").GetString());
        Assert.Contains("mr-prior-fast.safetensors", fast.GetProperty("settings").GetString());
        Assert.True(fast.GetProperty("psnr").GetDouble() > Row("mri-4x", "zf").GetProperty("psnr").GetDouble() + 3);
        Assert.DoesNotContain(rows, x => x.GetProperty("task").GetString() == "ct-60v" && x.GetProperty("method").GetString() == "cm-fast");
        var models = doc.RootElement.GetProperty("run").GetProperty("models").EnumerateArray().Select(m => m.GetProperty("path").GetString()).ToList();
        Assert.Contains(models, p => p!.EndsWith("mr-prior-fast.safetensors", StringComparison.Ordinal));
    }

    [Fact]
    public void QuickRunWritesJsonMarkdownAndHtmlWithARowPerTaskAndMethod()
    {
        using var dir = new TempDir();
        var r = CliRunner.Run("validate", "--quick", "--out", dir["out"]);
        Assert.True(r.ExitCode == 0, $"exit {r.ExitCode}: {r.StdErr}");
        Assert.Contains("validate [", r.StdErr); // progress lines
        foreach (var f in new[] { "validation.json", "validation.md", "report.html" })
            Assert.True(File.Exists(dir[Path.Combine("out", f)]), $"{f} missing");

        using var doc = JsonDocument.Parse(File.ReadAllText(dir["out/validation.json"]));
        var root = doc.RootElement;
        var tasks = root.GetProperty("requested").GetProperty("tasks").EnumerateArray().Select(t => t.GetString()!).ToList();
        Assert.Equal(new[] { "mri-4x", "ct-60v" }, tasks);
        var taskModality = root.GetProperty("tasks").EnumerateArray().ToDictionary(t => t.GetProperty("id").GetString()!, t => t.GetProperty("modality").GetString()!);
        var methods = root.GetProperty("requested").GetProperty("methods").EnumerateArray()
            .Select(m => (Id: m.GetProperty("id").GetString()!, Modality: m.GetProperty("modality").GetString()!)).ToList();
        var summary = root.GetProperty("summary").EnumerateArray().ToList();
        // Exactly one summary row per (task, requested method of its modality), whatever its status.
        foreach (var t in tasks)
            foreach (var m in methods.Where(m => m.Modality == taskModality[t]))
                Assert.Single(summary, s => s.GetProperty("task").GetString() == t && s.GetProperty("method").GetString() == m.Id);
        Assert.Equal(tasks.Sum(t => methods.Count(m => m.Modality == taskModality[t])), summary.Count);
        Assert.Contains(methods, m => m.Id == "zf");
        Assert.Contains(methods, m => m.Id == "fbp");

        // Every row that ran has finite metrics; none failed (missing peers/priors are "not installed"/"skipped").
        var rows = root.GetProperty("rows").EnumerateArray().ToList();
        Assert.DoesNotContain(rows, x => x.GetProperty("status").GetString() == "failed");
        var ok = rows.Where(x => x.GetProperty("status").GetString() == "ok").ToList();
        Assert.True(ok.Count >= 6, $"only {ok.Count} runs ok");
        foreach (var x in ok)
        {
            double psnr = x.GetProperty("psnr").GetDouble(), ssim = x.GetProperty("ssim").GetDouble();
            Assert.True(double.IsFinite(psnr) && psnr > 10 && psnr < 80, $"{x.GetProperty("method")}: PSNR {psnr}");
            Assert.InRange(ssim, 0.0, 1.0);
            Assert.True(x.GetProperty("seconds").GetDouble() >= 0);
        }
        // Real behaviour, not just plumbing: TV beats zero-filled on the same k-space.
        double Psnr(string task, string method) => ok.Single(x => x.GetProperty("task").GetString() == task && x.GetProperty("method").GetString() == method).GetProperty("psnr").GetDouble();
        Assert.True(Psnr("mri-4x", "tv") > Psnr("mri-4x", "zf") + 1, $"TV {Psnr("mri-4x", "tv"):F2} dB vs zero-filled {Psnr("mri-4x", "zf"):F2} dB");

        // The phantom's exact-consistency ceiling is noted: finite (analytic k-space ≠ the rasterised reference's DFT) and
        // above what TV reaches, since it keeps the reference wherever nothing was measured.
        var ceiling = root.GetProperty("notes").EnumerateArray().Select(n => n.GetString()!)
            .Single(n => n.StartsWith("mri-4x · shepp-logan: the reference itself", StringComparison.Ordinal));
        double ceilingDb = double.Parse(System.Text.RegularExpressions.Regex.Match(ceiling, @"scores ([0-9.]+) dB").Groups[1].Value,
            System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(ceilingDb > Psnr("mri-4x", "tv") && ceilingDb < 80, $"ceiling {ceilingDb} dB vs TV {Psnr("mri-4x", "tv"):F2} dB");
        // CT: the reference through the loop's own CG data-consistency step, which the exact line integrals move away from
        // the reference (finite PSNR, SSIM below 1), as noted for every noise-free CT phantom case.
        var ctCeiling = root.GetProperty("notes").EnumerateArray().Select(n => n.GetString()!)
            .Single(n => n.StartsWith("ct-60v · shepp-logan: the reference after the loop's own data-consistency step (10 CG steps", StringComparison.Ordinal));
        var ctMatch = System.Text.RegularExpressions.Regex.Match(ctCeiling, @"scores ([0-9.]+) dB / SSIM ([0-9.]+)");
        Assert.True(ctMatch.Success, ctCeiling);
        double ctDb = double.Parse(ctMatch.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        double ctSsim = double.Parse(ctMatch.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(ctDb > 20 && ctDb < 80, ctCeiling);
        Assert.InRange(ctSsim, 0.5, 0.9999);
        Assert.Contains("before the TV finish", ctCeiling);

        string md = File.ReadAllText(dir["out/validation.md"]);
        Assert.Contains("| method | kind | n | PSNR phantom (dB)", md);
        Assert.Contains("exactly data-consistent reconstruction can return", md);
        Assert.Contains("## mri-4x", md);
        Assert.Contains("**", md); // best per task in bold

        // The HTML is self-contained: its montages are PNGs that decode.
        string html = File.ReadAllText(dir["out/report.html"]);
        const string marker = "data:image/png;base64,";
        int i = html.IndexOf(marker, StringComparison.Ordinal);
        Assert.True(i > 0, "no embedded PNG in report.html");
        string b64 = html[(i + marker.Length)..html.IndexOf('"', i)];
        File.WriteAllBytes(dir["m.png"], Convert.FromBase64String(b64));
        var png = Png.Read(dir["m.png"]);
        Assert.True(png.shape[1] > 2 * 64, $"montage width {png.shape[1]}: expected reference + several methods");
        Assert.DoesNotContain("src=\"http", html);
        // Every case has its side-by-side images and then its error maps, the same width, and the errors are not blank.
        int Count(string s) => (html.Length - html.Replace(s, "").Length) / s.Length;
        Assert.True(Count("Images (window") > 0);
        Assert.Equal(Count("Images (window"), Count("|error| (window"));
        int e = html.IndexOf(marker, html.IndexOf("|error| (window", StringComparison.Ordinal), StringComparison.Ordinal);
        File.WriteAllBytes(dir["e.png"], Convert.FromBase64String(html[(e + marker.Length)..html.IndexOf('"', e)]));
        var errors = Png.Read(dir["e.png"]);
        Assert.Equal(png.shape[1], errors.shape[1]);
        Assert.True(errors.max().item<float>() > 0, "the error montage is blank");
        Assert.Contains("<th>NMSE</th>", html);
        // A smoke test never overwrites the repository's report.
        CliRunner.AssertBadInput(CliRunner.Run("validate", "--quick", "--docs", "--out", dir["q2"]), "--docs", "--quick");
        Assert.False(Directory.Exists(dir["q2"]));
    }

    [Fact]
    public void MissingPeersAreReportedAsNotInstalledNotAsFailures()
    {
        using var dir = new TempDir();
        // No bart on PATH (only the real folder of dotnet, not /usr/bin), no ASTRA interpreter.
        string dotnet = RealDotnet();
        Assert.False(File.Exists(Path.Combine(Path.GetDirectoryName(dotnet)!, "bart")), "bart sits next to dotnet: cannot hide it");
        var env = new Dictionary<string, string>
        {
            ["PATH"] = Path.GetDirectoryName(dotnet)!,
            ["MEDRECON_PYTHON"] = dir["no-such-python3"],
        };
        var r = Run(env, "validate", "--quick", "--methods", "zf,bart-tv,bart-wavelet,fbp,astra-fbp,astra-sirt", "--out", dir["out"]);
        Assert.True(r.ExitCode == 0, $"exit {r.ExitCode}: {r.StdErr}");
        using var doc = JsonDocument.Parse(File.ReadAllText(dir["out/validation.json"]));
        var summary = doc.RootElement.GetProperty("summary").EnumerateArray().ToList();
        string Status(string method) => summary.Single(s => s.GetProperty("method").GetString() == method).GetProperty("status").GetString()!;
        foreach (var peer in new[] { "bart-tv", "bart-wavelet", "astra-fbp", "astra-sirt" })
        {
            Assert.Equal("not installed", Status(peer));
            Assert.Contains("not installed", summary.Single(s => s.GetProperty("method").GetString() == peer).GetProperty("reason").GetString());
        }
        Assert.Equal("ok", Status("zf"));
        Assert.Equal("ok", Status("fbp"));
        Assert.Contains("not installed", File.ReadAllText(dir["out/validation.md"]));
    }

    /// <summary>The low-dose CT task: real slices only (a dose needs physical attenuation), MedRecon's TV weighted by the
    /// counts and tuned on the noisy tuning slice, the zero-shot row weighted by the counts too.</summary>
    [SkippableFact]
    public void LowDoseCtTaskRunsOnRealSlicesWithTheDoseInTvAndCm()
    {
        Skip.If(ExternalTools.SharedData is null, "../shared/data not present");
        using var dir = new TempDir();
        var env = new Dictionary<string, string> { ["MEDRECON_DATA"] = ExternalTools.SharedData! };
        var r = Run(env, "validate", "--tasks", "ct-60v-lowdose", "--methods", "fbp,tv,cm", "--size", "64", "--out", dir["out"]);
        Assert.True(r.ExitCode == 0, $"exit {r.ExitCode}: {r.StdErr}");
        using var doc = JsonDocument.Parse(File.ReadAllText(dir["out/validation.json"]));
        var rows = doc.RootElement.GetProperty("rows").EnumerateArray().ToList();
        Assert.Equal(3, rows.Count);
        Assert.All(rows, x => Assert.Equal("real", x.GetProperty("family").GetString()));
        Assert.All(rows, x => Assert.Equal("ok", x.GetProperty("status").GetString()));
        JsonElement Row(string method) => rows.First(x => x.GetProperty("method").GetString() == method);
        Assert.Equal(JsonValueKind.Number, Row("tv").GetProperty("lambda").ValueKind); // tuned on the noisy tuning slice
        Assert.Contains(doc.RootElement.GetProperty("tuning").EnumerateArray(), t => t.GetProperty("method").GetString() == "tv");
        Assert.Contains("rays weighted by their counts", Row("tv").GetProperty("settings").GetString());
        Assert.Contains("rays weighted by their counts", Row("cm").GetProperty("settings").GetString());
        // At 64² the CT prior (trained on 256² head slices) is out of its scale, so only a margin over FBP is asked here
        // (measured 29.3 vs 27.1 dB); the 256² rows are in docs/validation.md. That the weighting reaches the solver and
        // changes the result is ZeroShotTests' and RunCommandTests' part.
        Assert.True(Row("cm").GetProperty("psnr").GetDouble() > Row("fbp").GetProperty("psnr").GetDouble() + 1,
            $"cm {Row("cm").GetProperty("psnr").GetDouble():F2} dB vs FBP {Row("fbp").GetProperty("psnr").GetDouble():F2} dB");
    }

    /// <summary>MedRecon's own TV is tuned on noise-free tasks too, as the peers are (the best classical row must be the
    /// one a user would get): every λ of its grid is scored on the tuning phantom, the row uses the best, and
    /// <c>--no-tune</c> returns to the documented default.</summary>
    [Fact]
    public void OwnTvIsTunedOnNoiseFreeTasksUnlessNoTune()
    {
        using var dir = new TempDir();
        Directory.CreateDirectory(dir["empty"]);
        // Phantoms only; one torch thread: 11 λ × 1000 iterations of tiny tensors, where a second thread only waits.
        var env = new Dictionary<string, string> { ["MEDRECON_DATA"] = dir["empty"], ["MEDRECON_THREADS"] = "1" };
        var r = Run(env, "validate", "--tasks", "ct-30v", "--methods", "tv", "--size", "32", "--out", dir["out"]);
        Assert.True(r.ExitCode == 0, $"exit {r.ExitCode}: {r.StdErr}");
        using (var doc = JsonDocument.Parse(File.ReadAllText(dir["out/validation.json"])))
        {
            var tuning = doc.RootElement.GetProperty("tuning").EnumerateArray().Where(t => t.GetProperty("method").GetString() == "tv").ToList();
            Assert.Equal(new[] { 0.00000390625, 0.0000078125, 0.000015625, 0.00003125, 0.0000625, 0.000125, 0.00025, 0.0005, 0.001, 0.002, 0.004 },
                tuning.Select(t => t.GetProperty("lambda").GetDouble()));
            var best = tuning.MaxBy(t => t.GetProperty("psnr").GetDouble());
            Assert.True(best.GetProperty("chosen").GetBoolean());
            Assert.Single(tuning, t => t.GetProperty("chosen").GetBoolean());
            var rows = doc.RootElement.GetProperty("rows").EnumerateArray().ToList();
            Assert.NotEmpty(rows);
            Assert.All(rows, x => Assert.Equal(best.GetProperty("lambda").GetDouble(), x.GetProperty("lambda").GetDouble()));
            Assert.All(rows, x => Assert.StartsWith($"λ {best.GetProperty("lambda").GetDouble().ToString(System.Globalization.CultureInfo.InvariantCulture)} ",
                x.GetProperty("settings").GetString()));
            // Run to near convergence from the FBP (session 18; 300 iterations from Aᵀy had left TV far from its optimum).
            Assert.All(rows, x => Assert.Contains($"{CtIterative.DefaultTvIterations} iterations from the FBP", x.GetProperty("settings").GetString()));
        }
        var fixedRun = Run(env, "validate", "--tasks", "ct-30v", "--methods", "tv", "--size", "32", "--no-tune", "--out", dir["out2"]);
        Assert.True(fixedRun.ExitCode == 0, $"exit {fixedRun.ExitCode}: {fixedRun.StdErr}");
        using var doc2 = JsonDocument.Parse(File.ReadAllText(dir["out2/validation.json"]));
        Assert.Empty(doc2.RootElement.GetProperty("tuning").EnumerateArray());
        Assert.All(doc2.RootElement.GetProperty("rows").EnumerateArray(), x => Assert.StartsWith("λ 0.002 ", x.GetProperty("settings").GetString()));
    }

    /// <summary>Only a full run replaces the repository's docs/validation.md by default; a subset run inside the repository
    /// leaves it alone (a stand-in repository: MedRecon.sln and a report that must survive; no shared data needed).</summary>
    [Fact]
    public void SubsetRunInsideTheRepositoryKeepsItsReport()
    {
        using var dir = new TempDir();
        Directory.CreateDirectory(dir["repo/docs"]);
        File.WriteAllText(dir["repo/MedRecon.sln"], "");
        File.WriteAllText(dir["repo/docs/validation.md"], "keep me");
        var env = new Dictionary<string, string> { ["MEDRECON_DATA"] = dir["repo/docs"] }; // no real images: phantoms only
        var r = RunIn(env, dir["repo"], "validate", "--tasks", "ct-60v", "--methods", "fbp", "--size", "32", "--out", dir["out"]);
        Assert.True(r.ExitCode == 0, $"exit {r.ExitCode}: {r.StdErr}");
        Assert.True(File.Exists(dir["out/validation.md"]));
        Assert.Equal("keep me", File.ReadAllText(dir["repo/docs/validation.md"]));
        // ... and the same subset with --docs does replace it.
        var copied = RunIn(env, dir["repo"], "validate", "--tasks", "ct-60v", "--methods", "fbp", "--size", "32", "--docs", "true", "--out", dir["out2"]);
        Assert.True(copied.ExitCode == 0, $"exit {copied.ExitCode}: {copied.StdErr}");
        Assert.Contains("ct-60v", File.ReadAllText(dir["repo/docs/validation.md"]));
    }

    [Fact]
    public void BadOptionsFailCleanlyAndWriteNothing()
    {
        using var dir = new TempDir();
        CliRunner.AssertBadInput(CliRunner.Run("validate", "--quick", "--tasks", "mri-3x", "--out", dir["a"]), "mri-3x", "mri-4x");
        CliRunner.AssertBadInput(CliRunner.Run("validate", "--quick", "--methods", "magic", "--out", dir["b"]), "magic");
        CliRunner.AssertBadInput(CliRunner.Run("validate", "--quick", "--ct-model", dir["missing.safetensors"], "--out", dir["c"]), "missing.safetensors", "not found");
        Assert.False(Directory.Exists(dir["a"]) || Directory.Exists(dir["b"]) || Directory.Exists(dir["c"]));
    }

    /// <summary>The dotnet host by its real path (/usr/bin/dotnet is usually a link into the SDK folder).</summary>
    static string RealDotnet()
    {
        string dotnet = ExternalTools.Which("dotnet") ?? throw new InvalidOperationException("dotnet not on PATH");
        return new FileInfo(dotnet).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? Path.GetFullPath(dotnet);
    }

    static (int ExitCode, string StdOut, string StdErr) Run(Dictionary<string, string> env, params string[] args) => RunIn(env, null, args);

    static (int ExitCode, string StdOut, string StdErr) RunIn(Dictionary<string, string> env, string? workingDirectory, params string[] args)
    {
        string dll = Path.Combine(AppContext.BaseDirectory, "medrecon.dll");
        var psi = new ProcessStartInfo(RealDotnet()) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (workingDirectory is not null) psi.WorkingDirectory = workingDirectory;
        psi.ArgumentList.Add(dll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        foreach (var (k, v) in env) psi.Environment[k] = v;
        using var p = Process.Start(psi)!;
        var o = p.StandardOutput.ReadToEndAsync();
        var e = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(300_000)) { p.Kill(true); throw new TimeoutException("validate did not finish in 5 minutes"); }
        return (p.ExitCode, o.Result, e.Result);
    }
}
