using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using MedRecon.Cli.Pipelines;
using MedRecon.Core;
using MedRecon.Core.IO;
using MedRecon.Operators.Ct;
using MedRecon.Operators.Mri;
using MedRecon.Phantoms;
using MedRecon.Solvers;
using MedRecon.Solvers.Ct;
using MedRecon.Solvers.ZeroShot;
using TorchSharp;
using static TorchSharp.torch;

namespace MedRecon.Cli.Commands;

/// <summary>
/// <c>medrecon run</c>: the retrospective pipeline for researchers. A DICOM series (or the embedded phantom, written as
/// a DICOM series first) → simulated undersampled k-space or sparse-view sinogram, slice by slice → a reconstruction
/// method → a derived DICOM series (+ the standard-deviation series with --samples K &gt; 1), PNGs (ground truth,
/// input estimate, result, error) and metrics.json against the source.
/// </summary>
public static class RunCommand
{
    public static Command Create()
    {
        var image = new Option<string>("--image") { Description = "DICOM file or folder, a NIfTI-1 volume (.nii/.nii.gz; written as a DICOM series first, CT values taken as HU), or phantom[:shepp-logan|random-SEED] (default: the embedded Shepp–Logan phantom, written as a DICOM series first).", DefaultValueFactory = _ => "phantom" };
        var simulate = new Option<string>("--simulate")
        {
            Description = "mri:accel=4,center=0.08[,coils=8][,mask=random|equispaced|poisson][,noise=SIGMA] or ct:views=60[,arc=180][,geometry=parallel|fan][,photons=I0].",
            DefaultValueFactory = _ => "mri:accel=4,center=0.08",
        };
        var method = new Option<string>("--method") { Description = "cm, diffusion; MRI: zf, cg, tv, wavelet; CT: fbp, sirt, cgls, tv.", DefaultValueFactory = _ => "cm" };
        var slice = new Option<string?>("--slice") { Description = "0-based slice index, a list (3,5,7), a range (10-19) or 'all' (default: the middle slice)." };
        var series = new Option<string?>("--series") { Description = "DICOM input with several series: SeriesInstanceUID or 1-based index." };
        var size = new Option<int>("--size") { Description = "Phantom size N.", DefaultValueFactory = _ => 256 };
        var model = new Option<string?>("--model") { Description = "Prior weights (default: models/mr-prior.safetensors or models/ct-prior.safetensors by modality)." };
        var nfe = new Option<int?>("--nfe") { Description = $"Network evaluations per sample (cm default 4, diffusion default {ZeroShotDefaults.DiffusionNfe})." };
        var samples = new Option<int>("--samples") { Description = "Samples K (different seeds): mean and per-pixel standard deviation (a second DICOM series).", DefaultValueFactory = _ => 1 };
        var seed = new Option<ulong>("--seed") { Description = "Seed of the first sample (sample k uses seed + k).", DefaultValueFactory = _ => 0UL };
        var sigma = new Option<double?>("--sigma-start") { Description = "Starting noise level σ_0 of the zero-shot loop (default per task)." };
        var start = ZeroShotCliOptions.StartOption();
        var startIterations = ZeroShotCliOptions.StartIterationsOption();
        var sigmaInflation = ZeroShotCliOptions.SigmaInflationOption();
        var schedule = new ZeroShotLoopOptions();
        var output = new Option<string>("--out") { Description = "Output folder (dicom/, dicom-std/, source-dicom/ for the phantom or a NIfTI input, result.nii.gz and std.nii.gz for a NIfTI input, PNGs, metrics.json).", Required = true };
        var cmd = new Command("run", "Retrospective pipeline: DICOM (or the embedded phantom) → simulated measurements → reconstruction → derived DICOM, PNGs and metrics.")
        {
            image, simulate, method, slice, series, size, model, nfe, samples, seed, sigma, start, startIterations, sigmaInflation, output,
        };
        schedule.AddTo(cmd);
        PacsDestination.AddOptions(cmd); // --host/--stow: push the derived series (dicom/) once the folder is in place
        cmd.SetAction(p => CliSupport.Run(() => Run(new RunOptions
        {
            Image = p.GetValue(image)!,
            Simulate = p.GetValue(simulate)!,
            Method = p.GetValue(method)!,
            Slice = p.GetValue(slice),
            Series = p.GetValue(series),
            Size = p.GetValue(size),
            Model = p.GetValue(model),
            Nfe = p.GetValue(nfe),
            Samples = p.GetValue(samples),
            Seed = p.GetValue(seed),
            SigmaStart = p.GetValue(sigma),
            Start = p.GetValue(start),
            StartIterations = p.GetValue(startIterations),
            SigmaInflation = p.GetValue(sigmaInflation),
            Schedule = schedule.Read(p),
            Out = p.GetValue(output)!,
            Destination = PacsDestination.TryParse(p),
        }, Console.Out)));
        return cmd;
    }

