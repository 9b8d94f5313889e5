using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using MedRecon.Core.IO;
using static TorchSharp.torch;

namespace MedRecon.Cli.Validation;

/// <summary>Where and with what the suite ran (machine, date, commit, model files), for the report header.</summary>
public sealed record RunInfo(string Date, string Machine, string Commit, string Command, List<ModelInfo> Models, bool Quick, int Size,
    int Nfe, int DiffusionNfe, double TotalSeconds);

public sealed record ModelInfo(string Modality, string Path, string? Sha256, long Bytes, string Description);

/// <summary>Per (task, method): means over the cases of each family.</summary>
public sealed record SummaryRow(string Task, string Method, string Label, string Kind, string Status, string? Reason, int Cases,
    double? PsnrPhantom, double? PsnrReal, double? SsimPhantom, double? SsimReal, double? Psnr, double? Ssim, double? Nmse,
    int Nfe, int Iterations, double? Seconds, double? PeakMemoryMiB, string Settings);

/// <summary>Writes validation.json, validation.md and the self-contained report.html.</summary>
public static class ValidationReport
{
    public static List<SummaryRow> Summarise(ValidationResult r)
    {
        var list = new List<SummaryRow>();
        foreach (var t in r.Tasks.Where(t => r.CompletedTasks.Contains(t.Id)))
            foreach (var m in r.Methods.Where(m => m.Modality == t.Modality))
            {
                var rows = r.Rows.Where(x => x.Task == t.Id && x.Method == m.Id).ToList();
                var ok = rows.Where(x => x.Status == "ok").ToList();
                double? Mean(IEnumerable<double?> v) { var a = v.Where(x => x.HasValue).Select(x => x!.Value).ToList(); return a.Count > 0 ? a.Average() : null; }
                string status = ok.Count > 0 ? (ok.Count == rows.Count ? "ok" : "partial") : rows.FirstOrDefault()?.Status ?? "not run";
                string? reason = rows.FirstOrDefault(x => x.Status != "ok")?.Reason;
                var lambdas = ok.Where(x => x.Lambda.HasValue).Select(x => $"{x.Family} λ {Inv.S(x.Lambda!.Value)}").Distinct();
                string settings = ok.FirstOrDefault()?.Settings ?? "";
                if (lambdas.Any()) settings = $"{settings} (tuned: {string.Join(", ", lambdas)})";
                list.Add(new SummaryRow(t.Id, m.Id, m.Label, m.Kind, status, reason, ok.Count,
                    Mean(ok.Where(x => x.Family == "phantom").Select(x => x.Psnr)), Mean(ok.Where(x => x.Family == "real").Select(x => x.Psnr)),
                    Mean(ok.Where(x => x.Family == "phantom").Select(x => x.Ssim)), Mean(ok.Where(x => x.Family == "real").Select(x => x.Ssim)),
                    Mean(ok.Select(x => x.Psnr)), Mean(ok.Select(x => x.Ssim)), Mean(ok.Select(x => x.Nmse)),
                    ok.Count > 0 ? ok.Max(x => x.Nfe) : 0, ok.Count > 0 ? ok.Max(x => x.Iterations) : 0,
                    Mean(ok.Select(x => x.Seconds)), ok.Count > 0 ? ok.Max(x => x.PeakMemoryMiB) : null, settings));
            }
        return list;
    }

    static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public static void WriteJson(string path, ValidationResult r, RunInfo info, List<SummaryRow> summary)
    {
        var doc = new
        {
            run = info,
            requested = new
            {
                tasks = r.Tasks.Select(t => t.Id),
                methods = r.Methods.Select(m => new { m.Id, modality = m.Modality.ToString().ToLowerInvariant(), m.Label, m.Kind }),
            },
            metrics = MetricsNote,
            tasks = r.Tasks.Select(t => new { t.Id, modality = t.Modality.ToString().ToLowerInvariant(), t.Description }),
            notes = r.Notes,
            tuning = r.Tuning,
            summary,
            rows = r.Rows,
        };
        File.WriteAllText(path, JsonSerializer.Serialize(doc, JsonOptions));
    }

