using System.CommandLine;
using System.Diagnostics;
using MedRecon.Cli.Pipelines;
using MedRecon.Core;
using MedRecon.Core.IO;
using MedRecon.Solvers.ZeroShot;
using static TorchSharp.torch;

namespace MedRecon.Cli.Commands;

public static class ReconCommand
{
    public static Command Create(params Command[] more)
    {
        var cmd = new Command("recon", "Reconstruct an image from measurements (k-space, sinograms).");
        cmd.Subcommands.Add(CreateMri());
        foreach (var c in more) cmd.Subcommands.Add(c);
        return cmd;
    }

    static Command CreateMri()
    {
        var kspace = new Option<string>("--kspace") { Description = "k-space FILE.npy, complex64 (coils, ky, kx), (ky, kx), or a stack (slices, coils, ky, kx) reconstructed slice by slice; unsampled entries 0.", Required = true };
        var mask = new Option<string?>("--mask")
        {
            Description = "Sampling mask FILE.npy (ky, kx), 1 = sampled. Default: the samples the k-space holds (non-zero in any coil or " +
                          "slice), as prospectively undersampled data store zeros where nothing was measured.",
        };
        var maps = new Option<string?>("--maps") { Description = "Coil maps FILE.npy (coils, ky, kx); estimated from the k-space centre when omitted and coils > 1." };
        var method = new Option<string>("--method") { Description = "zf (zero-filled), cg (CG-SENSE), tv (total variation, PDHG), wavelet (ℓ1, FISTA), cm (consistency-model prior, zero-shot), diffusion (the same prior as a diffusion baseline).", DefaultValueFactory = _ => "tv" };
        method.AcceptOnlyFromAmong("zf", "cg", "tv", "wavelet", "cm", "diffusion");
        var zsOptions = new ZeroShotCliOptions();
        var lambda = new Option<double?>("--lambda") { Description = "Regularisation weight (tv, wavelet: relative to max|Aᴴy|, defaults 0.004 and 0.002; cg: Tikhonov, default 0)." };
        var iters = new Option<int?>("--iters") { Description = "Iterations. Default per method (cg 30, tv 300, wavelet 100)." };
        var reference = new Option<string?>("--ref") { Description = "Optional ground truth FILE.npy: print PSNR/SSIM/NMSE of the result." };
        var like = new Option<string?>("--like") { Description = "DICOM file or folder whose slices give geometry, patient and study for a derived series (default: the source recorded in simulation.json next to --kspace)." };
        var series = new Option<string?>("--series") { Description = "With --like: SeriesInstanceUID or 1-based index when the source has several series." };
        var slice = new Option<string?>("--slice") { Description = "With --like and no simulation.json: 0-based source slice index or 'all' (default: all slices when the counts match)." };
        var stackOpt = new Option<bool>("--stack") { Description = "Treat a 4-D k-space as a slice stack (slices, coils, ky, kx) (implied by the simulation.json of `simulate mri --slice all`)." };
        var output = new Option<string>("--out") { Description = "Output FILE.npy (complex64 image), FILE.png (magnitude), or a new folder DIR: a derived DICOM series (needs a DICOM source).", Required = true };
        var cmd = new Command("mri", "Cartesian MRI reconstruction (single coil or SENSE): classical (zf, cg, tv, wavelet) or zero-shot with the learned prior (cm, diffusion).")
        {
            kspace, mask, maps, method, lambda, iters, reference, like, series, slice, stackOpt, output,
        };
        PacsDestination.AddOptions(cmd); // --host/--stow: push the derived series after writing it
        zsOptions.AddTo(cmd);
        cmd.SetAction(p => CliSupport.Run(() =>
        {
            string outPath = p.GetValue(output)!;
            string kPath = p.GetValue(kspace)!;
            string? maskFile = p.GetValue(mask);
            string mPath = maskFile ?? $"the mask from {kPath}'s samples";
            string ext = Path.GetExtension(outPath).ToLowerInvariant();
            bool dicomOut = ext.Length == 0 || Directory.Exists(outPath);
            if (!dicomOut && ext is not (".npy" or ".png"))
                throw new CliException($"{outPath}: unknown output format '{ext}' (use .npy, .png, or a folder for a derived DICOM series)");
            if (!dicomOut && (p.GetValue(like) is not null || p.GetValue(series) is not null || p.GetValue(slice) is not null))
                throw new CliException($"--like/--series/--slice need a DICOM output folder, but --out {outPath} is a file");
            var pacs = PacsDestination.TryParse(p);
            if (pacs is not null && !dicomOut) throw new CliException($"--host/--stow push a DICOM series: --out {outPath} must be a folder");
            using var scope = NewDisposeScope();
            // Resolve the DICOM target before the (possibly long) reconstruction, so bad options fail fast.
            var simulation = SimulationInfo.Find(kPath);
            DicomTarget? target = dicomOut ? DicomTarget.Resolve(outPath, p.GetValue(like), p.GetValue(series), p.GetValue(slice), simulation) : null;
            string? mapsPath = p.GetValue(maps);
            var k = CliSupport.ReadNpy(kPath, "k-space", new[] { 2, 3, 4 });
            var m = maskFile is null ? MaskFromSamples(k) : CliSupport.ReadNpy(mPath, "mask", new[] { 2 });
            var s = mapsPath is null ? null : CliSupport.ReadNpy(mapsPath, "coil maps", new[] { 3 });
            bool stacked = k.dim() == 4;
            if (stacked && !p.GetValue(stackOpt) && simulation?.Stacked != true)
                throw new CliException($"{kPath}: k-space has shape {Core.Tensors.ShapeString(k.shape)}; expected 2-D or 3-D " +
                                       "(a 4-D (slices, coils, ky, kx) stack needs --stack or the simulation.json of `simulate mri --slice all`)");
            if (stacked && k.shape[0] == 0) throw new CliException($"{kPath}: empty slice stack");
            MriPipeline.ValidateInputs(stacked ? k[0] : k, m, s, kPath, mPath, mapsPath ?? "maps");
            int nSlices = stacked ? (int)k.shape[0] : 1;
            Tensor? gt = p.GetValue(reference) is { } r ? CliSupport.ReadNpy(r, "reference", stacked ? new[] { 3 } : new[] { 2 }) : null;
            if (gt is not null && stacked && gt.shape[0] != nSlices)
                throw new CliException($"{p.GetValue(reference)}: reference has {gt.shape[0]} slices, k-space {nSlices}");
            target?.CheckSlices(nSlices, stacked);
            var methodValue = Enum.Parse<MriMethod>(p.GetValue(method)!, ignoreCase: true);
            string label = methodValue.ToString().ToLowerInvariant();
            bool zeroShot = MriPipeline.IsZeroShot(methodValue);
            var zs = zsOptions.Read(p, label, "mr");
            ZeroShotCliOptions.RefuseClassicalOptions(p, label, lambda, iters);
            // Acquired k-space is noisy, and keeping noisy samples exactly amplifies the noise (with coils badly; 8 coils,
            // noise 20: 19 dB exact vs 31 dB noise-aware): without a choice, the noise simulation.json says was added, else
            // estimated (ZeroShotDefaults.MriEstimatesNoise).
            string? noiseNote = null; // said once the input has passed every check
            if (zs is { } z && z.Options is { NoiseSigma: null, EstimateNoise: false, ConsistencyWeight: null, Lambda: null })
            {
                bool estimate = ZeroShotDefaults.MriEstimatesNoise(simulation?.Noise, coils: stacked ? k.shape[1] : k.dim() == 3 ? k.shape[0] : 1);
                zs = (estimate ? z.Options with { EstimateNoise = true, NoiseFreeData = simulation?.Noise is 0 } : z.Options with { NoiseSigma = simulation!.Noise }, z.Model);
                noiseNote = !estimate
                    ? string.Create(System.Globalization.CultureInfo.InvariantCulture, $"data consistency: k-space noise σ {simulation!.Noise:G4} from simulation.json{(simulation.Noise == 0 ? " (exact)" : "")}")
                    : "data consistency: k-space noise σ estimated from the measured outer k-space" +
                      (simulation?.Noise is 0 ? " (simulation.json adds none, but samples still differ from the pixel grid's DFT;" : " (") +
                      " --noise-sigma 0 keeps the samples exactly)";
            }
            // The estimate needs measured samples in the outer k-space: checked now, not after the TV start.
            if (zs is { } ze && ze.Options.EstimateNoise)
            {
                var first = stacked ? k[0] : k;
                try { Operators.Mri.KSpaceNoise.Estimate(first * m, m); }
                catch (ArgumentException e) when (noiseNote is not null)
                {
                    zs = (ze.Options with { EstimateNoise = false, NoiseFreeData = false }, ze.Model);
                    noiseNote = $"data consistency: exact (the k-space noise cannot be estimated: {e.Message})";
                }
                catch (ArgumentException e) { throw new CliException($"--noise-sigma auto: {e.Message}"); }
            }
            string? stdPath = zs is not null && zs.Value.Options.Samples > 1 ? ZeroShotCliOptions.StdPath(outPath, dicomOut) : null;
            ZeroShotCliOptions.WarnIfStaleStd(outPath, dicomOut, stdPath);
            if (stdPath is not null && dicomOut) DicomImages.CheckOutputFolder(stdPath);
            if (!dicomOut)
                foreach (var path in new[] { outPath, stdPath }.OfType<string>()) CliSupport.CheckOutputFile(path);
            using var prior = zs is null ? null : Priors.Load("mr", zs.Value.Model);
            if (maskFile is null && !ConsoleProgress.Quiet)
            {
                double fraction = m.mean().item<float>();
                Console.Error.WriteLine(string.Create(System.Globalization.CultureInfo.InvariantCulture,
                    $"mask: the k-space's non-zero samples, {100 * fraction:F1} % sampled (R {1 / Math.Max(fraction, 1e-12):F2}){(fraction == 1 ? "; every sample is non-zero, so the data are taken as fully sampled: give --mask if they are not" : "")}"));
            }
            if (noiseNote is not null && !ConsoleProgress.Quiet) Console.Error.WriteLine(noiseNote);
            var clock = Stopwatch.StartNew();
            int exit = 0;
            Tensor x;
            Tensor? std = null;
            var parts = new List<Tensor>();
            var stds = new List<Tensor>();
            ZeroShotSettings? used = null;
            for (int i = 0; i < nSlices; i++)
            {
                var ki = stacked ? k[i] : k;
                var progress = new ConsoleProgress(stacked ? $"{label} slice {i + 1}/{nSlices}" : label);
                if (zeroShot)
                {
                    var zr = CliSupport.RetryNativeOnce(() => MriPipeline.ReconstructZeroShot(ki, m, s, zs!.Value.Options, prior!.Function, progress), label);
                    parts.Add(zr.Mean);
                    used = zr.Settings;
                    if (zr.StandardDeviation is not null) stds.Add(zr.StandardDeviation);
                    if (zs!.Value.Options.EstimateNoise && !ConsoleProgress.Quiet)
                        Console.Error.WriteLine(string.Create(System.Globalization.CultureInfo.InvariantCulture,
                            $"{label}{(stacked ? $" slice {i + 1}" : "")}: k-space noise σ estimated from the outer k-space: {zr.NoiseSigma ?? 0:G4}"));
                }
                else parts.Add(MriPipeline.Reconstruct(ki, m, s, methodValue, p.GetValue(lambda), p.GetValue(iters), progress));
                if (stacked && !ConsoleProgress.Quiet) Console.Error.WriteLine($"{label}: slice {i + 1}/{nSlices} done, {clock.Elapsed.TotalSeconds:F1} s");
            }
            x = stacked ? stack(parts) : parts[0];
            if (stds.Count > 0) std = stacked ? stack(stds) : stds[0];
            clock.Stop();
            if (zs is not null)
            {
                label += $" {zs.Value.Options.Nfe} NFE" + (zs.Value.Options.Samples > 1 ? $" x {zs.Value.Options.Samples} samples" : "");
                Console.Error.WriteLine($"model {prior!.Path} ({prior.Metadata.Stage}, step {prior.Metadata.Steps}, sha256 {prior.Sha256[..16]})");
                if (used is not null && !ConsoleProgress.Quiet) Console.Error.WriteLine($"settings used: {ZeroShotCliOptions.SettingsText(used, mri: true)}");
            }
            if (target is not null)
            {
                string derivation = DerivationText(label, p.GetValue(lambda), p.GetValue(iters), k, s, simulation, zs?.Options, prior?.Sha256, used);
                int count = 0;
                // The mean and the standard-deviation series appear together or not at all.
                CliSupport.WriteWithStandardDeviation(outPath, tmp => count = target.Write(x, derivation, tmp).Count,
                    stdPath, std is null ? null : tmp => target.Write(std, derivation + "; per-pixel standard deviation over the samples", tmp, standardDeviation: true));
                Console.WriteLine($"wrote {outPath}: derived {target.Series.Modality} series, {count} slice(s) ({label}, {clock.Elapsed.TotalSeconds:F2} s)");
                if (std is not null) Console.WriteLine($"wrote {stdPath}: standard-deviation series");
                if (pacs is not null && !pacs.Push(Directory.GetFiles(outPath).Order().ToList(), Console.Out).AllStored) exit = CliSupport.ExitFailure;
            }
            else
            {
                CliSupport.WriteWithStandardDeviation(outPath, tmp => CliSupport.WriteImage(tmp, x), stdPath, std is null ? null : tmp => CliSupport.WriteImage(tmp, std));
                Console.WriteLine($"wrote {outPath} ({label}, {clock.Elapsed.TotalSeconds:F2} s)");
                if (std is not null) Console.WriteLine($"wrote {stdPath} (per-pixel standard deviation)");
            }
            if (gt is not null) CliSupport.PrintReferenceMetrics(gt, x, std);
            return exit;
        }));
        return cmd;
    }

