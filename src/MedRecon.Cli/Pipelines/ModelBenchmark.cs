using System.Diagnostics;
using System.Globalization;
using System.Text;
using MedRecon.Model;
using MedRecon.Model.Training;
using MedRecon.Operators.Ct;
using MedRecon.Operators.Mri;
using MedRecon.Phantoms;
using MedRecon.Solvers;
using TorchSharp;
using static TorchSharp.torch;

namespace MedRecon.Cli.Pipelines;

/// <summary>What <see cref="ModelBenchmark"/> measures.</summary>
public sealed record ModelBenchmarkOptions
{
    /// <summary>Weights to time (their architecture; bf16 errors need trained weights). Null: an untrained network of
    /// <see cref="Architecture"/> with all weights random (no zero-initialised layers, so its output is not trivial).</summary>
    public string? ModelPath { get; init; }
    public UNetConfig Architecture { get; init; } = new();
    public int[] Sizes { get; init; } = { 256, 512 };
    public int[] Batches { get; init; } = { 1, 2 };
    public int Repeats { get; init; } = 3;
    public int[] TrainBatches { get; init; } = { 8, 16 };
    public int TrainPatch { get; init; } = 64;
    /// <summary>Timed optimisation steps per (stage, batch), after one warm-up step.</summary>
    public int TrainSteps { get; init; } = 2;
    /// <summary>Image size of the data-consistency timings (and of the forward used in the per-slice table).</summary>
    public int DcSize { get; init; } = 256;
    public int DcCgIterations { get; init; } = 5;
    public int Coils { get; init; } = 8;
    public int CtViews { get; init; } = 60;
    public int[] Steps { get; init; } = { 1, 2, 4, 8 };
    /// <summary>bfloat16 calls estimated (from the last bf16 call's time per pixel) to take longer than this are skipped
    /// and reported as such: on CPUs without bf16 units bf16 is emulated and tens of times slower than float32.</summary>
    public double Bf16BudgetSeconds { get; init; } = 150;
}

