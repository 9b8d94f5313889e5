using System.Diagnostics;
using System.Text.Json;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MedRecon.Model.Training;

/// <summary>
/// Training recipe (all of it is stored in the checkpoint, so <c>--resume</c> continues the same run).
/// Stage 1 (the first <see cref="DenoiserFraction"/> of <see cref="TotalSteps"/>): EDM denoiser, weighted MSE
/// λ(σ) = 1/c_out(σ)², lognormal σ (P_mean, P_std). Stage 2: easy consistency tuning (ECT): pseudo-Huber distance
/// between f(x + t z, t) and stop-grad f(x + r z, r) with the same z, weighted 1/(t − r), where
/// r = max(σ_min, t − t·n(t)/q^s), n(t) = 1 + 8·sigmoid(−t), q = 2 and s the curriculum stage (Δt halves each stage).
/// </summary>
public sealed record TrainerOptions
{
    public UNetConfig Architecture { get; init; } = new();
    public NoiseParameters Noise { get; init; } = new();
    public string Modality { get; init; } = "mr";
    public int BatchSize { get; init; } = 16;
    public int Patch { get; init; } = 64;
    /// <summary>Total optimisation steps of the plan (both stages).</summary>
    public long TotalSteps { get; init; } = 20000;
    public double DenoiserFraction { get; init; } = 0.5;
    public double LearningRate { get; init; } = 4e-4;
    public double ConsistencyLearningRate { get; init; } = 1e-4;
    public int WarmupSteps { get; init; } = 200;
    public double GradClip { get; init; } = 1.0;
    public double EmaDecay { get; init; } = 0.999;
    public double DenoiserPMean { get; init; } = -1.2;
    public double DenoiserPStd { get; init; } = 1.2;
    public double ConsistencyPMean { get; init; } = -1.1;
    public double ConsistencyPStd { get; init; } = 2.0;
    /// <summary>Curriculum stages of the consistency phase (Δt/t halves at each).</summary>
    public int CurriculumStages { get; init; } = 6;
    /// <summary>Pseudo-Huber c = HuberC · sqrt(pixels per sample) (iCT: 0.00054).</summary>
    public double HuberC { get; init; } = 0.00054;
    /// <summary>Intensity jitter: x → (x + 1)·a − 1 with a uniform in [1 − j, 1 + j].</summary>
    public double IntensityJitter { get; init; } = 0.1;
    public ulong Seed { get; init; } = 1;
    public double CheckpointMinutes { get; init; } = 5;
    public string Device { get; init; } = "cpu";
    /// <summary>Provenance: the training inputs (files, synthetic source), recorded so a resume can reuse them.</summary>
    public string[] DataSources { get; init; } = Array.Empty<string>();
    public string SyntheticSource { get; init; } = "";
    public double SyntheticFraction { get; init; }
    public double HoldOutFraction { get; init; } = 0.2;
    /// <summary>Sampling weight per data source (same order as DataSources; missing entries are 1).</summary>
    public double[] DataWeights { get; init; } = Array.Empty<double>();
    /// <summary>Provenance of a fine-tuning run: the weights it started from ("" for random initialisation) and the
    /// steps those weights had; the step count written into the weights' metadata is InitSteps + this run's steps.</summary>
    public string InitWeights { get; init; } = "";
    public long InitSteps { get; init; }

    public long DenoiserSteps => (long)Math.Round(TotalSteps * DenoiserFraction);
}

/// <summary>One logged point of the loss curve.</summary>
public sealed record LossPoint(long Step, string Stage, double Loss, double WallSeconds);

/// <summary>Checkpoint sidecar (NAME.ckpt.json): everything but the tensors.</summary>
public sealed record CheckpointState
{
    public int Version { get; init; } = 1;
    public long Step { get; init; }
    public double WallSeconds { get; init; }
    public TrainerOptions Options { get; init; } = new();
    public List<LossPoint> Losses { get; init; } = new();
    public string Data { get; init; } = "";
    public DateTime SavedUtc { get; init; }
}

