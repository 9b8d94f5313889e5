using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using MedRecon.Cli.Pipelines;
using MedRecon.Core;
using MedRecon.Operators.Mri;
using MedRecon.Phantoms;
using MedRecon.Solvers;
using static TorchSharp.torch;

namespace MedRecon.Cli.Commands;

/// <summary>
/// Speed benchmarks, reported (not asserted): the SENSE operator, CG-SENSE and TV against BART pics on the same
/// k-space. Numbers go to docs/benchmarks.md.
/// </summary>
public static class BenchCommand
{
    public static Command Create()
    {
        var size = new Option<int>("--size") { Description = "Image size.", DefaultValueFactory = _ => 256 };
        var coils = new Option<int>("--coils") { Description = "Coils.", DefaultValueFactory = _ => 8 };
        var repeats = new Option<int>("--repeats") { Description = "Timed repetitions of each operator call.", DefaultValueFactory = _ => 10 };
        var output = new Option<string?>("--out") { Description = "Also write the results as markdown to this file." };
        var suite = new Option<string>("--suite") { Description = "What to time: mri, ct, dicom, pacs (C-STORE vs dcmtk storescu), all (these four), or model (the consistency model; minutes).", DefaultValueFactory = _ => "all" };
        suite.AcceptOnlyFromAmong("mri", "ct", "dicom", "pacs", "all", "model");
        var model = new Option<string?>("--model") { Description = "Weights for --suite model (default: models/mr-prior.safetensors when present, else an untrained network)." };
        var quick = new Option<bool>("--quick") { Description = "--suite model: 64² only, 1 repeat, a tiny untrained network (unless --model), batch 2 training steps; a smoke test, not a measurement." };
        var threads = new Option<int?>("--threads") { Description = "Torch CPU threads." };
        var dicom = new Option<string?>("--dicom") { Description = "DICOM series folder for the load benchmark (default: ../shared/data/ct/philips-phantom-head-1mm when present)." };
        var cmd = new Command("bench", "Time the SENSE operator and MRI reconstructions against BART pics, the CT projectors, FBP and SIRT, and DICOM series loading against pydicom.")
        {
            size, coils, repeats, output, suite, dicom, model, quick, threads,
        };
        cmd.SetAction(p => CliSupport.Run(() =>
        {
            string which = p.GetValue(suite)!;
            if (p.GetValue(threads) is { } t)
            {
                if (t < 1) throw new CliException("--threads must be at least 1");
                TorchSharp.torch.set_num_threads(t);
            }
            var md = new StringBuilder();
            if (which is "model")
            {
                // The operator suites' default of 10 repeats is far too many for network forwards: 3 unless given.
                int reps = p.GetResult(repeats) is { Implicit: false } ? p.GetValue(repeats) : 3;
                md.AppendLine(ModelBenchmark.Run(ModelOptions(p.GetValue(model), p.GetValue(quick), reps, p.GetValue(coils)), Console.Out));
            }
            if (which is "mri" or "all") md.AppendLine(RunMri(p.GetValue(size), p.GetValue(coils), p.GetValue(repeats), Console.Out));
            if (which is "ct" or "all")
            {
                var ct = new StringWriter();
                MedRecon.Solvers.Ct.CtBenchmarks.Run(ct);
                Console.Write(ct.ToString());
                md.AppendLine("## CT: parallel-beam Joseph projector pair, FBP and SIRT (seconds; peers: benchmarks/ct_peers.py)");
                md.AppendLine();
                md.AppendLine("```");
                md.Append(ct);
                md.AppendLine("```");
            }
            if (which is "dicom" or "all")
            {
                string? folder = p.GetValue(dicom) ?? DicomBenchmark.DefaultSeries();
                if (folder is null) Console.WriteLine("dicom: no series given and ../shared/data not found; skipped");
                else md.AppendLine(DicomBenchmark.Run(folder, Console.Out));
            }
            if (which is "pacs" or "all")
            {
                string? folder = p.GetValue(dicom) ?? DicomBenchmark.DefaultSeries();
                if (folder is null) Console.WriteLine("pacs: no series given and ../shared/data not found; skipped");
                else md.AppendLine(PacsBenchmark.Run(folder, Console.Out));
            }
            if (p.GetValue(output) is { } path)
            {
                CliSupport.EnsureParent(path);
                File.WriteAllText(path, md.ToString());
                Console.WriteLine($"wrote {path}");
            }
            return 0;
        }));
        return cmd;
    }