    /// <summary>The sampling mask of prospectively undersampled k-space: 1 where any coil (or slice) holds a non-zero
    /// sample. (ky, kx), float32.</summary>
    static Tensor MaskFromSamples(Tensor k)
    {
        using var scope = NewDisposeScope();
        var sampled = k.abs() > 0;
        while (sampled.dim() > 2) sampled = sampled.any(0);
        return sampled.to(ScalarType.Float32).MoveToOuterDisposeScope();
    }

    /// <summary>DerivationDescription: method and settings, operator, and the simulation when known.</summary>
    static string DerivationText(string method, double? lambda, int? iters, Tensor k, Tensor? maps, SimulationInfo? sim, ZeroShotOptions? zeroShot, string? modelSha256,
        ZeroShotSettings? used)
    {
        var inv = System.Globalization.CultureInfo.InvariantCulture;
        long coils = k.dim() == 4 ? k.shape[1] : k.dim() == 3 ? k.shape[0] : 1;
        bool singleCoil = coils == 1 && maps is null;
        string settings = method.Split(' ')[0] switch
        {
            "cm" or "diffusion" => "zero-shot with the MR prior on the magnitude, phase from the k-space centre: " +
                                   ZeroShotCliOptions.Describe(zeroShot!, used!, mri: true, modelSha256!, conjugateGradient: !singleCoil),
            "zf" => "zero-filled adjoint",
            "cg" => string.Format(inv, "CG-SENSE, {0} iterations, Tikhonov {1}", iters ?? 30, lambda ?? 0.0),
            "tv" => string.Format(inv, "TV (PDHG), lambda {0} x max|A^H y|, {1} iterations", lambda ?? Solvers.TotalVariationOptions.DefaultLambda, iters ?? Solvers.TotalVariationOptions.DefaultIterations),
            _ => string.Format(inv, "wavelet l1 (FISTA), lambda {0} x max|A^H y|, {1} iterations", lambda ?? Solvers.WaveletL1Options.DefaultLambda, iters ?? Solvers.WaveletL1Options.DefaultIterations),
        };
        string op = singleCoil ? "single-coil Cartesian FFT with sampling mask"
            : $"SENSE, {coils} coils, {(maps is null ? "maps estimated from the k-space centre" : "given maps")}";
        string text = $"MedRecon recon mri: {settings}; operator: {op}; magnitude image";
        if (sim is not null)
            text += $"; k-space simulated from this series (FFT of the image): {sim.Summary}";
        return text;
    }
}