    public sealed record RunOptions
    {
        public string Image { get; init; } = "phantom";
        public string Simulate { get; init; } = "mri:accel=4,center=0.08";
        public string Method { get; init; } = "cm";
        public string? Slice { get; init; }
        public string? Series { get; init; }
        public int Size { get; init; } = 256;
        public string? Model { get; init; }
        public int? Nfe { get; init; }
        public int Samples { get; init; } = 1;
        public ulong Seed { get; init; }
        public double? SigmaStart { get; init; }
        /// <summary>Zero-shot start: tv (the cm default), or zf (MRI) / fbp (CT).</summary>
        public string? Start { get; init; }
        /// <summary>PDHG iterations of a TV start (default 300).</summary>
        public int? StartIterations { get; init; }
        /// <summary>cm: network σ scale (default per modality).</summary>
        public double? SigmaInflation { get; init; }
        /// <summary>Schedule (σ_end, ρ) and data-consistency settings (weight, CG steps); empty: the task defaults.</summary>
        public ZeroShotLoopSettings Schedule { get; init; } = new();
        public string Out { get; init; } = "out/run";
        /// <summary>Where to push the derived series after writing it (null: nowhere).</summary>
        public PacsDestination? Destination { get; init; }
    }

    /// <summary>A parsed --simulate: the modality and its key=value settings.</summary>
    public sealed record SimulationSpec(string Modality, IReadOnlyDictionary<string, string> Settings)
    {
        public double Get(string key, double fallback)
        {
            if (!Settings.TryGetValue(key, out var s)) return fallback;
            if (!double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) || !double.IsFinite(v))
                throw new CliException($"--simulate: {key}={s} is not a number");
            return v;
        }
        public string Get(string key, string fallback) => Settings.TryGetValue(key, out var s) ? s : fallback;

        public static SimulationSpec Parse(string spec)
        {
            int colon = spec.IndexOf(':');
            string modality = (colon < 0 ? spec : spec[..colon]).Trim().ToLowerInvariant();
            if (modality is not ("mri" or "ct"))
                throw new CliException($"--simulate {spec}: must start with mri: or ct: (e.g. mri:accel=4,center=0.08 or ct:views=60)");
            var allowed = modality == "mri" ? new[] { "accel", "center", "coils", "mask", "noise", "seed" } : new[] { "views", "arc", "geometry", "photons", "seed" };
            var settings = new Dictionary<string, string>();
            if (colon >= 0)
                foreach (var part in spec[(colon + 1)..].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                {
                    int eq = part.IndexOf('=');
                    if (eq <= 0) throw new CliException($"--simulate: '{part}' is not key=value");
                    string key = part[..eq].Trim().ToLowerInvariant();
                    if (!allowed.Contains(key)) throw new CliException($"--simulate: unknown {modality} setting '{key}' (allowed: {string.Join(", ", allowed)})");
                    settings[key] = part[(eq + 1)..].Trim();
                }
            if (modality == "ct" && !settings.ContainsKey("views")) throw new CliException("--simulate ct: views=N is required (e.g. ct:views=60)");
            return new SimulationSpec(modality, settings);
        }
    }

    /// <summary>The simulation knows its noise: a zero-shot run weighs its data consistency by it (MRI the k-space σ,
    /// CT the photon count) unless told otherwise (--noise-sigma, --photons, or a --consistency-weight); MRI without
    /// added noise estimates it from the data (<see cref="ZeroShotDefaults.MriEstimatesNoise"/>).</summary>
    static ZeroShotLoopSettings SimulatedNoise(ZeroShotLoopSettings schedule, SimulationSpec sim, string method)
    {
        if (method is not ("cm" or "diffusion") || schedule.NoiseSigma is not null || schedule.EstimateNoise || schedule.Photons is not null
            || schedule.ConsistencyWeight is not null) return schedule;
        if (sim.Modality == "mri")
        {
            double n = sim.Get("noise", 0.0);
            return ZeroShotDefaults.MriEstimatesNoise(n, (long)sim.Get("coils", 1.0)) ? schedule with { EstimateNoise = true } : n > 0 ? schedule with { NoiseSigma = n } : schedule;
        }
        return sim.Get("photons", 0.0) is > 0 and var i0 ? schedule with { Photons = i0 } : schedule; // photons=0: refused with the other settings
    }