    static ModelBenchmarkOptions ModelOptions(string? modelPath, bool quick, int repeats, int coils)
    {
        if (modelPath != null && !File.Exists(modelPath)) throw new CliException($"{modelPath}: model file not found");
        if (repeats < 1) throw new CliException("--repeats must be at least 1");
        if (quick)
            return new ModelBenchmarkOptions
            {
                ModelPath = modelPath, Architecture = MedRecon.Model.UNetConfig.Tiny, Sizes = new[] { 64 }, Batches = new[] { 1, 2 },
                Repeats = 1, TrainBatches = new[] { 2 }, TrainSteps = 1, DcSize = 64, DcCgIterations = 5, Coils = coils, Steps = new[] { 1, 2 },
            };
        modelPath ??= File.Exists("models/mr-prior.safetensors") ? "models/mr-prior.safetensors" : null;
        return new ModelBenchmarkOptions { ModelPath = modelPath, Repeats = repeats, Coils = coils };
    }

    static double TimeMs(Action a, int repeats)
    {
        a(); // warm-up
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < repeats; i++) a();
        return clock.Elapsed.TotalMilliseconds / repeats;
    }

    public static string RunMri(int size, int coils, int repeats, TextWriter log)
    {
        var sb = new StringBuilder();
        string env = $"{Environment.ProcessorCount} cores, torch threads {TorchSharp.torch.get_num_threads()}, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}";
        sb.AppendLine($"## MRI: SENSE operator and reconstructions ({size}², {coils} coils, 4x 1-D random mask)");
        sb.AppendLine();
        sb.AppendLine($"Machine: {env}. Data: Shepp–Logan with birdcage maps, k-space simulated on a 4x finer grid.");
        sb.AppendLine();
        using var scope = NewDisposeScope();
        var m = MriPipeline.SimulatePhantom(EllipsePhantom.SheppLogan(), size,
            new MriSimulationOptions(MaskKind.Random, 4, 0.08, coils, 0, 1));
        using var a = new SenseOperator(m.Maps!, m.Mask.Mask);
        var x = ZeroFilled.Reconstruct(a, m.KSpace);
        double fwd = TimeMs(() => { using var s = NewDisposeScope(); a.Forward(x); }, repeats);
        double adj = TimeMs(() => { using var s = NewDisposeScope(); a.Adjoint(m.KSpace); }, repeats);
        double nrm = TimeMs(() => { using var s = NewDisposeScope(); a.Normal(x); }, repeats);
        sb.AppendLine("| operator call | ms |");
        sb.AppendLine("| --- | ---: |");
        sb.AppendLine(Inv($"| SENSE forward | {fwd:F1} |"));
        sb.AppendLine(Inv($"| SENSE adjoint | {adj:F1} |"));
        sb.AppendLine(Inv($"| SENSE normal (AᴴA) | {nrm:F1} |"));
        sb.AppendLine();
        log.Write(sb.ToString());

        var rows = new StringBuilder();
        rows.AppendLine("| method | iterations | PSNR (dB) | SSIM | seconds |");
        rows.AppendLine("| --- | ---: | ---: | ---: | ---: |");
        void Row(string name, int iters, Tensor img, double seconds)
        {
            var mt = Metrics.Compute(m.GroundTruth, img.abs());
            string line = Inv($"| {name} | {iters} | {mt.Psnr:F2} | {mt.Ssim:F4} | {seconds:F2} |");
            rows.AppendLine(line);
            log.WriteLine(line);
        }
        log.Write(rows.ToString());
        foreach (var (method, iters) in new[] { (MriMethod.Zf, 0), (MriMethod.Cg, 30), (MriMethod.Tv, 300), (MriMethod.Wavelet, 100) })
        {
            var clock = Stopwatch.StartNew();
            var img = MriPipeline.Reconstruct(m.KSpace, m.Mask.Mask, m.Maps, method, iterations: iters == 0 ? null : iters);
            Row($"MedRecon {method.ToString().ToLowerInvariant()}", iters, img, clock.Elapsed.TotalSeconds);
        }
        if (Bart.IsAvailable)
        {
            foreach (var (name, reg, iters) in new[]
                     {
                         ("BART pics -l2 (CG-SENSE)", "-l2 -r 0.001", 30),
                         ("BART pics -R T (TV)", "-R T:3:0:0.01 -u 0.05", 300),
                         ("BART pics -R W (wavelet)", "-R W:3:0:0.003", 100),
                     })
            {
                var (img, seconds) = Bart.Pics(m.KSpace, m.Maps!, reg, iters);
                Row(name, iters, img, seconds);
            }
        }
        else rows.AppendLine("| BART | not installed | | | |");
        sb.Append(rows);
        sb.AppendLine();
        sb.AppendLine(Inv($"Peak working set of the process: {Process.GetCurrentProcess().PeakWorkingSet64 / (1024.0 * 1024):F0} MiB. BART seconds include its process start and file I/O."));
        return sb.ToString();
    }

    static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