/// <summary>The zero-shot options shared by `recon mri` and `recon ct`: --model, --nfe, --samples, --seed, --sigma-start.</summary>
sealed class ZeroShotCliOptions
{
    readonly Option<string?> model = new("--model") { Description = "cm/diffusion: prior weights (default: models/{mr,ct}-prior.safetensors by modality; MEDRECON_MODELS overrides the folder)." };
    readonly Option<int?> nfe = new("--nfe") { Description = $"cm/diffusion: network evaluations per sample (cm default 4, diffusion default {ZeroShotDefaults.DiffusionNfe})." };
    readonly Option<int> samples = new("--samples") { Description = "cm/diffusion: K samples with seeds S..S+K-1; output the mean, and the per-pixel standard deviation as FILE.std.npy/.png or a second series DIR-std.", DefaultValueFactory = _ => 1 };
    readonly Option<ulong> seed = new("--seed") { Description = "cm/diffusion: seed of the first sample.", DefaultValueFactory = _ => 0UL };
    readonly Option<double?> sigmaStart = new("--sigma-start") { Description = "cm/diffusion: starting noise level σ_0 (default per task)." };
    public static Option<string?> StartOption() => new("--start")
    {
        Description = "cm/diffusion: the estimate the loop starts from: tv (the TV reconstruction first; the cm default, " +
                      "+1.6 dB at MRI 4x, +0.4 to +2.5 dB for CT, costs the TV time) or the direct estimate, zf (MRI, zero-filled) / fbp (CT) " +
                      "(cheaper; the diffusion default). docs/zero-shot.md",
    };
    readonly Option<string?> start = StartOption();
    public static Option<int?> StartIterationsOption() => new("--start-iterations")
    {
        Description = "cm/diffusion with --start tv (the cm default): PDHG iterations of the TV start (default 300; fewer are faster). docs/zero-shot.md",
    };
    readonly Option<int?> startIterations = StartIterationsOption();
    public static Option<double?> SigmaInflationOption() => new("--sigma-inflation")
    {
        Description = "cm: the network is told c·σ for the noise level σ added (c ≥ 1), since the re-noised estimate still carries " +
                      "the error the last data-consistency step left (default: MRI 1.25, CT 1). docs/zero-shot.md",
    };
    readonly Option<double?> sigmaInflation = SigmaInflationOption();
    readonly ZeroShotLoopOptions schedule = new();