    /// <param name="NoiseSigma">The k-space noise σ the data consistency used (MRI, noise-aware), else null.</param>
    public sealed record SliceMetrics(int Index, MetricSet Input, MetricSet Result, double Seconds, double CpuSeconds, double? NoiseSigma = null, UncertaintyCalibration? Uncertainty = null);

    public static int Run(RunOptions o, TextWriter log)
    {
        var sim = SimulationSpec.Parse(o.Simulate);
        bool mri = sim.Modality == "mri";
        string method = o.Method.Trim().ToLowerInvariant();
        var mriMethods = new[] { "cm", "diffusion", "zf", "cg", "tv", "wavelet" };
        if (mri ? !mriMethods.Contains(method) : !CtReconstruction.Methods.Contains(method))
            throw new CliException($"--method {o.Method}: not a {(mri ? "MRI" : "CT")} method (use {string.Join(", ", mri ? mriMethods : CtReconstruction.Methods)})");
        if (o.Schedule.PhotonsFromFlatFields)
            throw new CliException("--photons flat estimates the dose from the flat fields of recon ct --projections; run simulates its dose (ct:views=60,photons=I0)");
        var zs = ZeroShotCliOptions.Build(method, o.Nfe, o.Samples, o.Seed, o.SigmaStart, o.Model, o.Start, mri ? "mr" : "ct", o.StartIterations, o.SigmaInflation, SimulatedNoise(o.Schedule, sim, method));
        // A default estimate in run is always on a simulation that added no noise (SimulatedNoise).
        if (zs is { EstimateNoise: true } && !o.Schedule.EstimateNoise) zs = zs with { NoiseFreeData = true };
        bool zeroShot = zs is not null;
        var mriOptions = mri ? MriOptions(sim) : null;
        var ctSettings = mri ? default : CtSettings(sim);
        string full = Path.GetFullPath(o.Out);
        if (File.Exists(full)) throw new CliException($"--out {o.Out}: is a file; give a folder");

        // The prior first: a missing model or one of another modality fails before any work.
        using var prior = zeroShot ? Priors.Load(mri ? "mr" : "ct", o.Model) : null;

        var rows = new List<SliceMetrics>();
        string derivationText = "";
        double? tvDose = null; // CT TV weighted by the dose
        CliSupport.WriteFolder(o.Out, tmp =>
        {
            // 1. Source: a DICOM series, or the phantom written as one.
            bool phantom = o.Image.Equals("phantom", StringComparison.OrdinalIgnoreCase) || o.Image.StartsWith("phantom:", StringComparison.OrdinalIgnoreCase);
            bool nifti = !phantom && Nifti.IsNiftiPath(o.Image) && File.Exists(o.Image);
            string sourcePath = o.Image;
            (double[,] Affine, int Depth, short Code)? niftiGrid = null;
            if (phantom)
            {
                if (o.Series is not null) throw new CliException("--series applies to DICOM --image input only");
                sourcePath = Path.Combine(tmp, "source-dicom");
                WritePhantomSeries(o.Image, o.Size, mri, sourcePath, log);
            }
            else if (!File.Exists(o.Image) && !Directory.Exists(o.Image))
                throw new CliException($"--image {o.Image}: no such file or folder (give a DICOM series, a NIfTI file or 'phantom')");
            else if (nifti)
            {
                if (o.Series is not null) throw new CliException("--series applies to DICOM --image input only");
                sourcePath = Path.Combine(tmp, "source-dicom");
                var v = DicomImages.WriteNifti(o.Image, mri ? "MR" : "CT", sourcePath);
                niftiGrid = (v.Affine, (int)v.Data.shape[0], v.AffineCode is >= 1 and <= 5 ? v.AffineCode : (short)1); // unknown codes: scanner
                v.Data.Dispose();
                log.WriteLine($"NIfTI {Path.GetFileName(o.Image)} ({string.Join("x", v.Dims)}, {v.AffineSource} geometry) written as a " +
                              $"{(mri ? "MR" : "CT")} DICOM series: source-dicom/" + (mri ? "" : " (values taken as HU)"));
            }
            var series = DicomImages.LoadSeries(sourcePath, o.Series);
            if (series.Modality is not ("CT" or "MR"))
                throw new CliException($"--image {o.Image}: the series is {series.Modality}; run reads CT and MR series");
            int count = series.SliceCount;
            int[] indices = DicomImages.ParseSlices(o.Slice, count);
            bool ctSource = series.Modality == "CT";
            log.WriteLine($"source: {(phantom || nifti ? o.Image : sourcePath)} ({series.Modality}, {count} slice(s) {series.Columns}x{series.Rows}); " +
                          $"{indices.Length} slice(s); {sim.Modality} simulation {o.Simulate}; method {method}" +
                          (prior is null ? "" : $" with {prior.Path} ({prior.Metadata.Stage}, step {prior.Metadata.Steps})"));
            if (!mri && series.Rows != series.Columns) throw new CliException($"--image {o.Image}: CT simulation needs square slices, the series is {series.Columns}x{series.Rows}");
            // NIfTI in, NIfTI out: decided before the work, so the user learns at once whether result.nii.gz will come.
            (double[,] Affine, int[] Order)? niftiOut = null;
            if (niftiGrid is { } grid)
            {
                niftiOut = DicomImages.NiftiSubVolume(grid.Affine, grid.Depth, indices, out var why);
                log.WriteLine(niftiOut is null
                    ? $"NIfTI: result.nii.gz will not be written: {why} (the DICOM series holds them)"
                    : $"NIfTI: series slice(s) {string.Join(",", indices)} are file slice(s) {string.Join(",", DicomImages.NiftiSliceOf(grid.Affine, grid.Depth, indices))} (k along the file's third axis)");
            }

            var results = new List<Tensor>();
            var stds = new List<Tensor>();
            ZeroShotSettings? used = null; // the last slice's resolved settings (the rules follow the mask and views, the same for every slice)
            var montageImages = new List<Tensor>();
            var overall = Stopwatch.StartNew();
            for (int i = 0; i < indices.Length; i++)
            {
                using var scope = NewDisposeScope();
                var src = DicomImages.Read(series, sourcePath, new[] { indices[i] });
                var gt = src.Images[0]; // modality units (HU for CT)
                var clock = Stopwatch.StartNew();
                var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
                Tensor input, result;
                Tensor? std = null;
                double? sliceNoise = null;
                var progress = new ConsoleProgress(indices.Length == 1 ? method : $"{method} slice {i + 1}/{indices.Length}");
                if (mri)
                {
                    var m = MriPipeline.SimulateImage(gt, mriOptions!, sourcePath, noiseSeed: mriOptions!.Seed + indices[i]);
                    var maps = mriOptions.Coils > 1 ? m.Maps : null; // known maps (simulated)
                    input = MriPipeline.Reconstruct(m.KSpace, m.Mask.Mask, maps, MriMethod.Zf).abs();
                    if (zeroShot)
                    {
                        // The default estimate needs measured samples in the outer k-space (tiny images may lack them):
                        // without, this slice keeps its samples exactly; an explicit --noise-sigma auto is refused instead.
                        var sliceZs = zs!.EstimateNoise && !o.Schedule.EstimateNoise && !Operators.Mri.KSpaceNoise.CanEstimate(m.Mask.Mask)
                            ? zs with { EstimateNoise = false, NoiseFreeData = false } : zs;
                        if (sliceZs != zs) log.WriteLine($"slice {indices[i]}: exact data consistency (too few measured samples in the outer k-space to estimate the noise)");
                        var r = CliSupport.RetryNativeOnce(() => MriPipeline.ReconstructZeroShot(m.KSpace, m.Mask.Mask, maps, sliceZs, prior!.Function, progress), $"run slice {indices[i]}");
                        result = r.Mean.abs();
                        std = r.StandardDeviation;
                        sliceNoise = r.NoiseSigma;
                        used = r.Settings;
                        if (sliceZs.EstimateNoise) log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"slice {indices[i]}: k-space noise σ estimated from the outer k-space: {r.NoiseSigma ?? 0:G4}"));
                        derivationText = $"MedRecon run: {ZeroShotCliOptions.Describe(sliceZs, used!, mri, prior!.Sha256, conjugateGradient: maps is not null)}";
                    }
                    else
                    {
                        result = MriPipeline.Reconstruct(m.KSpace, m.Mask.Mask, maps, Enum.Parse<MriMethod>(method, true), progress: progress).abs();
                        derivationText = $"MedRecon run: {method} (default settings)";
                    }
                    derivationText += $"; simulated {o.Simulate} (FFT of the source image, {(maps is null ? "single coil" : $"{mriOptions.Coils} coils, birdcage maps")}); magnitude image";
                }
                else
                {
                    double px = src.Series.Spacing.X > 0 ? src.Series.Spacing.X : 1.0;
                    var mu = ctSource ? CtDicom.HuToMu(gt) : gt;
                    int n = (int)gt.shape[0];
                    var g = (ctSettings.Beam == CtBeam.Parallel
                        ? CtGeometry.ParallelBeam(n, null, detectorSpacing: px, pixelSize: px)
                        : CtGeometry.FanBeam(n, flatDetector: true, pixelSize: px)) with { Views = ctSettings.Views };
                    var angles = CtAngles.Uniform(ctSettings.Views, ctSettings.Arc);
                    var sino = CtSimulation.ProjectFine(mu, g, angles, 2);
                    if (ctSettings.Photons is double i0)
                        sino = CtSimulation.AddPoissonNoise(sino, i0, new TorchSharp.torch.Generator((ulong)ctSettings.Seed + (ulong)indices[i]));
                    var fbp = FilteredBackProjection.Reconstruct(sino, g, angles);
                    Tensor muResult;
                    if (zeroShot)
                    {
                        var r = CliSupport.RetryNativeOnce(() => CtReconstruction.RunZeroShot(method, sino, g, angles, zs, ctSource ? CtDicom.MuWaterPerMm : null, prior!.Function, progress: progress), $"run slice {indices[i]}");
                        muResult = r.Mean;
                        std = r.StandardDeviation;
                        if (std is not null && ctSource) std = std * (1000.0 / CtDicom.MuWaterPerMm); // σ in HU
                        used = r.Settings;
                        derivationText = $"MedRecon run: {ZeroShotCliOptions.Describe(zs!, used!, mri, prior!.Sha256, conjugateGradient: true)}";
                    }
                    else
                    {
                        // TV weighs its data term by the dose too (given, else simulated).
                        tvDose = method == "tv" ? o.Schedule.Photons ?? ctSettings.Photons : null;
                        muResult = CtReconstruction.Run(method, sino, g, angles, photons: tvDose);
                        derivationText = $"MedRecon run: {method} (default settings" +
                            (tvDose is double weighted && weighted > 0 ? $", {NoiseAwareConsistency.CountWeighting(weighted)})" : ")");
                    }
                    input = ctSource ? CtDicom.MuToHu(fbp) : fbp;
                    result = ctSource ? CtDicom.MuToHu(muResult) : muResult;
                    derivationText += $"; simulated {o.Simulate} ({g.Beam} beam, {g.Detectors} detectors{(ctSettings.Photons is null ? ", noise-free" : "")})";
                }
                clock.Stop();
                // CPU time of the whole process over the slice: on a shared machine wall time says more about the
                // load than about the method; CPU seconds / threads bounds the wall time on an idle one.
                double cpu = (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalSeconds;
                var mIn = Metrics.Compute(gt, input);
                var mOut = Metrics.Compute(gt, result);
                // With K samples: does the std map point at the error of the mean? (docs/metrics.md, "Uncertainty")
                var calibration = std is null ? null : CliSupport.Uncertainty(gt, result, std, log);
                rows.Add(new SliceMetrics(indices[i], mIn, mOut, clock.Elapsed.TotalSeconds, cpu, sliceNoise, calibration));
                log.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"slice {indices[i]}: input PSNR {mIn.Psnr:F2} dB SSIM {mIn.Ssim:F4} | {method} PSNR {mOut.Psnr:F2} dB SSIM {mOut.Ssim:F4} NMSE {mOut.Nmse:E2} | {clock.Elapsed.TotalSeconds:F2} s ({cpu:F2} CPU s)"));
                if (calibration is { } u)
                    log.WriteLine($"slice {indices[i]}: {CliSupport.DescribeUncertainty(u)}");
                if (indices.Length > 1 && !ConsoleProgress.Quiet)
                    Console.Error.WriteLine($"run: slice {i + 1}/{indices.Length} done, {overall.Elapsed.TotalSeconds:F1} s, ETA {overall.Elapsed.TotalSeconds / (i + 1) * (indices.Length - i - 1):F0} s");
                WritePngs(tmp, indices.Length == 1 ? "" : $"slice{indices[i]:D3}-", gt, input, result, std, method, i == 0 ? montageImages : null);
                results.Add(result.to(ScalarType.Float32).MoveToOuterDisposeScope());
                if (std is not null) stds.Add(std.to(ScalarType.Float32).MoveToOuterDisposeScope());
            }