/// <summary>
/// Trains a <see cref="UNet"/> prior (EDM denoiser, then ECT consistency tuning) with its own AdamW-style optimizer
/// (Adam, no weight decay) and EMA weights, from random patches with flips, rot90 and intensity jitter.
/// All randomness of step k is derived from (Seed, k) — batch, noise, σ — so a run resumed from a checkpoint
/// (model, EMA, Adam moments, step) continues exactly as if it had not stopped.
/// </summary>
public sealed class Trainer : IDisposable
{
    readonly TrainingData data;
    readonly Action<string> log;
    readonly List<(Parameter P, Tensor M, Tensor V)> adam = new();
    readonly List<(Parameter P, Parameter E)> emaPairs = new();
    readonly Device device;
    double wallBefore;

    public Trainer(TrainerOptions options, TrainingData data, Action<string>? log = null)
    {
        Options = options;
        this.data = data;
        this.log = log ?? (_ => { });
        device = new Device(options.Device);
        // Initial weights from an explicit generator seeded by the run seed (no global torch seeding).
        Model = new UNet(options.Architecture, new torch.Generator(Mix(options.Seed, ulong.MaxValue)));
        Ema = new UNet(options.Architecture);
        Model.to(device);
        Ema.to(device);
        using (torch.no_grad())
        {
            var eps = Ema.named_parameters().ToDictionary(p => p.name, p => p.parameter);
            foreach (var (name, p) in Model.named_parameters())
            {
                eps[name].copy_(p);
                eps[name].requires_grad = false;
                emaPairs.Add((p, eps[name]));
                adam.Add((p, torch.zeros_like(p), torch.zeros_like(p)));
            }
        }
        Function = new ConsistencyFunction(Model, options.Noise);
        EmaFunction = new ConsistencyFunction(Ema, options.Noise);
    }

    public TrainerOptions Options { get; private set; }
    public UNet Model { get; }
    public UNet Ema { get; }
    public ConsistencyFunction Function { get; }
    public ConsistencyFunction EmaFunction { get; }
    public long Step { get; private set; }
    public List<LossPoint> Losses { get; } = new();
    public double WallSeconds => wallBefore + (runClock?.Elapsed.TotalSeconds ?? 0);
    Stopwatch? runClock;

    public string StageAt(long step) => step < Options.DenoiserSteps ? "denoiser" : "consistency";

    /// <summary>Extends or shortens the plan (e.g. on resume with a new --steps); the curriculum is re-spread.</summary>
    public void SetTotalSteps(long total) => Options = Options with { TotalSteps = total };