    public void AddTo(Command cmd)
    {
        foreach (var o in new Option[] { model, nfe, samples, seed, sigmaStart, start, startIterations, sigmaInflation }) cmd.Options.Add(o);
        schedule.AddTo(cmd);
    }

    /// <summary>Null for a classical method (and then the zero-shot options must be absent).</summary>
    public (ZeroShotOptions Options, string? Model)? Read(ParseResult p, string method, string modality)
    {
        var o = Build(method, p.GetValue(nfe), p.GetValue(samples), p.GetValue(seed), p.GetValue(sigmaStart), p.GetValue(model), p.GetValue(start), modality,
            p.GetValue(startIterations), p.GetValue(sigmaInflation), schedule.Read(p));
        return o is null ? null : (o, p.GetValue(model));
    }

    /// <summary>--photons as given (CT: it weighs the classical TV too): I0, or "flat" (to be estimated from the flat
    /// fields of DataExchange projections).</summary>
    public (double? Photons, bool FromFlatFields) Dose(ParseResult p) => schedule.Dose(p);

    /// <summary>Refuses the classical solvers' options with a zero-shot method, where they would be ignored.</summary>
    public static void RefuseClassicalOptions(ParseResult p, string method, params Option[] classical)
    {
        if (method is not ("cm" or "diffusion")) return;
        var given = classical.Where(o => p.GetResult(o) is { Implicit: false }).Select(o => o.Name).ToList();
        if (given.Count > 0)
            throw new CliException($"{string.Join("/", given)} set the classical solvers, not --method {method} (its data-consistency weight is " +
                                   "--consistency-weight, its TV start's iterations and λ --start-iterations and --start-lambda)");
    }

    /// <summary>
    /// The zero-shot options of <paramref name="method"/> after checking their ranges (shared by `recon` and `run`);
    /// null for a classical method, which must then come without any of them. <paramref name="modality"/> ("mr" or
    /// "ct") names the direct start: zf for MRI, fbp for CT.
    /// </summary>
    public static ZeroShotOptions? Build(string method, int? nfe, int samples, ulong seed, double? sigmaStart, string? model, string? start, string modality,
        int? startIterations = null, double? sigmaInflation = null, ZeroShotLoopSettings? schedule = null)
    {
        bool zeroShot = method is "cm" or "diffusion";
        schedule ??= new ZeroShotLoopSettings();
        if (!zeroShot)
        {
            // The dose also weighs CT TV's data term (penalised weighted least squares); nothing else applies to a classical method.
            bool weightedTv = method == "tv" && modality == "ct";
            if (model is not null || nfe is not null || samples != 1 || sigmaStart is not null || start is not null || startIterations is not null || sigmaInflation is not null
                || !(weightedTv ? schedule with { Photons = null, PhotonsFromFlatFields = false } : schedule).IsEmpty)
                throw new CliException($"--model/--nfe/--samples/--sigma-start/--start/--start-iterations/--sigma-inflation/{ZeroShotLoopOptions.Names} apply to --method cm or diffusion" +
                                       $"{(modality == "ct" ? " (--photons also to tv)" : "")}, not {method}");
            ZeroShotLoopSettings.CheckPhotons(schedule.Photons);
            return null;
        }
        schedule.Check(sigmaStart);
        if (schedule.EstimateNoise && modality != "mr")
            throw new CliException("--noise-sigma auto estimates the noise from the outer k-space (MRI); for CT give the sinogram's σ as a number, or --photons");
        if (schedule.NoiseSigma is > 0 && (schedule.Photons is > 0 || schedule.PhotonsFromFlatFields))
            throw new CliException("--noise-sigma (Gaussian sinogram noise) and --photons (Poisson): give one noise model");
        if ((schedule.Photons is not null || schedule.PhotonsFromFlatFields) && modality != "ct")
            throw new CliException("--photons (the CT dose) applies to CT; MRI takes --noise-sigma");
        if (schedule.Phase is not null && modality != "mr")
            throw new CliException("--phase applies to MRI (the CT image is real)");
        if (sigmaInflation is double c)
        {
            if (method != "cm") throw new CliException("--sigma-inflation applies to --method cm (the diffusion baseline's Euler steps use the schedule's σ)");
            if (!(c >= 1 && c <= MedRecon.Model.Sampler.MaxNetworkSigmaScale)) throw new CliException($"--sigma-inflation {c}: must be in [1, {MedRecon.Model.Sampler.MaxNetworkSigmaScale}]");
        }
        ZeroShotStart? startFrom = start?.Trim().ToLowerInvariant() switch
        {
            null => null,
            "tv" => ZeroShotStart.TotalVariation,
            "zf" when modality == "mr" => ZeroShotStart.Direct,
            "fbp" when modality == "ct" => ZeroShotStart.Direct,
            _ => throw new CliException(modality == "mr" ? $"--start {start}: MRI starts from zf or tv" : $"--start {start}: CT starts from fbp or tv"),
        };
        if (nfe is < 1 or > 2000) throw new CliException($"--nfe {nfe}: must be between 1 and 2000");
        if (samples < 1 || samples > 100) throw new CliException($"--samples {samples}: must be between 1 and 100");
        // The default noise range; a model with another range is checked again against its own before any work.
        var range = new MedRecon.Model.NoiseParameters();
        if (sigmaStart is double v && !(v > range.SigmaMin && v <= range.SigmaMax))
            throw new CliException($"--sigma-start {v}: must be in ({range.SigmaMin}, {range.SigmaMax}]");
        var m = method == "diffusion" ? ZeroShotMethod.Diffusion : ZeroShotMethod.Consistency;
        var options = new ZeroShotOptions
        {
            Method = m,
            Nfe = nfe ?? (m == ZeroShotMethod.Diffusion ? ZeroShotDefaults.DiffusionNfe : 4),
            Samples = samples,
            Seed = seed,
            SigmaStart = sigmaStart,
            Start = startFrom,
            StartIterations = startIterations,
            SigmaInflation = sigmaInflation,
            SigmaEnd = schedule.SigmaEnd ?? 0,
            Rho = schedule.Rho,
            ConsistencyWeight = schedule.ConsistencyWeight,
            CgIterations = schedule.CgIterations ?? 0,
            NoiseSigma = schedule.NoiseSigma,
            EstimateNoise = schedule.EstimateNoise,
            Photons = schedule.Photons,
            Momentum = schedule.Momentum,
            Phase = schedule.Phase ?? MriPhase.KSpaceCentre,
            TvFinish = schedule.TvFinish,
            StartLambda = schedule.StartLambda,
        };
        if (schedule.Momentum is not null && m == ZeroShotMethod.Diffusion)
            throw new CliException("--momentum applies to --method cm (the diffusion baseline's Euler steps are another loop)");
        if (schedule.SigmaEnd is not null && options.Nfe == 1)
            throw new CliException("--sigma-end: a single network evaluation uses only the starting σ (give --nfe 2 or more)");
        if (startIterations is int it)
        {
            if (it < 1 || it > 10000) throw new CliException($"--start-iterations {it}: must be between 1 and 10000");
            if (ZeroShotDefaults.StartFor(options) != ZeroShotStart.TotalVariation)
                throw new CliException("--start-iterations applies to a TV start (--start tv)");
        }
        if (schedule.StartLambda is not null && ZeroShotDefaults.StartFor(options) != ZeroShotStart.TotalVariation)
            throw new CliException("--start-lambda applies to a TV start (--start tv)");
        return options;
    }