    public const string MetricsNote =
        "PSNR, SSIM, NMSE per slice (MedRecon.Core.Metrics, data range = max(ref) − min(ref) of each reference slice), " +
        "then averaged over the slices of a family. MRI: on magnitude images (real slices scaled by the volume's 99.5th percentile). " +
        "CT: on linear attenuation (real data: μ per mm, μ_water = 0.0192, air = 0; phantoms: their own units), whole image; " +
        "PSNR would be identical in HU (an affine map), SSIM and NMSE would not.";

    static string F(double? v, string fmt) => v is double d && double.IsFinite(d) ? d.ToString(fmt, CultureInfo.InvariantCulture) : "–";

    /// <summary>Best (max PSNR/SSIM, min NMSE) among rows that ran, per column; the value string is bolded.</summary>
    static Func<SummaryRow, string> Column(List<SummaryRow> rows, Func<SummaryRow, double?> get, string fmt, bool higher, bool bold, string open, string close)
    {
        var vals = rows.Select(get).Where(v => v is double d && double.IsFinite(d)).Select(v => v!.Value).ToList();
        double? best = vals.Count == 0 ? null : higher ? vals.Max() : vals.Min();
        return r =>
        {
            var v = get(r);
            string s = F(v, fmt);
            return bold && best is double b && v is double x && s == F(b, fmt) && s != "–" ? open + s + close : s;
        };
    }