/// <summary>
/// <c>medrecon bench --suite model</c>: the consistency model's costs — network forward time (float32 and bfloat16,
/// with the bf16 relative error), training throughput of both stages, process peak memory, and the per-slice cost of
/// an N-step zero-shot reconstruction written as N × forward + N × data consistency, each term measured separately.
/// Reported, not asserted.
/// </summary>
public static class ModelBenchmark
{
    public static string Run(ModelBenchmarkOptions o, TextWriter log)
    {
        var sb = new StringBuilder();
        void Emit(string line = "")
        {
            sb.AppendLine(line);
            log.WriteLine(line);
        }
        string network = o.ModelPath is { } mp ? $"`{Path.GetFileName(mp)}`" : "untrained (random weights)";
        var (probe, probeMeta) = MakeFunction(o, ScalarType.Float32);
        var config = probe.Network.Config;
        Emit("## Consistency model: forward, training throughput, memory, per-slice reconstruction cost");
        Emit();
        Emit(Inv($"Machine: {CpuName()}, {Environment.ProcessorCount} cores, torch threads {torch.get_num_threads()}, TorchSharp CPU; ") +
                 Inv($"load average at start {LoadAverage()}. Network: {network}, UNet widths [{string.Join(",", config.Widths)}], ") +
                 Inv($"{config.ResBlocksPerLevel} res blocks/level, {probe.Network.ParameterCount():N0} parameters{probeMeta}."));
        Emit("Memory column: the process's peak resident set so far (`VmHWM` of /proc/self/status, a high-water mark over the whole run, " +
             "not the cost of the row alone).");
        Emit();

        // --- forward ------------------------------------------------------------------------------------------------
        Emit(Inv($"### Network forward F_θ at σ = 0.5 (no grad; ms per call: mean of {o.Repeats} calls after a warm-up call; a call slower than {SlowCallSeconds} s is timed once, its one-off setup included)"));
        Emit();
        Emit("Timed: the network F_θ(c_in x, c_noise); the preconditioning f = c_skip x + c_out F_θ around it is a few element-wise float32 operations (not timed). " +
             "bf16: the network cast to bfloat16 (`Module.to(ScalarType.BFloat16)`, input in bfloat16, no autocast); relative L2 error ‖out_bf16 − out_fp32‖/‖out_fp32‖ " +
             "on the same noisy phantom, of F_θ and of f (preconditioning in float32; f is what a sampler uses, and c_skip x dilutes the error).");
        Emit();
        Emit("| size | dtype | batch | calls | ms per call | ms per image | bf16 rel. error F_θ | bf16 rel. error f | peak RSS (MiB) |");
        Emit("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        var forwardMs = new Dictionary<(int Size, string Dtype, int Batch), double>();
        using (torch.no_grad())
        {
            var (bf, _) = MakeFunction(o, ScalarType.BFloat16);
            using (bf)
            {
                const double sigma = 0.5;
                var (skip, cout, cin, cnoise) = probe.Coefficients(sigma);
                double? bf16MsPerPixel = null;
                foreach (int size in o.Sizes)
                {
                    using var scope = NewDisposeScope();
                    var clean = Phantom(size);
                    var gen = new torch.Generator(7);
                    foreach (int batch in o.Batches)
                    {
                        var x = (clean.expand(batch, 1, size, size) + torch.randn(new long[] { batch, 1, size, size }, generator: gen) * sigma).contiguous();
                        var cn = torch.full(new long[] { batch }, cnoise, dtype: ScalarType.Float32);
                        var xin = x * cin;
                        var (ms32, calls32, net32) = Time(() => probe.Network.forward(xin, cn), o.Repeats);
                        forwardMs[(size, "float32", batch)] = ms32;
                        Emit(Inv($"| {size}² | float32 | {batch} | {calls32} | {ms32:F0} | {ms32 / batch:F0} | | | {PeakRssMiB():F0} |"));
                        double pixels = (double)batch * size * size;
                        if (bf16MsPerPixel is { } mpp && mpp * pixels / 1000 > o.Bf16BudgetSeconds)
                        {
                            Emit(Inv($"| {size}² | bfloat16 | {batch} | 0 | skipped: ≈ {mpp * pixels / 1000:F0} s estimated from the last bf16 call | | | | |"));
                            continue;
                        }
                        var xb = xin.to(ScalarType.BFloat16);
                        var (ms16, calls16, net16) = Time(() => bf.Network.forward(xb, cn), o.Repeats);
                        bf16MsPerPixel = ms16 / pixels;
                        forwardMs[(size, "bfloat16", batch)] = ms16;
                        var n16 = net16.to(ScalarType.Float32);
                        double errNet = RelativeError(net32, n16);
                        double errF = RelativeError(x * skip + net32 * cout, x * skip + n16 * cout);
                        Emit(Inv($"| {size}² | bfloat16 | {batch} | {calls16} | {ms16:F0} | {ms16 / batch:F0} | {errNet:0.0e+0} | {errF:0.0e+0} | {PeakRssMiB():F0} |"));
                    }
                }
            }
        }
        Emit();

        // --- training throughput ------------------------------------------------------------------------------------
        Emit(Inv($"### Training throughput ({o.TrainPatch}² patches; {o.TrainSteps} timed steps after 1 warm-up; includes batch assembly, Adam and EMA)"));
        Emit();
        Emit("| stage | batch | s per step | steps/s | patches/s | peak RSS (MiB) |");
        Emit("| --- | ---: | ---: | ---: | ---: | ---: |");
        var data = BenchData(Math.Max(o.TrainPatch, 128));
        foreach (var stage in new[] { "denoiser", "consistency" })
        {
            foreach (int batch in o.TrainBatches)
            {
                var options = new TrainerOptions
                {
                    Architecture = config, Noise = probe.Noise, Modality = "mr", BatchSize = batch, Patch = o.TrainPatch,
                    TotalSteps = 1_000_000, DenoiserFraction = stage == "denoiser" ? 1.0 : 0.0, Seed = 3,
                };
                using var trainer = new Trainer(options, data);
                trainer.TrainStep(); // warm-up
                var clock = Stopwatch.StartNew();
                for (int i = 0; i < o.TrainSteps; i++) trainer.TrainStep();
                double perStep = clock.Elapsed.TotalSeconds / o.TrainSteps;
                Emit(Inv($"| {stage} | {batch} | {perStep:F2} | {1 / perStep:F3} | {batch / perStep:F1} | {PeakRssMiB():F0} |"));
            }
        }
        Emit();

        // --- data consistency and per-slice cost ---------------------------------------------------------------------
        int n = o.DcSize;
        Emit(Inv($"### Data consistency, one step at {n}² (ms)"));
        Emit();
        var dc = DataConsistencyMs(o, log);
        Emit("| data-consistency step | ms |");
        Emit("| --- | ---: |");
        foreach (var (name, ms) in dc) Emit(Inv($"| {name} | {ms:F1} |"));
        Emit();
        if (!forwardMs.TryGetValue((n, "float32", 1), out double fwd))
        {
            using var scope = NewDisposeScope();
            using var noGrad = torch.no_grad();
            var x = Phantom(n);
            fwd = TimeMs(() => { using var s = NewDisposeScope(); probe.Forward(x, 0.5); }, o.Repeats);
        }
        Emit(Inv($"### Per-slice cost of an N-step reconstruction at {n}² = N × forward + N × DC (seconds; forward = float32, batch 1, {fwd:F0} ms)"));
        Emit();
        Emit("| N | N × forward | + N × MRI single-coil DC | + N × SENSE CG-DC | + N × CT CG-DC |");
        Emit("| ---: | ---: | ---: | ---: | ---: |");
        foreach (int steps in o.Steps)
        {
            double f = steps * fwd / 1000;
            Emit(Inv($"| {steps} | {f:F2} | {f + steps * dc[0].Ms / 1000:F2} | {f + steps * dc[1].Ms / 1000:F2} | {f + steps * dc[2].Ms / 1000:F2} |"));
        }
        Emit();
        Emit(Inv($"Load average at end {LoadAverage()}; process peak RSS (VmHWM) {PeakRssMiB():F0} MiB."));
        probe.Dispose();
        return sb.ToString();
    }

    /// <summary>The three data-consistency steps, each timed on its own (ms per step).</summary>
    static List<(string Name, double Ms)> DataConsistencyMs(ModelBenchmarkOptions o, TextWriter log)
    {
        int n = o.DcSize, it = o.DcCgIterations;
        var result = new List<(string, double)>();
        using var scope = NewDisposeScope();
        var phantom = EllipsePhantom.SheppLogan();
        var truth = phantom.Rasterize(n).to(ScalarType.Float32);
        var guess = (truth + torch.randn(truth.shape, generator: new torch.Generator(5)) * 0.05).contiguous();

        // Single-coil Cartesian MRI, 4x random 1-D mask: exact replacement x ← x + Aᴴ(y − A x) = F⁻¹(M y + (1 − M) F x).
        var mask = SamplingMasks.Create(MaskKind.Random, n, n, 4, 0.08, 1).Mask;
        using (var single = SenseOperator.SingleCoil(mask))
        {
            var y = single.Forward(truth);
            var xc = guess.to(ScalarType.ComplexFloat32);
            double ms = TimeMs(() => { using var s = NewDisposeScope(); _ = xc + single.Adjoint(y - single.Forward(xc)); }, o.Repeats * 3);
            result.Add(("MRI single-coil masked FFT, replacement x + Aᴴ(y − Ax) (4x random mask)", ms));
        }

        // SENSE: CG on (AᴴA + μI) x = Aᴴy + μ x̂ from x̂ (proximal data consistency), a fixed number of iterations.
        var m = MriPipeline.SimulatePhantom(phantom, n, new MriSimulationOptions(MaskKind.Random, 4, 0.08, o.Coils, 0, 1));
        using (var sense = new SenseOperator(m.Maps!, m.Mask.Mask))
        {
            var xc = guess.to(ScalarType.ComplexFloat32);
            double ms = TimeMs(() => { using var s = NewDisposeScope(); CgDc(sense.Normal, sense.Adjoint(m.KSpace), xc, 1.0, it); }, o.Repeats);
            result.Add((Inv($"MRI {o.Coils}-coil SENSE CG-DC, {it} CG iterations (4x random mask)"), ms));
        }

        // CT: parallel beam, the same CG-DC on the projector's normal equations.
        using (var ct = new ParallelBeamProjector(n, CtAngles.Uniform(o.CtViews)))
        {
            var y = ct.Forward(truth);
            var aty = ct.Adjoint(y);
            double ms = TimeMs(() => { using var s = NewDisposeScope(); CgDc(ct.Normal, aty, guess, 1.0, it); }, o.Repeats);
            result.Add((Inv($"CT parallel beam {o.CtViews} views CG-DC, {it} CG iterations"), ms));
        }
        log.Flush();
        return result;
    }

    /// <summary>argmin_x ‖Ax − y‖² + μ‖x − x̂‖² by <paramref name="iterations"/> CG iterations started at x̂ (tolerance 0: all iterations run).</summary>
    static Tensor CgDc(Func<Tensor, Tensor> normal, Tensor aty, Tensor xhat, double mu, int iterations)
    {
        using var scope = NewDisposeScope();
        var rhs = aty + xhat * mu;
        var x = ConjugateGradient.Solve(v => normal(v) + v * mu, rhs, xhat, iterations, tolerance: 0);
        return x.MoveToOuterDisposeScope();
    }

    static (ConsistencyFunction F, string Meta) MakeFunction(ModelBenchmarkOptions o, ScalarType dtype)
    {
        ConsistencyFunction f;
        string meta = "";
        if (o.ModelPath is { } path)
        {
            var (loaded, md) = ModelIO.Load(path);
            f = loaded;
            meta = $" ({md.Modality}, {md.Stage} stage, step {md.Steps})";
        }
        else
        {
            var net = new UNet(o.Architecture, new torch.Generator(11));
            using (torch.no_grad())
            {
                var gen = new torch.Generator(12);
                foreach (var p in net.parameters()) p.add_(torch.randn(p.shape, generator: gen) * 0.02);
            }
            f = new ConsistencyFunction(net);
        }
        f.Network.eval();
        if (dtype != ScalarType.Float32) f.Network.to(dtype);
        return (f, meta);
    }

    /// <summary>A normalised phantom [1, 1, size, size] in network units (≈ [−1, 1]).</summary>
    static Tensor Phantom(int size)
    {
        using var scope = NewDisposeScope();
        var img = EllipsePhantom.SheppLogan().Rasterize(size).to(ScalarType.Float32);
        var x = img / img.max() * 2.0 - 1.0;
        return x.reshape(1, 1, size, size).MoveToOuterDisposeScope();
    }

    /// <summary>Four random-ellipse phantoms as one volume (nothing held out): cheap, no files needed.</summary>
    static TrainingData BenchData(int size)
    {
        using var scope = NewDisposeScope();
        var slices = torch.stack(Enumerable.Range(0, 4).Select(i =>
        {
            var img = EllipsePhantom.Random(100 + i).Rasterize(size).to(ScalarType.Float32).clamp_min(0);
            return img / img.max().clamp_min(1e-6) * 2.0 - 1.0;
        }).ToArray());
        var volume = new TrainingVolume("bench:ellipses", slices.DetachFromDisposeScope(), Array.Empty<int>(), "per image, max -> 1");
        return new TrainingData(new[] { volume });
    }

    static double RelativeError(Tensor reference, Tensor test)
    {
        using var scope = NewDisposeScope();
        var r = reference.to(ScalarType.Float64);
        return (test.to(ScalarType.Float64) - r).norm().item<double>() / Math.Max(1e-30, r.norm().item<double>());
    }

    /// <summary>Calls slower than this are timed once (no warm-up, no repeats): setup is then a small share of the call.</summary>
    const double SlowCallSeconds = 5;

    /// <summary>Times <paramref name="call"/>: one warm-up call, then the mean of <paramref name="repeats"/> calls; a first
    /// call slower than <see cref="SlowCallSeconds"/> is the measurement. Returns the last output (for error checks).</summary>
    static (double Ms, int Calls, Tensor Output) Time(Func<Tensor> call, int repeats)
    {
        var clock = Stopwatch.StartNew();
        var output = call();
        double first = clock.Elapsed.TotalMilliseconds;
        if (first > SlowCallSeconds * 1000) return (first, 1, output);
        clock.Restart();
        for (int i = 0; i < repeats; i++)
        {
            output.Dispose();
            output = call();
        }
        return (clock.Elapsed.TotalMilliseconds / Math.Max(1, repeats), repeats, output);
    }

    static double TimeMs(Action a, int repeats)
    {
        a(); // warm-up
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < repeats; i++) a();
        return clock.Elapsed.TotalMilliseconds / Math.Max(1, repeats);
    }

    /// <summary>Peak resident set size of this process (VmHWM from /proc/self/status; elsewhere the peak working set).</summary>
    public static double PeakRssMiB()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
                if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                    return double.Parse(line[6..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) / 1024.0;
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return Process.GetCurrentProcess().PeakWorkingSet64 / (1024.0 * 1024);
    }

    static string LoadAverage()
    {
        try { return string.Join(" ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3)); }
        catch (IOException) { return "n/a"; }
    }

    static string CpuName()
    {
        try
        {
            var line = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal));
            if (line != null) return line[(line.IndexOf(':') + 1)..].Trim();
        }
        catch (IOException) { }
        return System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture.ToString();
    }

    static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