    /// <summary>The zero-shot settings in one line for DICOM Derivation Description and logs (model, start, schedule,
    /// data consistency, seed), so a derived series says how it was made: the loop's values are the run's
    /// (<see cref="ZeroShotResult.Settings"/>), task defaults resolved.</summary>
    public static string Describe(ZeroShotOptions o, ZeroShotSettings used, bool mri, string modelSha256, bool conjugateGradient)
    {
        var inv = System.Globalization.CultureInfo.InvariantCulture;
        string startText = used.Start == ZeroShotStart.TotalVariation
            ? string.Format(inv, "TV start (lambda {0:G3}, {1} iterations)", used.StartLambda, used.StartIterations) : mri ? "zero-filled start" : "FBP start";
        string dc = o.EstimateNoise ? "noise-aware data consistency, noise sigma estimated from the outer k-space"
            : o.NoiseSigma is > 0 ? string.Format(inv, "noise-aware data consistency, noise sigma {0:G3}", o.NoiseSigma)
            : o.Photons is double i0 && i0 > 0 ? "noise-aware data consistency, " + NoiseAwareConsistency.CountWeighting(i0)
            : o.ConsistencyWeight is > 0 ? string.Format(inv, "data-consistency weight {0:G3}", o.ConsistencyWeight) : "exact data consistency";
        string text = string.Format(inv, "{0}, {1} NFE x {2} sample(s), seed {3}, {4}, sigma0 {5:G3}, sigma_end {6:G3}, rho {7:G3}{8}{12}{14}{13}, {9}{10}, model sha256 {11}",
            o.Method == ZeroShotMethod.Consistency ? "consistency model" : "diffusion (Euler)", o.Nfe, o.Samples, o.Seed, startText,
            used.SigmaStart, used.SigmaEnd, used.Rho,
            used.SigmaInflation is double c ? string.Format(inv, ", network sigma x{0:G3}", c) : "",
            dc, conjugateGradient ? $" ({(o.CgIterations > 0 ? o.CgIterations : mri ? ZeroShotDefaults.SenseCgIterations : ZeroShotDefaults.CtCgIterations)} CG steps)" : "", modelSha256.Length > 16 ? modelSha256[..16] : modelSha256,
            used.Momentum is double b ? string.Format(inv, ", momentum {0:G3}", b) : "",
            used.Phase switch
            {
                MriPhase.Constrained => ", prior on the part in phase with the k-space centre",
                MriPhase.KSpaceCentre => ", prior on the magnitude, phase from the k-space centre",
                MriPhase.Estimate => ", prior on the magnitude, phase from the estimate",
                _ => "",
            },
            used.TvFinish is > 0 and double f ? string.Format(inv, ", TV finish lambda {0:G3} ({1} iterations)", f, ZeroShotDefaults.TvFinishIterations) : "");
        return text;
    }

    /// <summary>The resolved loop settings in one line (logs), in the options' names, so a run can be repeated with them.</summary>
    public static string SettingsText(ZeroShotSettings used, bool mri)
    {
        var inv = System.Globalization.CultureInfo.InvariantCulture;
        string start = used.Start switch
        {
            ZeroShotStart.TotalVariation => string.Format(inv, "--start tv --start-iterations {0} --start-lambda {1:G4}", used.StartIterations, used.StartLambda),
            ZeroShotStart.Direct => mri ? "--start zf" : "--start fbp",
            _ => "the given start",
        };
        return string.Format(inv, "{0} --sigma-start {1:G4} --sigma-end {2:G4} --rho {3:G4}{4}{5}{6}{7}", start, used.SigmaStart, used.SigmaEnd, used.Rho,
            used.SigmaInflation is double c ? string.Format(inv, " --sigma-inflation {0:G4}", c) : "",
            used.Momentum is double b ? string.Format(inv, " --momentum {0:G4}", b) : "",
            used.Phase is MriPhase ph ? " --phase " + ZeroShotLoopSettings.PhaseName(ph) : "",
            used.TvFinish is double f ? string.Format(inv, " --tv-finish {0:G4}", f) : "");
    }

    /// <summary>A run that writes no standard deviation (one sample, or a classical method) leaves an earlier run's
    /// FILE.std.* / DIR-std beside its output untouched; say so, since it would read as this result's.</summary>
    public static void WarnIfStaleStd(string outPath, bool folder, string? stdPath)
    {
        if (stdPath is not null || ConsoleProgress.Quiet) return;
        string earlier = StdPath(outPath, folder);
        if (File.Exists(earlier) || Directory.Exists(earlier))
            Console.Error.WriteLine($"note: {earlier} is from an earlier run with --samples > 1 and does not belong to this result (one sample: no standard deviation)");
    }

    /// <summary>Where the standard-deviation map goes: FILE.std.npy / FILE.std.png, or the folder DIR-std.</summary>
    public static string StdPath(string outPath, bool folder)
    {
        if (folder) return Path.TrimEndingDirectorySeparator(Path.GetFullPath(outPath)) + "-std";
        string ext = Path.GetExtension(outPath);
        return Path.ChangeExtension(outPath, null) + ".std" + ext;
    }
}