    public static string Markdown(ValidationResult r, RunInfo info, List<SummaryRow> summary)
    {
        var sb = new StringBuilder();
        sb.AppendLine("# Validation: zero-shot and classical reconstruction against the peers");
        sb.AppendLine();
        sb.AppendLine($"Generated by `{info.Command}` on {info.Date} ({info.TotalSeconds / 60:F1} min). Machine: {info.Machine}. Commit: `{info.Commit}`.");
        if (info.Quick) sb.AppendLine("**Quick run** (small images, one phantom, capped iterations): a smoke test, not a result.");
        if (r.CompletedTasks.Count < r.Tasks.Count)
            sb.AppendLine($"**Partial report**: {r.CompletedTasks.Count} of {r.Tasks.Count} tasks finished ({string.Join(", ", r.CompletedTasks)}); the run was still going or was stopped.");
        sb.AppendLine();
        sb.AppendLine("Models:");
        sb.AppendLine();
        if (info.Models.Count == 0) sb.AppendLine("- none used");
        foreach (var m in info.Models)
            sb.AppendLine(m.Sha256 is null ? $"- {m.Modality}: {m.Path} — **missing**: {m.Description}" : $"- {m.Modality}: `{m.Path}` ({m.Bytes:N0} bytes, SHA-256 `{m.Sha256}`), {m.Description}");
        sb.AppendLine();
        sb.AppendLine("How to read this: each task is applied to every test image with one simulated measurement that every method " +
                      "(MedRecon's and the peers') reconstructs from the same files. Phantom = Shepp–Logan and a seeded random-ellipse " +
                      "phantom (measurements from analytic k-space / line integrals, no inverse crime); real = held-out slices the priors " +
                      "never trained on. λ of the tunable methods was chosen on separate tuning images, never on a test image. " +
                      "Bold: best in the column for that task; n: slices the row averages (expensive methods may run on fewer). Tasks, data, settings and tuning: \"Method\" below.");
        sb.AppendLine();
        sb.AppendLine($"Metrics: {MetricsNote} NFE: network evaluations per slice (0 for classical methods). Seconds: per slice " +
                      "(MedRecon: in process, after start-up; BART: its process incl. start and file I/O; ASTRA: the algorithm call inside Python). " +
                      $"Peak memory: {PeakMemory.InProcessLabel} for MedRecon's rows; the peer process's own peak RSS for BART (whole process) " +
                      "and the rise of the Python process's peak RSS during the algorithm for ASTRA.");
        sb.AppendLine();
        foreach (var t in r.Tasks.Where(t => r.CompletedTasks.Contains(t.Id)))
        {
            var rows = summary.Where(s => s.Task == t.Id).ToList();
            var ran = rows.Where(s => s.Cases > 0).ToList();
            var images = r.Rows.Where(x => x.Task == t.Id).Select(x => x.Data).Distinct().ToList();
            sb.AppendLine($"## {t.Id}: {t.Description}");
            sb.AppendLine();
            sb.AppendLine($"Images: {string.Join(", ", images)}.");
            sb.AppendLine();
            var pP = Column(ran, s => s.PsnrPhantom, "F2", true, true, "**", "**");
            var pR = Column(ran, s => s.PsnrReal, "F2", true, true, "**", "**");
            var sP = Column(ran, s => s.SsimPhantom, "F4", true, true, "**", "**");
            var sR = Column(ran, s => s.SsimReal, "F4", true, true, "**", "**");
            var nm = Column(ran, s => s.Nmse, "0.00E+00", false, true, "**", "**");
            sb.AppendLine("| method | kind | n | PSNR phantom (dB) | PSNR real (dB) | SSIM phantom | SSIM real | NMSE | NFE | iters | s / slice | peak MiB | settings |");
            sb.AppendLine("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |");
            foreach (var s in rows)
            {
                if (s.Cases == 0)
                {
                    sb.AppendLine($"| {s.Label} | {s.Kind} | 0 | {s.Status} | | | | | | | | | {Md(s.Reason ?? "")} |");
                    continue;
                }
                sb.AppendLine($"| {s.Label} | {s.Kind} | {s.Cases} | {pP(s)} | {pR(s)} | {sP(s)} | {sR(s)} | {nm(s)} | {(s.Nfe > 0 ? s.Nfe : "–")} | " +
                              $"{(s.Iterations > 0 ? s.Iterations : "–")} | {F(s.Seconds, "F2")} | {F(s.PeakMemoryMiB, "F0")} | {Md(s.Settings)}{(s.Status == "partial" ? " (some cases failed: " + Md(s.Reason ?? "") + ")" : "")} |");
            }
            sb.AppendLine();
        }
        sb.Append(Headlines(r, summary));
        sb.Append(ValidationMethodText.Markdown);
        sb.AppendLine();
        if (r.Tuning.Count > 0)
        {
            sb.AppendLine("## λ tuning (on the tuning images only)");
            sb.AppendLine();
            sb.AppendLine("| task | family | tuning image | method | λ: PSNR (dB) |");
            sb.AppendLine("| --- | --- | --- | --- | --- |");
            foreach (var g in r.Tuning.GroupBy(x => (x.Task, x.Family, x.TuningImage, x.Method)))
                sb.AppendLine($"| {g.Key.Task} | {g.Key.Family} | {g.Key.TuningImage} | {g.Key.Method} | " +
                              string.Join(", ", g.Select(x => (x.Chosen ? "**" : "") + $"{Inv.S(x.Lambda)}: {F(x.Psnr, "F2")}" + (x.Chosen ? "**" : ""))) + " |");
            sb.AppendLine();
        }
        sb.AppendLine("## Every case");
        sb.AppendLine();
        sb.AppendLine("| task | image | method | PSNR (dB) | SSIM | NMSE | NFE | s | peak MiB | status |");
        sb.AppendLine("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |");
        foreach (var x in r.Rows)
            sb.AppendLine($"| {x.Task} | {x.Data} | {x.Method} | {F(x.Psnr, "F2")} | {F(x.Ssim, "F4")} | {F(x.Nmse, "0.00E+00")} | {x.Nfe} | {F(x.Seconds, "F2")} | {F(x.PeakMemoryMiB, "F0")} | {x.Status}{(x.Status != "ok" ? ": " + Md(x.Reason ?? "") : "")} |");
        sb.AppendLine();
        if (r.Notes.Count > 0)
        {
            sb.AppendLine("Notes from this run:");
            sb.AppendLine();
            foreach (var n in r.Notes) sb.AppendLine($"- {Md(n)}");
            sb.AppendLine();
        }
        return sb.ToString();
    }