            // 2. DICOM out: derived series (and the uncertainty series) referencing the source slices.
            var stack = torch.stack(results);
            var files = DicomImages.WriteDerived(series, indices, stack, derivationText,
                $"MedRecon {method}{(zeroShot ? $" {zs!.Nfe} NFE" : "")}", Path.Combine(tmp, "dicom"));
            if (stds.Count > 0)
                DicomImages.WriteDerived(series, indices, torch.stack(stds), derivationText + $"; per-pixel standard deviation over {zs!.Samples} samples",
                    $"MedRecon {method} ({zs.Samples} samples)", Path.Combine(tmp, "dicom-std"), standardDeviation: true);
            // NIfTI in, NIfTI out: the same slices in the input's voxel grid (mm) and space (its form code), for NIfTI
            // viewers and scripts.
            if (niftiOut is { } sub)
            {
                short code = niftiGrid!.Value.Code;
                using var scope = NewDisposeScope();
                var order = torch.tensor(sub.Order.Select(j => (long)j).ToArray());
                Nifti.Write(Path.Combine(tmp, "result.nii.gz"), stack.index_select(0, order), sub.Affine, $"MedRecon {method}", code);
                if (stds.Count > 0) Nifti.Write(Path.Combine(tmp, "std.nii.gz"), torch.stack(stds).index_select(0, order), sub.Affine, $"MedRecon {method} std", code);
                log.WriteLine($"NIfTI: result.nii.gz{(stds.Count > 0 ? ", std.nii.gz" : "")} ({indices.Length} slice(s) of {Path.GetFileName(o.Image)}'s grid)");
            }
            foreach (var t in results.Concat(stds)) t.Dispose();
            stack.Dispose();