/// <summary>The zero-shot loop's schedule and data-consistency settings (null: the tuned task default).</summary>
public sealed record ZeroShotLoopSettings(double? SigmaEnd = null, double? Rho = null, double? ConsistencyWeight = null, int? CgIterations = null,
    double? NoiseSigma = null, bool EstimateNoise = false, double? Photons = null, double? Momentum = null, MriPhase? Phase = null,
    bool PhotonsFromFlatFields = false, double? TvFinish = null, double? StartLambda = null)
{
    public bool IsEmpty => SigmaEnd is null && Rho is null && ConsistencyWeight is null && CgIterations is null && NoiseSigma is null && !EstimateNoise
        && Photons is null && Momentum is null && Phase is null && !PhotonsFromFlatFields && TvFinish is null && StartLambda is null;

    /// <summary>--photons: I0 as a number, or "flat" (estimated from the flat fields of DataExchange projections).</summary>
    public static (double? Photons, bool FromFlatFields) ParsePhotons(string? text) =>
        ParseNumberOrWord(text, "flat", "--photons", "a number (incident photons per ray I0) or flat (estimated from DataExchange flat fields)");

    /// <summary>An option that takes a number or one word: (the number, false), (null, true) for the word, (null, false)
    /// when absent; anything else is a one-line error saying what is accepted.</summary>
    static (double? Value, bool Word) ParseNumberOrWord(string? text, string word, string option, string accepted)
    {
        if (text is null) return (null, false);
        if (text.Trim().Equals(word, StringComparison.OrdinalIgnoreCase)) return (null, true);
        if (!double.TryParse(text, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var v))
            throw new CliException($"{option} {text}: {accepted}");
        return (v, false);
    }

    /// <summary>--phase: magnitude (the prior sees |x|, the phase from the k-space centre), constrained (the in-phase part),
    /// or estimate (|x|, the phase of the current estimate).</summary>
    public static MriPhase? ParsePhase(string? text) => text?.Trim().ToLowerInvariant() switch
    {
        null => null,
        "magnitude" => MriPhase.KSpaceCentre,
        "constrained" => MriPhase.Constrained,
        "estimate" => MriPhase.Estimate,
        _ => throw new CliException($"--phase {text}: magnitude, constrained or estimate"),
    };

    /// <summary>The --phase word of a setting (the inverse of <see cref="ParsePhase"/>).</summary>
    public static string PhaseName(MriPhase phase) => phase switch
    {
        MriPhase.KSpaceCentre => "magnitude",
        MriPhase.Constrained => "constrained",
        _ => "estimate",
    };

    /// <summary>--noise-sigma: a number, or "auto" (estimated from the measured outer k-space).</summary>
    public static (double? Sigma, bool Estimate) ParseNoise(string? text) =>
        ParseNumberOrWord(text, "auto", "--noise-sigma", "a number (k-space noise σ) or auto");

    /// <summary>Range checks with one-line messages (before any work).</summary>
    public void Check(double? sigmaStart)
    {
        var range = new MedRecon.Model.NoiseParameters();
        if (SigmaEnd is double e && !(e >= range.SigmaMin && e < (sigmaStart ?? range.SigmaMax)))
            throw new CliException($"--sigma-end {e}: must be at least σ_min {range.SigmaMin} and below the starting σ{(sigmaStart is null ? "" : $" {sigmaStart}")}");
        if (Rho is double r && !(r > 0 && r <= 100)) throw new CliException($"--rho {r}: must be in (0, 100]");
        if (Momentum is double b && !(b >= 0 && b <= MedRecon.Model.Sampler.MaxMomentum))
            throw new CliException($"--momentum {b}: must be in [0, {MedRecon.Model.Sampler.MaxMomentum}] (0: off)");
        if (ConsistencyWeight is double w && !(w >= 0 && w <= 1e6)) throw new CliException($"--consistency-weight {w}: must be in [0, 1e6]");
        if (TvFinish is double f && !(f >= 0 && f <= 1)) throw new CliException($"--tv-finish {f}: must be in [0, 1] (0: off)");
        if (StartLambda is double l && !(l > 0 && l <= 1)) throw new CliException($"--start-lambda {l}: must be in (0, 1]");
        if (CgIterations is int n && (n < 1 || n > 1000)) throw new CliException($"--cg-iterations {n}: must be between 1 and 1000");
        if (NoiseSigma is double s && !(s >= 0 && double.IsFinite(s))) throw new CliException($"--noise-sigma {s}: must be finite and ≥ 0");
        if ((NoiseSigma is > 0 || EstimateNoise) && ConsistencyWeight is not null)
            throw new CliException("--noise-sigma sets the data-consistency weight of each step itself; give it or --consistency-weight, not both");
        CheckPhotons(Photons);
        if ((Photons is > 0 || PhotonsFromFlatFields) && ConsistencyWeight is not null)
            throw new CliException("--photons sets the data-consistency weight of each step itself; give it or --consistency-weight, not both");
    }

    /// <summary>--photons: finite and ≥ 0 (0: no weighting, the sinogram kept exactly).</summary>
    public static void CheckPhotons(double? photons)
    {
        if (photons is double i0 && !(i0 >= 0 && double.IsFinite(i0))) throw new CliException($"--photons {i0}: must be finite and ≥ 0 (0: unweighted)");
    }
}