    static ulong Mix(ulong seed, ulong step)
    {
        ulong z = seed * 0x9E3779B97F4A7C15UL + step + 0x632BE59BD9B4E019UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>The batch of step <paramref name="step"/>: [B, C, P, P] patches in network units.</summary>
    public Tensor MakeBatch(long step)
    {
        var rng = new Random((int)(Mix(Options.Seed, (ulong)step) & 0x7FFFFFFF));
        int P = Options.Patch, C = Options.Architecture.InChannels;
        var patches = new List<Tensor>();
        using var scope = NewDisposeScope();
        for (int b = 0; b < Options.BatchSize; b++)
        {
            Tensor? patch = null;
            for (int attempt = 0; attempt < 4; attempt++)
            {
                var img = data.Pick(rng);
                long H = img.shape[^2], W = img.shape[^1];
                if (H < P || W < P)
                {
                    long ph = Math.Max(0, P - H), pw = Math.Max(0, P - W);
                    img = torch.nn.functional.pad(img.unsqueeze(0), new long[] { pw / 2, pw - pw / 2, ph / 2, ph - ph / 2 }, value: -1.0).squeeze(0);
                    H = img.shape[^2];
                    W = img.shape[^1];
                }
                int r0 = rng.Next((int)(H - P + 1)), c0 = rng.Next((int)(W - P + 1));
                patch = img.narrow(-2, r0, P).narrow(-1, c0, P);
                // Prefer patches with some structure over flat background.
                if ((patch.max() - patch.min()).item<float>() > 0.05f) break;
            }
            var p = patch!;
            int k = rng.Next(4);
            for (int i = 0; i < k; i++) p = p.transpose(-2, -1).flip(-1); // rot90
            if (rng.Next(2) == 1) p = p.flip(-1);
            double a = 1 + Options.IntensityJitter * (2 * rng.NextDouble() - 1);
            p = (p + 1.0) * a - 1.0;
            if (p.dim() == 2) p = p.unsqueeze(0).expand(C, P, P);
            patches.Add(p);
        }
        return torch.stack(patches).contiguous().to(device).MoveToOuterDisposeScope();
    }

    /// <summary>One optimisation step; returns the loss.</summary>
    public double TrainStep()
    {
        long step = Step;
        using var scope = NewDisposeScope();
        var x0 = MakeBatch(step);
        var gen = new torch.Generator(Mix(Options.Seed ^ 0xA5A5A5A5UL, (ulong)step));
        long B = x0.shape[0];
        var noise = Options.Noise;
        double smin = noise.SigmaMin, sd = noise.SigmaData;
        Model.train();
        Tensor loss;
        double lr;
        if (StageAt(step) == "denoiser")
        {
            var sigma = torch.exp(torch.randn(B, generator: gen) * Options.DenoiserPStd + Options.DenoiserPMean)
                .clamp(2 * smin, noise.SigmaMax).to(device);
            var z = torch.randn(x0.shape, generator: gen).to(device);
            var s4 = sigma.reshape(-1, 1, 1, 1);
            var f = Function.Forward(x0 + z * s4, sigma);
            // λ(σ) = 1 / c_out(σ)² (EDM weighting; = MSE of the raw network output against its target).
            var d = s4 - smin;
            var weight = (s4 * s4 + sd * sd) / (sd * sd * d * d);
            loss = (weight * (f - x0).square()).mean();
            lr = Options.LearningRate * Math.Min(1.0, (step + 1) / (double)Math.Max(1, Options.WarmupSteps));
        }
        else
        {
            long k = step - Options.DenoiserSteps;
            long cmSteps = Math.Max(1, Options.TotalSteps - Options.DenoiserSteps);
            int stage = (int)Math.Min(Options.CurriculumStages - 1, k * Options.CurriculumStages / cmSteps);
            var t = torch.exp(torch.randn(B, generator: gen) * Options.ConsistencyPStd + Options.ConsistencyPMean)
                .clamp(2 * smin, noise.SigmaMax);
            var nt = 1.0 + 8.0 * torch.sigmoid(-t);
            var r = (t - t * nt / Math.Pow(2, stage)).clamp_min(smin);
            t = t.to(device);
            r = r.to(device);
            var z = torch.randn(x0.shape, generator: gen).to(device);
            var ft = Function.Forward(x0 + z * t.reshape(-1, 1, 1, 1), t);
            Tensor fr;
            using (torch.no_grad())
                fr = Function.Forward(x0 + z * r.reshape(-1, 1, 1, 1), r).detach();
            double c = Options.HuberC * Math.Sqrt(x0[0].numel());
            var dist = (ft - fr).square().reshape(B, -1).sum(dim: 1);
            var huber = (dist + c * c).sqrt() - c;
            loss = (huber / (t - r)).mean();
            lr = Options.ConsistencyLearningRate;
        }
        Model.zero_grad();
        loss.backward();
        double value = loss.item<float>();
        if (!double.IsFinite(value)) throw new InvalidOperationException($"loss is {value} at step {step}; lower the learning rate");
        using (torch.no_grad())
        {
            // Global gradient-norm clipping.
            double sq = 0;
            foreach (var (p, _, _) in adam)
                if (p.grad is { } g) sq += g.square().sum().item<float>();
            double norm = Math.Sqrt(sq);
            double clip = Options.GradClip > 0 && norm > Options.GradClip ? Options.GradClip / norm : 1.0;
            // Adam (β1 0.9, β2 0.999, ε 1e-8), bias-corrected.
            const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
            long n = step + 1;
            double bc1 = 1 - Math.Pow(b1, n), bc2 = 1 - Math.Pow(b2, n);
            foreach (var (p, m, v) in adam)
            {
                var g = p.grad;
                if (g is null) continue;
                if (clip != 1.0) g = g * clip;
                m.mul_(b1).add_(g, alpha: 1 - b1);
                v.mul_(b2).addcmul_(g, g, value: 1 - b2);
                var denom = (v / bc2).sqrt_().add_(eps);
                p.addcdiv_(m, denom, value: -lr / bc1);
            }
            double decay = Math.Min(Options.EmaDecay, (1.0 + n) / (10.0 + n));
            foreach (var (p, e) in emaPairs)
                e.mul_(decay).add_(p, alpha: 1 - decay);
        }
        Step = step + 1;
        return value;
    }

    /// <summary>
    /// Trains until the plan's last step, <paramref name="maxSteps"/> more steps, the wall-clock budget, or cancellation,
    /// logging progress every <paramref name="logEvery"/> steps and checkpointing every CheckpointMinutes (and at the end)
    /// when <paramref name="checkpointPath"/> is set; after each checkpoint the EMA weights go to <paramref name="weightsPath"/>.
    /// </summary>
    public void Run(long? maxSteps = null, TimeSpan? budget = null, string? checkpointPath = null, string? weightsPath = null,
        int logEvery = 25, CancellationToken cancel = default)
    {
        runClock = Stopwatch.StartNew();
        var lastCkpt = Stopwatch.StartNew();
        var window = new Stopwatch();
        long startStep = Step, windowStart = Step;
        double lossSum = 0;
        int lossCount = 0;
        long stopAt = Options.TotalSteps;
        if (maxSteps is { } ms) stopAt = Math.Min(stopAt, Step + ms);
        window.Start();
        string? reason = null;
        try
        {
            while (Step < stopAt)
            {
                if (cancel.IsCancellationRequested) { reason = "cancelled"; break; }
                if (budget is { } b && runClock.Elapsed >= b) { reason = "time budget reached"; break; }
                string stage = StageAt(Step);
                double l = TrainStep();
                lossSum += l;
                lossCount++;
                if (Step % logEvery == 0 || Step == stopAt)
                {
                    double secs = window.Elapsed.TotalSeconds;
                    double itps = (Step - windowStart) / Math.Max(1e-9, secs);
                    double avg = lossSum / Math.Max(1, lossCount);
                    Losses.Add(new LossPoint(Step, stage, avg, WallSeconds));
                    long left = stopAt - Step;
                    double etaSec = left / Math.Max(1e-9, itps);
                    if (budget is { } bb) etaSec = Math.Min(etaSec, Math.Max(0, (bb - runClock.Elapsed).TotalSeconds));
                    log($"step {Step}/{Options.TotalSteps} [{stage}] loss {avg:G4} | {itps:F2} it/s ({1 / Math.Max(1e-9, itps):F2} s/step) | " +
                        $"ETA {FormatTime(etaSec)} | wall {FormatTime(WallSeconds)}");
                    lossSum = 0;
                    lossCount = 0;
                    windowStart = Step;
                    window.Restart();
                }
                if (checkpointPath != null && lastCkpt.Elapsed.TotalMinutes >= Options.CheckpointMinutes)
                {
                    SaveCheckpoint(checkpointPath, weightsPath);
                    lastCkpt.Restart();
                }
            }
        }
        catch (Exception e)
        {
            reason = $"error: {e.GetType().Name}: {e.Message}";
            throw;
        }
        finally
        {
            if (checkpointPath != null && Step > startStep) SaveCheckpoint(checkpointPath, weightsPath);
            wallBefore += runClock.Elapsed.TotalSeconds;
            runClock = null;
            log($"stopped at step {Step}/{Options.TotalSteps} ({reason ?? (Step >= Options.TotalSteps ? "plan complete" : "step limit")}), " +
                $"{Step - startStep} steps this run, wall {FormatTime(WallSeconds)} in total");
        }
    }

    static string FormatTime(double seconds)
    {
        var t = TimeSpan.FromSeconds(Math.Max(0, seconds));
        return t.TotalHours >= 1 ? $"{(int)t.TotalHours}h{t.Minutes:D2}m" : $"{t.Minutes}m{t.Seconds:D2}s";
    }

    // --- weights and checkpoints -----------------------------------------------------------------------------------

    public ModelMetadata Metadata(string weights) => new()
    {
        Architecture = Options.Architecture,
        Noise = Options.Noise,
        Modality = Options.Modality,
        Normalisation = Normalization.Describe(Options.Modality),
        Stage = StageAt(Math.Max(0, Step - 1)),
        Steps = Options.InitSteps + Step,
        Weights = weights,
    };

    /// <summary>Writes the EMA weights (the shipped model) with metadata.</summary>
    public void SaveEmaWeights(string path) => ModelIO.Save(Ema, Metadata("ema"), path);

    /// <summary>NAME.safetensors → NAME.ckpt.safetensors (the JSON sidecar is NAME.ckpt.json).</summary>
    public static string CheckpointPathFor(string weightsPath)
    {
        string dir = Path.GetDirectoryName(Path.GetFullPath(weightsPath))!;
        string name = Path.GetFileName(weightsPath);
        if (name.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase)) name = name[..^".safetensors".Length];
        return Path.Combine(dir, name + ".ckpt.safetensors");
    }