    /// <summary>The consistency-model rows the headlines compare: the 4-NFE default (or --nfe), the fixed 8-NFE one,
    /// 8 NFE from the TV reconstruction, and the small prior's speed point (cm-fast).</summary>
    static readonly string[] CmMethods = { "cm", "cm-8", "cm-tv", "cm-fast" };

    /// <summary>The comparisons the issue asks for, computed from the rows: CM against the best classical or peer method
    /// of each task (same slices), and CM against the diffusion baseline on the slices where both ran.</summary>
    public static string Headlines(ValidationResult r, List<SummaryRow> summary)
    {
        var sb = new StringBuilder();
        sb.AppendLine("## Headline comparisons");
        sb.AppendLine();
        sb.AppendLine("Consistency model (CM) minus the best classical or peer method of the task (best by mean PSNR over the same slices; " +
                      "positive = CM better), and CM against the diffusion baseline on the same slice.");
        sb.AppendLine();
        sb.AppendLine("| task | family | CM row | CM PSNR (dB) | best other | its PSNR (dB) | Δ PSNR (dB) | CM SSIM | its SSIM | CM NFE |");
        sb.AppendLine("| --- | --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |");
        bool any = false;
        foreach (var t in r.Tasks.Where(t => r.CompletedTasks.Contains(t.Id)))
        foreach (var cmId in CmMethods)
        {
            var cm = summary.FirstOrDefault(s => s.Task == t.Id && s.Method == cmId && s.Cases > 0);
            if (cm is null) continue;
            foreach (var (family, psnr, ssim) in new (string, Func<SummaryRow, double?>, Func<SummaryRow, double?>)[]
                     { ("real", s => s.PsnrReal, s => s.SsimReal), ("phantom", s => s.PsnrPhantom, s => s.SsimPhantom) })
            {
                if (psnr(cm) is not double c) continue;
                var best = summary.Where(s => s.Task == t.Id && s.Kind != "learned" && s.Cases > 0 && psnr(s) is double)
                    .OrderByDescending(s => psnr(s)!.Value).FirstOrDefault();
                if (best is null) continue;
                any = true;
                sb.AppendLine($"| {t.Id} | {family} | {cmId} | {F(c, "F2")} | {best.Label} | {F(psnr(best), "F2")} | {(c - psnr(best)!.Value).ToString("+0.00;-0.00", CultureInfo.InvariantCulture)} | " +
                              $"{F(ssim(cm), "F4")} | {F(ssim(best), "F4")} | {cm.Nfe} |");
            }
        }
        if (!any) sb.AppendLine("| (no CM rows ran) | | | | | | | | | |");
        sb.AppendLine();
        var pairs = r.Rows.Where(x => x.Method == "diffusion" && x.Status == "ok" && r.CompletedTasks.Contains(x.Task))
            .SelectMany(d => CmMethods.Select(id => (d, c: r.Rows.FirstOrDefault(x => x.Method == id && x.Task == d.Task && x.Data == d.Data && x.Status == "ok"))))
            .Where(p => p.c is not null).ToList();
        if (pairs.Count > 0)
        {
            sb.AppendLine("| task | slice | CM row | CM PSNR / SSIM (NFE) | diffusion PSNR / SSIM (NFE) | Δ PSNR (dB) | CM s | diffusion s |");
            sb.AppendLine("| --- | --- | --- | --- | --- | ---: | ---: | ---: |");
            foreach (var (d, c) in pairs)
                sb.AppendLine($"| {d.Task} | {d.Data} | {c!.Method} | {F(c.Psnr, "F2")} / {F(c.Ssim, "F4")} ({c.Nfe}) | {F(d.Psnr, "F2")} / {F(d.Ssim, "F4")} ({d.Nfe}) | " +
                              $"{(c.Psnr!.Value - d.Psnr!.Value).ToString("+0.00;-0.00", CultureInfo.InvariantCulture)} | {F(c.Seconds, "F1")} | {F(d.Seconds, "F1")} |");
            sb.AppendLine();
        }
        return sb.ToString();
    }