/// <summary>The command-line options of <see cref="ZeroShotLoopSettings"/>, shared by `recon mri|ct` and `run`.</summary>
sealed class ZeroShotLoopOptions
{
    public const string Names = "--sigma-end/--rho/--momentum/--consistency-weight/--cg-iterations/--noise-sigma/--photons/--phase/--tv-finish/--start-lambda";
    readonly Option<double?> sigmaEnd = new("--sigma-end") { Description = $"cm/diffusion: last noise level of the schedule (default {ZeroShotDefaults.SigmaEnd})." };
    readonly Option<double?> rho = new("--rho") { Description = "cm/diffusion: Karras schedule exponent ρ (default: the model's, 7); smaller spends more steps at high σ." };
    readonly Option<double?> momentum = new("--momentum")
    {
        Description = $"cm: extrapolate each step's data-consistent estimate by β along its change from the previous step, then make it " +
                      $"consistent again (Nesterov-style; more of the way per network evaluation). 0: off. Default: MRI {ZeroShotDefaults.MriLineMomentum} " +
                      $"with 1-D masks, {ZeroShotDefaults.MriPointMomentum} with 2-D, none for coil data weighted by its noise; CT {ZeroShotDefaults.CtMomentum} up to 30 views and over " +
                      $"limited arcs, less up to 60 views, none from 60 or with --photons/--noise-sigma. docs/zero-shot.md",
    };
    readonly Option<double?> weight = new("--consistency-weight")
    {
        Description = "cm/diffusion: a constant data-consistency weight w on ‖x − x̂‖² against ‖Ax − y‖², relative to ‖A‖²: w > 0 keeps " +
                      "part of the network's estimate at measured samples (soft replacement; regularised CG). Default: MRI follows --noise-sigma " +
                      "instead (the default of recon mri: the noise of simulation.json, else estimated; of run: the simulated noise), CT --photons " +
                      "(recon ct: the photons of simulation.json, else exact; run: the simulated photons). docs/zero-shot.md",
    };
    readonly Option<int?> cg = new("--cg-iterations") { Description = $"cm/diffusion, CT and coil data: CG steps per data-consistency step (default {ZeroShotDefaults.CtCgIterations})." };
    readonly Option<string?> noise = new("--noise-sigma")
    {
        Description = "cm/diffusion: standard deviation of the measurement noise, in the data's units — MRI: of the k-space per real and " +
                      "imaginary part, or auto (estimated from the measured outer k-space; for acquired, noisy data — above all with coils); CT: of " +
                      "Gaussian sinogram noise (Poisson noise: --photons). Each data-consistency step then weighs the measurements against the " +
                      "network's estimate by it. 0: exact. Default, MRI (recon mri, run): the noise a simulation added (simulation.json, noise=), " +
                      "else auto — acquired k-space, and noise-free single-coil simulations, whose samples are still not the grid's DFT; " +
                      "noise-free coil simulations exact. CT: the σ simulation.json records (none: exact). docs/zero-shot.md",
    };
    readonly Option<string?> photons = new("--photons")
    {
        Description = "cm/diffusion/tv, CT: incident photons per ray I0 of the post-log sinogram (−ln(N/I0), Poisson counts N); every ray is then " +
                      "weighed by its counts I0·e^(−y) (penalised weighted least squares): in each data-consistency step against the network's " +
                      "estimate, in TV's data term. 0: unweighted, the sinogram kept exactly. flat (recon ct --projections): I0 estimated from the " +
                      "file's flat and dark fields (mean²/variance over the frames; needs 2 or more flat frames). Default: recon ct the photons of " +
                      "simulation.json next to the sinogram (none: unweighted); run the simulated photons= (none: unweighted). docs/zero-shot.md, docs/ct.md",
    };

    readonly Option<string?> phase = new("--phase")
    {
        Description = "cm/diffusion, MRI: what the real-valued prior sees of the complex image — constrained (the part in phase with the " +
                      "low-resolution phase of the fully sampled k-space centre, so the quadrature aliasing and noise stay out; phase-" +
                      "constrained, as in partial Fourier), magnitude (|x|, phase from the k-space centre) or estimate (|x|, phase of the current " +
                      "estimate). Default: magnitude (constrained gained 0.1–0.8 dB on phantoms but lost 0.03–0.34 dB on held-out real slices). docs/zero-shot.md",
    };

    readonly Option<double?> tvFinish = new("--tv-finish")
    {
        Description = $"cm/diffusion: after the loop, a TV finish from its result x̂: min ½‖Ax − y‖² + ½‖x − x̂‖² + λ·TV(x), {ZeroShotDefaults.TvFinishIterations} accelerated " +
                      $"PDHG iterations, λ relative as the TV start's; it removes the texture the last network evaluation paints into flat regions. " +
                      $"0: off. Default: cm CT {ZeroShotDefaults.CtTvFinish}; MRI with noisy data (--noise-sigma given, auto or from the simulation) λ = " +
                      $"{ZeroShotDefaults.MriNoiseTvFinishScale}·σ/max|Aᴴy|, with exact data off ({ZeroShotDefaults.MriTvFinishMeasured} gained 0.7–2 dB on phantoms, " +
                      $"−0.10 to +0.01 dB on held-out slices); diffusion off. docs/zero-shot.md",
    };

    readonly Option<double?> startLambda = new("--start-lambda")
    {
        Description = $"cm/diffusion with --start tv (the cm default): λ of the TV start, relative as --method tv's. Default: MRI " +
                      $"{ZeroShotDefaults.MriTvStartLambda}, CT {ZeroShotDefaults.CtTvStartLambda}, {ZeroShotDefaults.CtLimitedArcTvStartLambda} over arcs under 170°, {ZeroShotDefaults.CtNoisyTvStartLambda} with --photons or --noise-sigma. docs/zero-shot.md",
    };

    public void AddTo(Command cmd)
    {
        foreach (var o in new Option[] { sigmaEnd, rho, momentum, weight, cg, noise, photons, phase, tvFinish, startLambda }) cmd.Options.Add(o);
    }

    /// <summary>--photons as given (also read for the classical TV).</summary>
    public (double? Photons, bool FromFlatFields) Dose(ParseResult p) => ZeroShotLoopSettings.ParsePhotons(p.GetValue(photons));

    public ZeroShotLoopSettings Read(ParseResult p)
    {
        var (sigma, estimate) = ZeroShotLoopSettings.ParseNoise(p.GetValue(noise));
        var (dose, flat) = ZeroShotLoopSettings.ParsePhotons(p.GetValue(photons));
        return new(p.GetValue(sigmaEnd), p.GetValue(rho), p.GetValue(weight), p.GetValue(cg), sigma, estimate, dose, p.GetValue(momentum),
            ZeroShotLoopSettings.ParsePhase(p.GetValue(phase)), flat, p.GetValue(tvFinish), p.GetValue(startLambda));
    }
}

/// <summary>
/// simulation.json, written by `simulate mri|ct` next to the data it describes and read by `recon mri|ct` (the DICOM
/// source, the noise model): one reader, so both commands treat a missing, foreign or broken record alike.
/// </summary>
static class SimulationRecord
{
    public const string FileName = "simulation.json";