    static string SidecarFor(string checkpointPath) =>
        (checkpointPath.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase) ? checkpointPath[..^".safetensors".Length] : checkpointPath) + ".json";

    static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.CamelCase, WriteIndented = true };

    public void SaveCheckpoint(string checkpointPath, string? weightsPath = null)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(checkpointPath))!);
        var tensors = new List<KeyValuePair<string, Tensor>>();
        foreach (var (name, p) in Model.named_parameters()) tensors.Add(new("model/" + name, p));
        foreach (var (name, p) in Ema.named_parameters()) tensors.Add(new("ema/" + name, p));
        var names = Model.named_parameters().Select(p => p.name).ToList();
        for (int i = 0; i < adam.Count; i++)
        {
            tensors.Add(new("adam_m/" + names[i], adam[i].M));
            tensors.Add(new("adam_v/" + names[i], adam[i].V));
        }
        TensorArchive.Write(checkpointPath, tensors);
        var state = new CheckpointState
        {
            Step = Step, WallSeconds = WallSeconds, Options = Options, Losses = Losses.ToList(),
            Data = DescribeData(), SavedUtc = DateTime.UtcNow,
        };
        string sidecar = SidecarFor(checkpointPath), tmp = sidecar + ".tmp-" + Environment.ProcessId;
        File.WriteAllText(tmp, JsonSerializer.Serialize(state, Json));
        File.Move(tmp, sidecar, overwrite: true);
        if (weightsPath != null) SaveEmaWeights(weightsPath);
        log($"checkpoint: step {Step} -> {checkpointPath}" + (weightsPath != null ? $", EMA weights -> {weightsPath}" : ""));
    }

    public static CheckpointState ReadCheckpointState(string checkpointPath)
    {
        string sidecar = SidecarFor(checkpointPath);
        try { return JsonSerializer.Deserialize<CheckpointState>(File.ReadAllText(sidecar), Json) ?? throw new JsonException("empty"); }
        catch (Exception e) when (e is IOException or JsonException or UnauthorizedAccessException)
        { throw new MedRecon.Core.IO.InvalidInputFileException(sidecar, $"cannot read the checkpoint state: {e.Message}", e); }
    }

    /// <summary>
    /// A new run that starts from trained weights (fine-tuning, e.g. on more data): model and EMA start as the file's
    /// weights, Adam's moments at zero with the warm-up of <see cref="TrainerOptions.WarmupSteps"/>. The architecture
    /// and noise parameters come from the file; its modality must match the options'.
    /// </summary>
    public static Trainer FromWeights(string weightsPath, TrainerOptions options, TrainingData data, Action<string>? log = null)
    {
        var meta = ModelIO.ReadMetadata(weightsPath);
        if (meta.Modality != options.Modality)
            throw new MedRecon.Core.IO.InvalidInputFileException(weightsPath, $"a '{meta.Modality}' prior; this run trains '{options.Modality}'");
        var trainer = new Trainer(options with
        {
            Architecture = meta.Architecture, Noise = meta.Noise, InitWeights = Path.GetFullPath(weightsPath), InitSteps = meta.Steps,
        }, data, log);
        ModelIO.LoadInto(trainer.Model, weightsPath);
        using (torch.no_grad())
            foreach (var (p, e) in trainer.emaPairs) e.copy_(p);
        return trainer;
    }

    /// <summary>Rebuilds a trainer from a checkpoint (options from the checkpoint; data supplied again by the caller).</summary>
    /// <param name="options">Options to continue with instead of the checkpoint's (e.g. more data); the
    /// architecture and noise parameters must stay the same.</param>
    public static Trainer Resume(string checkpointPath, TrainingData data, Action<string>? log = null, TrainerOptions? options = null)
    {
        var state = ReadCheckpointState(checkpointPath);
        if (options != null && !options.Architecture.SameArchitecture(state.Options.Architecture))
            throw new ModelArchitectureMismatchException(checkpointPath, state.Options.Architecture, options.Architecture);
        var trainer = new Trainer(options ?? state.Options, data, log);
        var tensors = TensorArchive.Read(checkpointPath);
        try
        {
            using (torch.no_grad())
            {
                var names = trainer.Model.named_parameters().Select(p => p.name).ToList();
                void Load(string key, Tensor into)
                {
                    if (!tensors.TryGetValue(key, out var t))
                        throw new MedRecon.Core.IO.InvalidInputFileException(checkpointPath, $"checkpoint lacks '{key}' (different architecture?)");
                    if (!t.shape.SequenceEqual(into.shape))
                        throw new MedRecon.Core.IO.InvalidInputFileException(checkpointPath, $"'{key}' has shape [{string.Join(",", t.shape)}], the network needs [{string.Join(",", into.shape)}]");
                    into.copy_(t);
                }
                foreach (var (name, p) in trainer.Model.named_parameters()) Load("model/" + name, p);
                foreach (var (name, p) in trainer.Ema.named_parameters()) Load("ema/" + name, p);
                for (int i = 0; i < trainer.adam.Count; i++)
                {
                    Load("adam_m/" + names[i], trainer.adam[i].M);
                    Load("adam_v/" + names[i], trainer.adam[i].V);
                }
            }
        }
        finally
        {
            foreach (var t in tensors.Values) t.Dispose();
        }
        trainer.Step = state.Step;
        trainer.wallBefore = state.WallSeconds;
        trainer.Losses.AddRange(state.Losses);
        return trainer;
    }

    string DescribeData()
    {
        var parts = data.Volumes.Select(v =>
            $"{v.Source}: {v.Slices.shape[0]} slices of {v.Slices.shape[1]}x{v.Slices.shape[2]}, held out [{string.Join(",", v.HeldOut)}]").ToList();
        if (data.Synthetic != null) parts.Add($"synthetic '{data.SyntheticName}' pool {data.SyntheticPool}, fraction {data.SyntheticFraction:F2}");
        return string.Join("; ", parts);
    }

    public void Dispose()
    {
        foreach (var (_, m, v) in adam) { m.Dispose(); v.Dispose(); }
        Model.Dispose();
        Ema.Dispose();
    }
}
