using System.CommandLine;
using System.Globalization;
using System.Runtime.InteropServices;
using MedRecon.Core.IO;
using MedRecon.Model;
using MedRecon.Model.Training;
using MedRecon.Phantoms;
using TorchSharp;
using static TorchSharp.torch;

namespace MedRecon.Cli.Commands;

/// <summary><c>medrecon train</c>: trains a consistency-model prior (EDM denoiser, then consistency tuning), resumable.</summary>
public static class TrainCommand
{
    public static Command Create()
    {
        var data = new Option<string[]>("--data")
        {
            Description = "Training volumes: .nrrd/.nhdr, .nii/.nii.gz, .npy, .npz (largest array), a DICOM folder or file; [slices, rows, cols] or one 2-D image. Repeatable.",
            AllowMultipleArgumentsPerToken = true,
            DefaultValueFactory = _ => Array.Empty<string>(),
        };
        var dataWeights = new Option<string?>("--data-weights")
        {
            Description = "Sampling weight per --data volume, comma-separated in the same order (default 1 each): a slice of a volume with weight w " +
                          "is drawn w times as often, so a large added volume need not drown the rest",
        };
        var init = new Option<string?>("--init")
        {
            Description = "Start a new run from these weights (fine-tuning; architecture and noise parameters from the file, " +
                          "Adam restarted with its warm-up); the steps in the output's metadata continue the file's",
        };
        var phantoms = new Option<string>("--phantoms") { Description = "Synthetic images to mix in: none | ellipses", DefaultValueFactory = _ => "none" };
        var phantomFraction = new Option<double>("--phantom-fraction") { Description = "Share of patches drawn from phantoms", DefaultValueFactory = _ => 0.2 };
        var modality = new Option<string>("--modality") { Description = "ct (HU, fixed map [-1024,3071] -> [-1,1]) | mr (per volume, 99.5th percentile -> 1)", DefaultValueFactory = _ => "" };
        var patch = new Option<int>("--patch") { Description = "Patch size in pixels (multiple of 4)", DefaultValueFactory = _ => 64 };
        var batch = new Option<int>("--batch") { Description = "Patches per step", DefaultValueFactory = _ => 16 };
        var minutes = new Option<double?>("--minutes") { Description = "Wall-clock budget of this run; without --steps the plan is sized to it" };
        var steps = new Option<long?>("--steps") { Description = "Total steps of the plan (denoiser + consistency stages); default 20000" };
        var resume = new Option<bool>("--resume") { Description = "Continue from the checkpoint next to --out (NAME.ckpt.safetensors + NAME.ckpt.json)" };
        var threads = new Option<int?>("--threads") { Description = "Torch CPU threads" };
        var outPath = new Option<string>("--out") { Description = "Output weights (EMA), e.g. models/mr-prior.safetensors", Required = true };
        var seed = new Option<ulong>("--seed") { Description = "Run seed (all randomness of step k derives from it and k)", DefaultValueFactory = _ => 1 };
        var widths = new Option<string>("--widths") { Description = "UNet widths per level, comma-separated", DefaultValueFactory = _ => "32,64,128" };
        var lr = new Option<double>("--lr") { Description = "Denoiser-stage learning rate", DefaultValueFactory = _ => 4e-4 };
        var cmLr = new Option<double>("--cm-lr") { Description = "Consistency-stage learning rate", DefaultValueFactory = _ => 1e-4 };
        var denoiserFraction = new Option<double>("--denoiser-fraction") { Description = "Share of the plan spent on the EDM denoiser stage", DefaultValueFactory = _ => 0.5 };
        var sigmaData = new Option<double>("--sigma-data") { Description = "σ_data of the preconditioning (normalised units)", DefaultValueFactory = _ => 0.5 };
        var holdOut = new Option<double>("--holdout-fraction") { Description = "Share of each volume's slices (the last ones) never trained on", DefaultValueFactory = _ => 0.2 };
        var ckptMinutes = new Option<double>("--checkpoint-minutes") { Description = "Minutes between checkpoints", DefaultValueFactory = _ => 5 };
        var device = new Option<string>("--device") { Description = "cpu | cuda", DefaultValueFactory = _ => "cpu" };
        var logEvery = new Option<int>("--log-every") { Description = "Steps between progress lines", DefaultValueFactory = _ => 25 };
        var evaluate = new Option<bool>("--evaluate") { Description = "Do not train: measure the denoising quality of the --out weights on the held-out slices and print the model card table" };
        var evalCrop = new Option<int?>("--eval-crop") { Description = "Centre crop (px) of held-out slices for --evaluate (default: whole slice)" };
        var evalSlices = new Option<int?>("--eval-slices") { Description = "With --evaluate: use at most this many held-out slices, evenly spaced (default: all)" };
        var report = new Option<string?>("--report") { Description = "With --evaluate: also write model-card material to this folder (table.md, 1-/2-step sample and denoising PNGs)" };
        var exportData = new Option<string?>("--export-data")
        {
            Description = "Do not train: write the normalised training slices (held-out slices excluded) and the phantom pool as .npy " +
                          "plus manifest.json to this folder, for the PyTorch twin trainer (tools/twin/train_twin.py)",
        };

        var cmd = new Command("train", "Train a consistency-model prior (EDM denoiser stage, then easy consistency tuning) with resumable checkpoints.");
        foreach (var o in new Option[] { data, phantoms, phantomFraction, modality, patch, batch, minutes, steps, resume, threads, outPath, seed, widths,
                     lr, cmLr, denoiserFraction, sigmaData, holdOut, ckptMinutes, device, logEvery, evaluate, evalCrop, evalSlices, report, exportData,
                     dataWeights, init })
            cmd.Options.Add(o);

        cmd.SetAction(parse =>
        {
            try
            {
                if (parse.GetValue(threads) is { } n and > 0) torch.set_num_threads(n);
                string output = parse.GetValue(outPath)!;
                string ckpt = Trainer.CheckpointPathFor(output);
                void Log(string line) => Console.WriteLine($"{DateTime.UtcNow:HH:mm:ss} {line}");

                TrainerOptions options;
                bool resuming = parse.GetValue(resume) && File.Exists(ckpt);
                if (parse.GetValue(resume) && !resuming) Log($"no checkpoint at {ckpt}: starting a new run");
                if (resuming)
                {
                    options = Trainer.ReadCheckpointState(ckpt).Options;
                    var given = parse.GetValue(data)!;
                    // A deliberate change (e.g. more real slices): the weights and optimizer continue, the batches differ
                    // from an uninterrupted run from here on. Logged and recorded in the checkpoint state.
                    if (given.Length > 0 && !given.Select(Path.GetFullPath).SequenceEqual(options.DataSources))
                    {
                        Log($"resume changes the training data from [{string.Join(", ", options.DataSources)}] to [{string.Join(", ", given.Select(Path.GetFullPath))}]");
                        options = options with { DataSources = given.Select(Path.GetFullPath).ToArray() };
                    }
                    // The one deliberate change allowed on resume: start mixing in phantoms (logged; recorded in the state).
                    if (parse.GetValue(phantoms)!.ToLowerInvariant() == "ellipses" && options.SyntheticSource == "")
                    {
                        options = options with { SyntheticSource = "ellipses", SyntheticFraction = parse.GetValue(phantomFraction) };
                        Log($"resume adds ellipse phantoms ({options.SyntheticFraction:P0} of patches) from the checkpoint's step on");
                    }
                }
                else
                {
                    string mod = parse.GetValue(modality)!.ToLowerInvariant();
                    if (mod is not ("ct" or "mr")) { Console.Error.WriteLine("--modality ct|mr is required for a new run"); return 1; }
                    var w = parse.GetValue(widths)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                        .Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray();
                    int p = parse.GetValue(patch);
                    if (p % (1 << (w.Length - 1)) != 0) { Console.Error.WriteLine($"--patch must be a multiple of {1 << (w.Length - 1)}"); return 1; }
                    string ph = parse.GetValue(phantoms)!.ToLowerInvariant();
                    if (ph is not ("none" or "ellipses")) { Console.Error.WriteLine("--phantoms must be none or ellipses"); return 1; }
                    options = new TrainerOptions
                    {
                        Architecture = new UNetConfig { Widths = w },
                        Noise = new NoiseParameters { SigmaData = parse.GetValue(sigmaData) },
                        Modality = mod,
                        BatchSize = parse.GetValue(batch),
                        Patch = p,
                        TotalSteps = parse.GetValue(steps) ?? 20000,
                        DenoiserFraction = parse.GetValue(denoiserFraction),
                        LearningRate = parse.GetValue(lr),
                        ConsistencyLearningRate = parse.GetValue(cmLr),
                        Seed = parse.GetValue(seed),
                        CheckpointMinutes = parse.GetValue(ckptMinutes),
                        Device = parse.GetValue(device)!,
                        DataSources = parse.GetValue(data)!.Select(Path.GetFullPath).ToArray(),
                        SyntheticSource = ph == "none" ? "" : ph,
                        SyntheticFraction = ph == "none" ? 0 : parse.GetValue(phantomFraction),
                        HoldOutFraction = parse.GetValue(holdOut),
                    };
                }
                if (parse.GetValue(dataWeights) is { } dw)
                {
                    var ws = dw.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                        .Select(s => double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && v > 0 && double.IsFinite(v) ? v : double.NaN).ToArray();
                    if (ws.Length != options.DataSources.Length || ws.Any(double.IsNaN))
                    { Console.Error.WriteLine($"--data-weights needs {options.DataSources.Length} positive numbers (one per --data), got '{dw}'"); return 1; }
                    options = options with { DataWeights = ws };
                }
                string? initWeights = parse.GetValue(init);
                if (initWeights != null && !resuming && !File.Exists(initWeights))
                { Console.Error.WriteLine($"--init: no such file {initWeights}"); return 1; }
                if (options.Device.StartsWith("cuda", StringComparison.Ordinal) && !torch.cuda.is_available())
                { Console.Error.WriteLine("--device cuda: CUDA is not available in this build/machine"); return 1; }
                if (options.DataSources.Length == 0 && options.SyntheticSource == "")
                { Console.Error.WriteLine("give --data PATH... and/or --phantoms ellipses"); return 1; }

                if (parse.GetValue(report) is not null && !parse.GetValue(evaluate))
                { Console.Error.WriteLine("error: --report needs --evaluate"); return 2; }
                if (parse.GetValue(evaluate))
                    return Evaluate(output, options, parse.GetValue(evalCrop), parse.GetValue(evalSlices), parse.GetValue(report), Log);

                var trainingData = BuildData(options, Log);
                if (parse.GetValue(exportData) is { } exportDir)
                    return ExportData(trainingData, options, exportDir, Log);
                if (resuming && initWeights != null) Log($"--init ignored: resuming the checkpoint {ckpt}");
                using var trainer = resuming ? Trainer.Resume(ckpt, trainingData, Log, options)
                    : initWeights != null ? Trainer.FromWeights(initWeights, options, trainingData, Log)
                    : new Trainer(options, trainingData, Log);
                if (resuming && parse.GetValue(steps) is { } newTotal && newTotal != trainer.Options.TotalSteps)
                {
                    Log($"plan changed from {trainer.Options.TotalSteps} to {newTotal} total steps (the curriculum is re-spread)");
                    trainer.SetTotalSteps(newTotal);
                }
                Log($"UNet widths [{string.Join(",", trainer.Options.Architecture.Widths)}], {trainer.Model.ParameterCount():N0} parameters; " +
                    $"σ_data {trainer.Options.Noise.SigmaData}; batch {trainer.Options.BatchSize} x {trainer.Options.Patch}²; threads {torch.get_num_threads()}");
                Log((resuming ? $"resuming at step {trainer.Step}" : initWeights != null ? $"new run from {initWeights} (step {trainer.Options.InitSteps})" : "new run") +
                    $": plan {trainer.Options.TotalSteps} steps ({trainer.Options.DenoiserSteps} denoiser, then consistency tuning)");
                Log($"checkpoint {ckpt}; EMA weights {Path.GetFullPath(output)}");

                using var cts = new CancellationTokenSource();
                Console.CancelKeyPress += (_, e) => { e.Cancel = true; cts.Cancel(); };
                using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, ctx => { ctx.Cancel = true; cts.Cancel(); });

                TimeSpan? budget = parse.GetValue(minutes) is { } m ? TimeSpan.FromMinutes(m) : null;
                if (!resuming && parse.GetValue(steps) is null && budget is { } b)
                {
                    // Size the plan to the budget: time a few steps first.
                    var sw = System.Diagnostics.Stopwatch.StartNew();
                    trainer.Run(maxSteps: 5, logEvery: 5, cancel: cts.Token);
                    double perStep = sw.Elapsed.TotalSeconds / 5;
                    long total = Math.Max(20, (long)(b.TotalSeconds / perStep * 0.95));
                    trainer.SetTotalSteps(total);
                    budget = b - sw.Elapsed;
                    Log($"plan sized to the budget: {perStep:F2} s/step -> {total} steps");
                }
                trainer.Run(budget: budget, checkpointPath: ckpt, weightsPath: output, logEvery: parse.GetValue(logEvery), cancel: cts.Token);
                return 0;
            }
            catch (Exception e) when (e is InvalidInputFileException or CliException)
            {
                Console.Error.WriteLine($"error: {e.Message}");
                return 2;
            }
            catch (ModelArchitectureMismatchException e)
            {
                Console.Error.WriteLine($"error: {e.Message}");
                return 2;
            }
        });
        return cmd;
    }

    static int Evaluate(string weights, TrainerOptions options, int? crop, int? maxSlices, string? reportDir, Action<string> log)
    {
        const ulong seed = 12345;
        var (f, meta) = ModelIO.Load(weights);
        using (f)
        {
            var held = new List<Tensor>();
            var training = new List<Tensor>();
            foreach (var path in options.DataSources)
            {
                var v = TrainingData.LoadVolume(path, options.Modality, options.HoldOutFraction, ReadDicom);
                log($"held-out slices of {path}: [{string.Join(",", v.HeldOut)}]");
                held.AddRange(v.HeldOut.Select(i => v.Slices[i]));
                training.AddRange(v.TrainingSlices.Select(i => v.Slices[i]));
            }
            if (held.Count == 0) { Console.Error.WriteLine("no held-out slices to evaluate on"); return 1; }
            if (maxSlices is { } k && k < held.Count)
            {
                if (k < 1) { Console.Error.WriteLine("error: --eval-slices must be at least 1"); return 2; }
                // Evenly spaced: neighbouring thin slices are nearly the same image, so a spread subset loses little.
                held = Enumerable.Range(0, k).Select(i => held[(int)((i + 0.5) * held.Count / k)]).ToList();
                log($"using {k} evenly spaced held-out slices");
            }
            log($"evaluating {weights} ({meta.Stage}, step {meta.Steps}, {meta.Weights} weights) on {held.Count} held-out slices" +
                (crop is { } c ? $", centre {c}x{c} crop" : "") +
                $"; TV/ROF λ tuned on {Math.Min(training.Count, PriorEvaluation.MaxTuningSlices)} training slices");
            var sw = System.Diagnostics.Stopwatch.StartNew();
            var rows = PriorEvaluation.Denoising(f, held, PriorEvaluation.DefaultSigmas, seed: seed, crop: crop, tuningSlices: training);
            Console.WriteLine(PriorEvaluation.Markdown(rows));
            log($"evaluation took {sw.Elapsed.TotalSeconds:F0} s");
            if (reportDir != null)
            {
                sw.Restart();
                var header = new List<string>
                {
                    $"Weights: `{Path.GetFileName(weights)}` ({meta.Modality}, {meta.Stage} stage, step {meta.Steps}, {meta.Weights} weights, SHA-256 {Sha256(weights)}).",
                    $"Held-out slices: {held.Count}{(maxSlices is { } ms && ms <= held.Count ? " evenly spaced" : "")} ({string.Join("; ", options.DataSources.Select(Path.GetFileName))}, last {options.HoldOutFraction:P0} of each volume), " +
                    (crop is { } cc ? $"centre {cc}×{cc} crop" : "whole slices") + $"; noise seed {seed}; normalised units ({meta.Normalisation}).",
                    $"PSNR/SSIM per slice with data_range = max(ref) − min(ref), averaged. TV/ROF: Chambolle's projection, {RofDenoiser.DefaultIterations} iterations, " +
                    $"λ = k·σ with k ∈ {{{string.Join(", ", PriorEvaluation.RofFactors.Select(x => x.ToString(CultureInfo.InvariantCulture)))}}} chosen per σ on " +
                    $"{Math.Min(training.Count, PriorEvaluation.MaxTuningSlices)} training slices (not held out). Gaussian: width chosen per σ by an oracle against the clean held-out slice (an upper bound for that filter).",
                };
                Pipelines.PriorReport.Write(reportDir, f, held, rows, crop, seed, header);
                log($"report -> {Path.GetFullPath(reportDir)} ({sw.Elapsed.TotalSeconds:F0} s)");
            }
            return 0;
        }
    }

    static string Sha256(string path)
    {
        using var s = File.OpenRead(path);
        return Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(s)).ToLowerInvariant();
    }

    /// <summary>A DICOM series (folder or file) as (slices, rows, cols) in modality units, or null when not DICOM.</summary>
    static Tensor? ReadDicom(string path) =>
        Pipelines.DicomImages.IsDicom(path) ? Pipelines.DicomImages.Read(path, null, "all").Images : null;

    static TrainingData BuildData(TrainerOptions o, Action<string> log)
    {
        var volumes = new List<TrainingVolume>();
        for (int i = 0; i < o.DataSources.Length; i++)
        {
            string path = o.DataSources[i];
            double weight = i < o.DataWeights.Length ? o.DataWeights[i] : 1.0;
            var v = TrainingData.LoadVolume(path, o.Modality, o.HoldOutFraction, ReadDicom, weight);
            log($"data {path}: {v.Slices.shape[0]} slices {v.Slices.shape[1]}x{v.Slices.shape[2]}, held out (never trained on) [{string.Join(",", v.HeldOut)}]" +
                (weight != 1.0 ? $", sampling weight {weight}" : ""));
            volumes.Add(v);
        }
        Func<int, Tensor>? synthetic = null;
        if (o.SyntheticSource == "ellipses")
        {
            string mod = o.Modality;
            ulong baseSeed = o.Seed * 1_000_003UL;
            synthetic = i => EllipseImage((int)((baseSeed + (ulong)i) & 0x7FFFFFFF), mod);
            log($"phantoms: random ellipses, {o.SyntheticFraction:P0} of patches");
        }
        return new TrainingData(volumes, synthetic, o.SyntheticFraction, syntheticName: o.SyntheticSource);
    }

    /// <summary>
    /// Writes what the trainer would sample from — each volume's training slices (held-out ones excluded) and the whole
    /// synthetic pool, already normalised — so the PyTorch twin trains on exactly the same images. The folder is
    /// written next to its final place and moved in whole.
    /// </summary>
    static int ExportData(TrainingData data, TrainerOptions o, string dir, Action<string> log)
    {
        var files = new List<object>();
        CliSupport.WriteFolder(dir, tmp =>
        {
            int i = 0;
            foreach (var v in data.Volumes)
            {
                var keep = v.TrainingSlices.ToArray();
                if (keep.Length == 0) continue;
                string name = $"slices-{i++}.npy";
                using (var idx = torch.tensor(keep.Select(k => (long)k).ToArray()))
                using (var sel = v.Slices.index_select(0, idx).contiguous())
                    Npy.Write(Path.Combine(tmp, name), sel);
                files.Add(new { file = name, source = v.Source, slices = keep, heldOut = v.HeldOut, weight = v.Weight });
                log($"export {name}: {keep.Length} training slices of {v.Source} (held out [{string.Join(",", v.HeldOut)}] not written)");
            }
            string? phantomFile = null;
            if (data.Synthetic != null)
            {
                using var scope = NewDisposeScope();
                var pool = torch.stack(Enumerable.Range(0, data.SyntheticPool).Select(k => data.Synthetic(k).to(ScalarType.Float32)).ToArray());
                phantomFile = "phantoms.npy";
                Npy.Write(Path.Combine(tmp, phantomFile), pool);
                log($"export {phantomFile}: {data.SyntheticPool} '{data.SyntheticName}' images");
            }
            var manifest = new
            {
                modality = o.Modality,
                normalisation = Normalization.Describe(o.Modality),
                volumes = files,
                phantoms = phantomFile,
                phantomFraction = data.SyntheticFraction,
                intensityJitter = o.IntensityJitter,
                architecture = o.Architecture,
                noise = o.Noise,
            };
            File.WriteAllText(Path.Combine(tmp, "manifest.json"), System.Text.Json.JsonSerializer.Serialize(manifest,
                new System.Text.Json.JsonSerializerOptions { PropertyNamingPolicy = System.Text.Json.JsonNamingPolicy.CamelCase, WriteIndented = true }));
        });
        log($"training data written to {Path.GetFullPath(dir)}");
        return 0;
    }

    /// <summary>
    /// A random-ellipse phantom at 256², normalised like the modality: MR as a volume (99.5th percentile → 1, then
    /// ×2 − 1); CT as relative attenuation with the phantom's 99.5th percentile at water (0 HU), mapped through the
    /// fixed HU map.
    /// </summary>
    static Tensor EllipseImage(int seed, string modality)
    {
        using var scope = NewDisposeScope();
        var img = EllipsePhantom.Random(seed).Rasterize(256).to(ScalarType.Float32).clamp_min(0);
        double p = Normalization.Percentile(img, 99.5);
        if (!(p > 0)) p = 1;
        var rel = img / p;
        var x = modality == "ct" ? Normalization.CtFromHu(rel * 1024.0 - 1024.0) : rel * 2.0 - 1.0;
        return x.MoveToOuterDisposeScope();
    }
}