    /// <summary>The record next to <paramref name="dataPath"/>, parsed (the caller disposes it); null when there is none.
    /// A file that cannot be read or is not a JSON object is an error naming it.</summary>
    public static System.Text.Json.JsonDocument? Open(string dataPath, out string file)
    {
        file = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(dataPath)) ?? ".", FileName);
        if (!File.Exists(file)) return null;
        System.Text.Json.JsonDocument doc;
        try { doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(file)); }
        catch (Exception e) when (e is System.Text.Json.JsonException or IOException or UnauthorizedAccessException)
        {
            throw Invalid(file, e.Message, e);
        }
        if (doc.RootElement.ValueKind == System.Text.Json.JsonValueKind.Object) return doc;
        doc.Dispose();
        throw Invalid(file, "not a JSON object");
    }

    /// <summary>The error for a record whose content does not read as expected.</summary>
    public static InvalidInputFileException Invalid(string file, string why, Exception? inner = null) =>
        new(file, $"not a valid simulation record ({why}); simulate again, or move it away from the data", inner);
}

/// <summary>simulation.json written by `simulate mri` next to ksp.npy.</summary>
sealed class SimulationInfo
{
    public string? DicomPath { get; init; }
    public string? SeriesUid { get; init; }
    public int[]? Slices { get; init; }
    public bool Stacked { get; init; }
    /// <summary>The simulated k-space noise σ (0: noise-free), when recorded.</summary>
    public double? Noise { get; init; }
    public string Summary { get; init; } = "";

    public static SimulationInfo? Find(string kspacePath)
    {
        using var doc = SimulationRecord.Open(kspacePath, out var file);
        if (doc is null) return null;
        try
        {
            var root = doc.RootElement;
            string Get(string name) => root.TryGetProperty(name, out var v) ? v.ToString() : "?";
            var info = new SimulationInfo
            {
                Summary = $"{Get("mask")} mask, acceleration {Get("acceleration")}, centre fraction {Get("centerFraction")}, {Get("coils")} coil(s), noise {Get("noise")}, seed {Get("seed")}",
                Noise = root.TryGetProperty("noise", out var n) && n.ValueKind == System.Text.Json.JsonValueKind.Number ? n.GetDouble() : null,
            };
            if (root.TryGetProperty("dicom", out var d) && d.ValueKind == System.Text.Json.JsonValueKind.Object)
                info = new SimulationInfo
                {
                    Summary = info.Summary,
                    DicomPath = d.GetProperty("path").GetString(),
                    SeriesUid = d.GetProperty("seriesInstanceUID").GetString(),
                    Slices = d.GetProperty("slices").EnumerateArray().Select(e => e.GetInt32()).ToArray(),
                    Stacked = d.TryGetProperty("stacked", out var st) && st.ValueKind == System.Text.Json.JsonValueKind.True,
                    Noise = info.Noise,
                };
            return info;
        }
        catch (Exception e) when (e is KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw SimulationRecord.Invalid(file, e.Message, e);
        }
    }
}

/// <summary>Where a derived DICOM series comes from: the source series and the slices that were reconstructed.</summary>
sealed class DicomTarget
{
    public required MedRecon.Dicom.DicomSeries Series { get; init; }
    public int[]? Indices { get; set; }
    string? sliceSpec;

    public static DicomTarget Resolve(string outPath, string? like, string? seriesSpec, string? sliceSpec, SimulationInfo? sim)
    {
        DicomImages.CheckOutputFolder(outPath);
        if (like is null)
        {
            if (sim?.DicomPath is null)
                throw new CliException($"--out {outPath}: a folder output writes a derived DICOM series, but the k-space was not simulated from DICOM " +
                                       "(no DICOM source in simulation.json); give --like SOURCE or an --out FILE.npy/.png");
            if (!File.Exists(sim.DicomPath) && !Directory.Exists(sim.DicomPath))
                throw new CliException($"--out {outPath}: the DICOM source {sim.DicomPath} recorded in simulation.json is gone; give --like SOURCE");
            var s = DicomImages.LoadSeries(sim.DicomPath, sim.SeriesUid);
            return new DicomTarget { Series = s, Indices = sim.Slices };
        }
        var series = DicomImages.LoadSeries(like, seriesSpec);
        int[]? indices = null;
        if (sliceSpec is not null) indices = DicomImages.ParseSlices(sliceSpec, series.SliceCount);
        else if (sim?.SeriesUid == series.SeriesInstanceUID) indices = sim.Slices;
        return new DicomTarget { Series = series, Indices = indices, sliceSpec = sliceSpec };
    }

    public void CheckSlices(int n, bool stacked)
    {
        if (Series.Modality is not ("CT" or "MR"))
            throw new CliException($"the DICOM source series is {Series.Modality}; derived series are written for CT and MR sources only");
        if (Indices is null)
        {
            if (n == Series.SliceCount) Indices = Enumerable.Range(0, n).ToArray();
            else
                throw new CliException($"--like: the source series has {Series.SliceCount} slices and the k-space {n}; choose the source slice(s) with --slice");
        }
        if (Indices.Length != n)
            throw new CliException($"the DICOM source gives {Indices.Length} slice(s) ({(sliceSpec is null ? "from simulation.json" : "--slice " + sliceSpec)}) but the k-space has {n}");
        foreach (int i in Indices)
            if (i < 0 || i >= Series.SliceCount)
                throw new CliException($"slice {i} is out of range for the DICOM source ({Series.SliceCount} slices)");
    }

    /// <summary>Magnitude of the complex reconstruction for MR (MR images are magnitude images); the real part for CT,
    /// whose HU values are signed. Same units as the source (the simulated k-space is the FFT of the modality values).</summary>
    public IReadOnlyList<string> Write(Tensor x, string derivation, string outPath, bool standardDeviation = false)
    {
        using var scope = NewDisposeScope();
        var img = !x.is_complex() ? x : Series.Modality == "CT" ? x.real : x.abs();
        if (img.dim() == 2) img = img.unsqueeze(0);
        return DicomImages.WriteDerived(Series, Indices!, img, derivation, $"MedRecon recon {Series.SeriesDescription}".Trim(), outPath, standardDeviation);
    }
}