    /// <summary>Reads a validation.json back (rows, tuning, notes, run info) to re-render the markdown without the
    /// images; the tasks and methods are looked up by id in the suite's registry.</summary>
    public static (ValidationResult Result, RunInfo Info) Load(string path)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        var root = doc.RootElement;
        var info = root.GetProperty("run").Deserialize<RunInfo>(JsonOptions) ?? throw new CliException($"{path}: no run information");
        var result = new ValidationResult { Started = DateTime.UtcNow, TotalSeconds = info.TotalSeconds };
        var taskIds = root.GetProperty("requested").GetProperty("tasks").EnumerateArray().Select(e => e.GetString()).ToList();
        result.Tasks.AddRange(ValidationSuite.AllTasks.Where(t => taskIds.Contains(t.Id)));
        var registry = ValidationRunner.Registry();
        foreach (var m in root.GetProperty("requested").GetProperty("methods").EnumerateArray())
        {
            string id = m.GetProperty("id").GetString()!, modality = m.GetProperty("modality").GetString()!;
            var found = registry.FirstOrDefault(x => x.Id == id && x.Modality.ToString().Equals(modality, StringComparison.OrdinalIgnoreCase));
            if (found != null) result.Methods.Add(found);
        }
        result.Rows.AddRange(root.GetProperty("rows").Deserialize<List<ValidationRow>>(JsonOptions) ?? new());
        result.Tuning.AddRange(root.GetProperty("tuning").Deserialize<List<TuningRecord>>(JsonOptions) ?? new());
        result.Notes.AddRange(root.GetProperty("notes").Deserialize<List<string>>(JsonOptions) ?? new());
        // The summary holds the finished tasks only.
        var done = root.GetProperty("summary").EnumerateArray().Select(e => e.GetProperty("task").GetString()!).Distinct();
        result.CompletedTasks.AddRange(result.Tasks.Select(t => t.Id).Where(done.Contains));
        return (result, info);
    }

    static string Md(string s) => s.Replace("|", "\\|").ReplaceLineEndings(" ");

    /// <summary>A self-contained HTML page: the summary tables and, per reported case, a montage of the reference and
    /// every output (one window: the reference's min/max) and a montage of |output − reference| (window 0 to 20 % of
    /// the reference's range), as base64 PNGs.</summary>
    public static string Html(ValidationResult r, RunInfo info, List<SummaryRow> summary, string workDir)
    {
        var sb = new StringBuilder();
        string E(string s) => WebUtility.HtmlEncode(s);
        sb.AppendLine("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>MedRecon validation</title><style>");
        sb.AppendLine("body{font-family:sans-serif;margin:1.5em;max-width:100%}table{border-collapse:collapse;margin:.5em 0 1.5em}" +
                      "td,th{border:1px solid #bbb;padding:2px 6px;font-size:13px}td.n{text-align:right}b{color:#063}" +
                      "img{max-width:100%;image-rendering:pixelated;display:block;margin:.3em 0}.note{color:#555;font-size:13px}");
        sb.AppendLine("</style></head><body>");
        sb.AppendLine($"<h1>MedRecon validation</h1><p class=\"note\">{E(info.Date)} · {E(info.Machine)} · commit {E(info.Commit)} · {info.TotalSeconds / 60:F1} min{(info.Quick ? " · <b>quick run</b>" : "")}</p>");
        sb.AppendLine("<p class=\"note\">Models: " + (info.Models.Count == 0 ? "none" : string.Join("; ", info.Models.Select(m => E($"{m.Modality}: {m.Path} {(m.Sha256 is null ? "(missing)" : "sha256 " + m.Sha256)}")))) + "</p>");
        sb.AppendLine($"<p class=\"note\">{E(MetricsNote)}</p>");
        foreach (var t in r.Tasks.Where(t => r.CompletedTasks.Contains(t.Id)))
        {
            sb.AppendLine($"<h2>{E(t.Id)}: {E(t.Description)}</h2>");
            var rows = summary.Where(s => s.Task == t.Id).ToList();
            var ran = rows.Where(s => s.Cases > 0).ToList();
            var pP = Column(ran, s => s.PsnrPhantom, "F2", true, true, "<b>", "</b>");
            var pR = Column(ran, s => s.PsnrReal, "F2", true, true, "<b>", "</b>");
            var sP = Column(ran, s => s.SsimPhantom, "F4", true, true, "<b>", "</b>");
            var sR = Column(ran, s => s.SsimReal, "F4", true, true, "<b>", "</b>");
            var nmse = Column(ran, s => s.Nmse, "0.00E+00", false, true, "<b>", "</b>");
            sb.AppendLine("<table><tr><th>method</th><th>kind</th><th>PSNR phantom</th><th>PSNR real</th><th>SSIM phantom</th><th>SSIM real</th><th>NMSE</th><th>NFE</th><th>s / slice</th><th>peak MiB</th><th>settings / status</th></tr>");
            foreach (var s in rows)
                sb.AppendLine(s.Cases == 0
                    ? $"<tr><td>{E(s.Label)}</td><td>{s.Kind}</td><td colspan=\"8\">{E(s.Status)}</td><td>{E(s.Reason ?? "")}</td></tr>"
                    : $"<tr><td>{E(s.Label)}</td><td>{s.Kind}</td><td class=n>{pP(s)}</td><td class=n>{pR(s)}</td><td class=n>{sP(s)}</td><td class=n>{sR(s)}</td><td class=n>{nmse(s)}</td>" +
                      $"<td class=n>{(s.Nfe > 0 ? s.Nfe : "–")}</td><td class=n>{F(s.Seconds, "F2")}</td><td class=n>{F(s.PeakMemoryMiB, "F0")}</td><td>{E(s.Settings)}</td></tr>");
            sb.AppendLine("</table>");
            foreach (var c in r.Cases.Where(c => c.Task == t.Id))
            {
                sb.AppendLine($"<h3>{E(c.Image)}</h3>");
                double lo = c.Reference.min().item<float>(), hi = c.Reference.max().item<float>();
                var panels = new List<Tensor> { c.Reference };
                var captions = new List<string> { "REFERENCE" };
                foreach (var (label, img, psnr) in c.Outputs) { panels.Add(img); captions.Add($"{label} {psnr:F1}dB"); }
                sb.AppendLine($"<p class=\"note\">Images (window {lo:G3} to {hi:G3}, the reference's range):</p>");
                sb.AppendLine(ImgTag(Montage(workDir, panels, captions, lo, hi)));
                using var scope = NewDisposeScope();
                var errs = new List<Tensor> { zeros_like(c.Reference) };
                errs.AddRange(c.Outputs.Select(o => (o.Image - c.Reference).abs()));
                sb.AppendLine($"<p class=\"note\">|error| (window 0 to {0.2 * (hi - lo):G3}, 20 % of the range):</p>");
                sb.AppendLine(ImgTag(Montage(workDir, errs, captions.Select((s, i) => i == 0 ? "ERROR" : s).ToList(), 0, 0.2 * (hi - lo))));
            }
        }
        sb.AppendLine("</body></html>");
        return sb.ToString();
    }

    /// <summary>Montage rows of at most 6 panels (readable width), stacked vertically.</summary>
    static List<byte[]> Montage(string workDir, List<Tensor> panels, List<string> captions, double lo, double hi)
    {
        var list = new List<byte[]>();
        for (int i = 0; i < panels.Count; i += 6)
        {
            string tmp = Path.Combine(workDir, $"montage-{Guid.NewGuid():N}.png");
            Png.WriteMontage(tmp, panels.Skip(i).Take(6).ToList(), captions.Skip(i).Take(6).ToList(), lo, hi);
            list.Add(File.ReadAllBytes(tmp));
            File.Delete(tmp);
        }
        return list;
    }

    static string ImgTag(List<byte[]> pngs) =>
        string.Concat(pngs.Select(p => $"<img alt=\"montage\" src=\"data:image/png;base64,{Convert.ToBase64String(p)}\">"));
}