            // 3. metrics.json
            var inv = CultureInfo.InvariantCulture;
            var json = new Dictionary<string, object?>
            {
                ["method"] = method,
                ["modality"] = series.Modality,
                ["source"] = phantom ? o.Image : Path.GetFullPath(o.Image),
                ["simulate"] = o.Simulate,
                ["slices"] = rows.Select(r => new
                {
                    index = r.Index,
                    input = new { psnr = r.Input.Psnr, ssim = r.Input.Ssim, nmse = r.Input.Nmse },
                    result = new { psnr = r.Result.Psnr, ssim = r.Result.Ssim, nmse = r.Result.Nmse },
                    seconds = r.Seconds,
                    cpuSeconds = r.CpuSeconds,
                    noiseSigma = r.NoiseSigma,
                    uncertainty = UncertaintyJson(r.Uncertainty),
                }).ToList(),
                ["mean"] = new
                {
                    input = new { psnr = rows.Average(r => r.Input.Psnr), ssim = rows.Average(r => r.Input.Ssim), nmse = rows.Average(r => r.Input.Nmse) },
                    result = new { psnr = rows.Average(r => r.Result.Psnr), ssim = rows.Average(r => r.Result.Ssim), nmse = rows.Average(r => r.Result.Nmse) },
                },
                ["uncertainty"] = rows.Any(r => r.Uncertainty is not null) ? UncertaintyJson(MeanCalibration(rows.Where(r => r.Uncertainty is not null).Select(r => r.Uncertainty!).ToList())) : null,
                ["secondsPerSlice"] = rows.Average(r => r.Seconds),
                ["cpuSecondsPerSlice"] = rows.Average(r => r.CpuSeconds),
                ["inputEstimate"] = mri ? "zero-filled" : "fbp (ramp)",
                ["nfe"] = zs?.Nfe,
                ["samples"] = zs?.Samples,
                ["seed"] = zs?.Seed,
                ["start"] = used?.Start is not ZeroShotStart start ? null
                    : start == ZeroShotStart.TotalVariation ? "tv"
                    : mri ? "zero-filled" : "fbp (ramp)",
                // The values the run used, task defaults resolved (null: not applicable to the method).
                ["startIterations"] = used?.StartIterations,
                ["startLambda"] = used?.StartLambda,
                ["sigmaStart"] = used?.SigmaStart,
                ["sigmaInflation"] = used?.SigmaInflation,
                ["momentum"] = used?.Momentum,
                ["phase"] = used?.Phase is MriPhase phase ? ZeroShotLoopSettings.PhaseName(phase) : null,
                ["tvFinish"] = used?.TvFinish,
                ["sigmaEnd"] = used?.SigmaEnd,
                ["rho"] = used?.Rho,
                ["consistencyWeight"] = zs is null || zs.EstimateNoise || zs.NoiseSigma is > 0 || zs.Photons is not null ? null : zs.ConsistencyWeight ?? 0,
                ["cgIterations"] = zs is null || zs.CgIterations == 0 ? null : zs.CgIterations,
                ["noiseSigma"] = zs is null ? null : zs.EstimateNoise ? "auto" : zs.NoiseSigma,
                ["photons"] = zs is null ? tvDose : zs.Photons,
                ["model"] = prior is null ? null : new { path = prior.Path, sha256 = prior.Sha256, stage = prior.Metadata.Stage, steps = prior.Metadata.Steps, modality = prior.Metadata.Modality },
                ["dicomFiles"] = files.Count,
                ["machine"] = $"{Environment.ProcessorCount} cores, {TorchSharp.torch.get_num_threads()} torch threads",
            };
            File.WriteAllText(Path.Combine(tmp, "metrics.json"), JsonSerializer.Serialize(json, new JsonSerializerOptions { WriteIndented = true }));
            _ = inv;
        }, "*.png", "*.nii.gz", "metrics.json", "dicom-std", "source-dicom");
        double mp = rows.Average(r => r.Result.Psnr), ms = rows.Average(r => r.Result.Ssim), ip = rows.Average(r => r.Input.Psnr);
        log.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"mean over {rows.Count} slice(s): {method} PSNR {mp:F2} dB SSIM {ms:F4} (input estimate {ip:F2} dB), {rows.Average(r => r.Seconds):F2} s/slice"));
        log.WriteLine($"wrote {full} (dicom/{(o.Samples > 1 ? ", dicom-std/" : "")}, PNGs, metrics.json)");
        if (o.Destination is not null)
        {
            var written = Directory.GetFiles(Path.Combine(full, "dicom")).OrderBy(f => f, StringComparer.Ordinal).ToList();
            if (!o.Destination.Push(written, log).AllStored) return CliSupport.ExitFailure;
        }
        return 0;
    }

    static MriSimulationOptions MriOptions(SimulationSpec s)
    {
        double accel = s.Get("accel", 4.0), center = s.Get("center", 0.08), noise = s.Get("noise", 0.0);
        double coils = s.Get("coils", 1.0), seed = s.Get("seed", 0.0);
        // The mask's own limits (SamplingMask): more than 1x, and a centre that leaves lines to skip.
        if (!(accel > 1) || accel > 64) throw new CliException($"--simulate: accel={accel} must be in (1, 64]");
        if (!(center > 0) || center >= 1) throw new CliException($"--simulate: center={center} must be in (0, 1)");
        if (coils < 1 || coils > 64 || coils != Math.Floor(coils)) throw new CliException($"--simulate: coils={coils} must be an integer in [1, 64]");
        if (!(noise >= 0)) throw new CliException($"--simulate: noise={noise} must be ≥ 0");
        var mask = s.Get("mask", "random").ToLowerInvariant() switch
        {
            "random" => MaskKind.Random,
            "equispaced" => MaskKind.Equispaced,
            "poisson" => MaskKind.Poisson,
            var m => throw new CliException($"--simulate: mask={m} unknown (random, equispaced, poisson)"),
        };
        return new MriSimulationOptions(mask, accel, center, (int)coils, noise, (int)seed);
    }

    readonly record struct CtSimSettings(int Views, double Arc, CtBeam Beam, double? Photons, int Seed);

    static CtSimSettings CtSettings(SimulationSpec s)
    {
        double views = s.Get("views", 60.0);
        if (views < 1 || views > 10000 || views != Math.Floor(views)) throw new CliException($"--simulate: views={views} must be an integer in [1, 10000]");
        var beam = s.Get("geometry", "parallel").ToLowerInvariant() switch
        {
            "parallel" => CtBeam.Parallel,
            "fan" => CtBeam.FanFlat,
            var g => throw new CliException($"--simulate: geometry={g} unknown (parallel, fan)"),
        };
        double arc = s.Get("arc", beam == CtBeam.Parallel ? 180.0 : 360.0);
        if (!(arc > 0) || arc > 360) throw new CliException($"--simulate: arc={arc} must be in (0, 360]");
        double? photons = s.Settings.ContainsKey("photons") ? s.Get("photons", 0.0) : null;
        if (photons is not null && !(photons > 0 && double.IsFinite(photons.Value))) throw new CliException($"--simulate: photons={photons} must be positive and finite");
        return new CtSimSettings((int)views, arc, beam, photons, (int)s.Get("seed", 0.0));
    }

    /// <summary>The embedded phantom as a one-slice DICOM series: MR as 1000 × value; CT in HU as the CT prior's
    /// phantoms were normalised (the phantom's 99.5th percentile = water, 0 → air: HU = 1024·v/p − 1024).</summary>
    static void WritePhantomSeries(string spec, int size, bool mri, string folder, TextWriter log)
    {
        if (size < 16 || size > 2048) throw new CliException($"--size {size}: must be between 16 and 2048");
        string name = spec.Contains(':') ? spec[(spec.IndexOf(':') + 1)..].Trim().ToLowerInvariant() : "shepp-logan";
        EllipsePhantom ph;
        if (name is "shepp-logan" or "") ph = EllipsePhantom.SheppLogan();
        else if (name.StartsWith("random-") && int.TryParse(name["random-".Length..], NumberStyles.Integer, CultureInfo.InvariantCulture, out int seed)) ph = EllipsePhantom.Random(seed);
        else throw new CliException($"--image {spec}: unknown phantom (phantom, phantom:shepp-logan, phantom:random-SEED)");
        using var scope = NewDisposeScope();
        var img = ph.Rasterize(size).to(ScalarType.Float32).clamp_min(0);
        double pixel = 256.0 / size;
        Tensor values;
        if (mri) values = img * 1000.0;
        else
        {
            double p = MedRecon.Model.Training.Normalization.Percentile(img, 99.5);
            if (!(p > 0)) p = 1;
            values = img * (1024.0 / p) - 1024.0;
        }
        DicomImages.WritePhantom(values, mri ? "MR" : "CT", ph.Name, (pixel, pixel, 5.0), folder);
        log.WriteLine($"phantom {ph.Name} {size}² written as a {(mri ? "MR" : "CT")} DICOM series: source-dicom/");
    }

    static object? UncertaintyJson(UncertaintyCalibration? u) => u is null ? null : new
    {
        errorStdCorrelation = u.Correlation,
        coverage2Std = u.Coverage2Std,
        errorToStdRatio = u.ErrorToStdRatio,
        errorShareTop10 = u.ErrorShareTop10,
        errorShareTop10Oracle = u.ErrorShareTop10Oracle,
    };

    static UncertaintyCalibration MeanCalibration(IReadOnlyList<UncertaintyCalibration> u) => new(
        u.All(x => x.Correlation is not null) ? u.Average(x => x.Correlation!.Value) : null,
        u.Average(x => x.Coverage2Std), u.Average(x => x.ErrorToStdRatio), u.Average(x => x.ErrorShareTop10), u.Average(x => x.ErrorShareTop10Oracle));

    static void WritePngs(string dir, string prefix, Tensor gt, Tensor input, Tensor result, Tensor? std, string method, List<Tensor>? montage)
    {
        using var scope = NewDisposeScope();
        double lo = gt.min().item<float>(), hi = gt.max().item<float>();
        if (!(hi > lo)) hi = lo + 1;
        var error = (result - gt).abs();
        Png.Write(Path.Combine(dir, prefix + "gt.png"), gt, lo, hi);
        Png.Write(Path.Combine(dir, prefix + "input.png"), input, lo, hi);
        Png.Write(Path.Combine(dir, prefix + "result.png"), result, lo, hi);
        // Error and std on a fixed scale: 0 to 20 % of the ground truth's range, so maps compare across methods.
        Png.Write(Path.Combine(dir, prefix + "error.png"), error, 0, 0.2 * (hi - lo));
        if (std is not null) Png.Write(Path.Combine(dir, prefix + "std.png"), std, 0, 0.2 * (hi - lo));
        if (montage is not null)
        {
            var panels = new List<Tensor> { gt, input, result, error * 5.0 + lo };
            var captions = new List<string> { "ground truth", "input estimate", method, "error x5" };
            if (std is not null) { panels.Add(std * 5.0 + lo); captions.Add("std x5"); }
            Png.WriteMontage(Path.Combine(dir, "montage.png"), panels, captions, lo, hi);
        }
    }
}
