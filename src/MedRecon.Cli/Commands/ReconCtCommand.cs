using System.CommandLine;
using MedRecon.Core;
using MedRecon.Core.IO;
using MedRecon.Operators.Ct;
using MedRecon.Solvers;
using MedRecon.Solvers.Ct;
using MedRecon.Solvers.ZeroShot;
using MedRecon.Model;
using MedRecon.Cli.Pipelines;
using TorchSharp;
using static TorchSharp.torch;

namespace MedRecon.Cli.Commands;

/// <summary><c>medrecon recon ct</c>: FBP, SIRT, CGLS or TV from a sinogram (.npy) or DataExchange projections (.h5).</summary>
public static class ReconCtCommand
{
    public static Command Create()
    {
        var sinogram = new Option<string?>("--sinogram") { Description = "Sinogram FILE.npy (views, detectors)." };
        var anglesOpt = new Option<string?>("--angles") { Description = "Angles FILE.npy (views), radians." };
        var geometryOpt = new Option<string?>("--geometry") { Description = "geometry.json from `simulate ct` (default: parallel beam, centred detector)." };
        var spacing = new Option<double?>("--detector-spacing") { Description = "Detector spacing in pixels without geometry.json (default 1)." };
        var projections = new Option<string?>("--projections") { Description = "DataExchange HDF5 FILE.h5 (/exchange/data, data_white, data_dark, theta) instead of --sinogram." };
        var row = new Option<int>("--row") { Description = "Detector row (slice) to reconstruct from --projections.", DefaultValueFactory = _ => 0 };
        var centre = new Option<double?>("--centre") { Description = "Rotation centre (detector column) for --projections; searched automatically when omitted." };
        var size = new Option<int?>("--size") { Description = "Output image size N (required without geometry.json; default for --projections: detector count)." };
        var method = new Option<string>("--method") { Description = "fbp, sirt, cgls, tv, cm (consistency-model prior, zero-shot from the TV reconstruction by default, --start fbp for FBP) or diffusion (the same prior as a diffusion baseline).", DefaultValueFactory = _ => "fbp" };
        method.AcceptOnlyFromAmong(CtReconstruction.Methods);
        var zsOptions = new ZeroShotCliOptions();
        var filter = new Option<string>("--filter") { Description = "FBP filter: ramp, shepp-logan, cosine, hann.", DefaultValueFactory = _ => "ramp" };
        var iters = new Option<int?>("--iters") { Description = "Iterations (defaults: sirt 200, cgls 10, tv 1000 from the FBP)." };
        var lambda = new Option<double?>("--lambda") { Description = "TV weight, relative to max|Aᵀy| (default 0.002); CGLS Tikhonov weight relative to ‖A‖² (default 0)." };
        var nonneg = new Option<bool>("--nonneg") { Description = "Non-negativity for SIRT/TV." };
        var like = new Option<string?>("--like") { Description = "DICOM source for a derived series (default: dicom-source.json next to --sinogram)." };
        var series = new Option<string?>("--series") { Description = "With --like: SeriesInstanceUID or 1-based index." };
        var slice = new Option<string?>("--slice") { Description = "With --like: 0-based source slice index." };
        var output = new Option<string>("--out") { Description = "Output FILE.npy (float32), FILE.png, or a new folder DIR: a derived DICOM series (HU for CT sources).", Required = true };
        var reference = new Option<string?>("--ref") { Description = "Optional ground truth FILE.npy (N, N) in the sinogram's units (the gt.npy of `simulate ct`): print PSNR/SSIM/NMSE of the result and, with --samples, how the std relates to the error." };
        var cmd = new Command("ct", "Reconstruct a CT slice: classical (FBP, SIRT, CGLS, TV) or zero-shot with the learned prior (cm, diffusion).")
        {
            sinogram, anglesOpt, geometryOpt, spacing, projections, row, centre, size, method, filter, iters, lambda, nonneg, like, series, slice, reference, output,
        };
        Pipelines.PacsDestination.AddOptions(cmd); // --host/--stow: push the derived series after writing it
        zsOptions.AddTo(cmd);
        cmd.SetAction(p => CliSupport.Run(() =>
        {
            using var scope = NewDisposeScope();
            string outPath = p.GetValue(output)!;
            string ext = Path.GetExtension(outPath).ToLowerInvariant();
            bool dicomOut = Pipelines.CtDicom.IsFolderOutput(outPath);
            if (!dicomOut && ext is not ".npy" and not ".png") throw new CliException($"--out {outPath}: must end in .npy or .png, or be a folder (derived DICOM series)");
            var pacs = Pipelines.PacsDestination.TryParse(p);
            if (pacs is not null && !dicomOut) throw new CliException($"--host/--stow push a DICOM series: --out {outPath} must be a folder");
            if (dicomOut) Pipelines.CtDicom.CheckSource(p.GetValue(sinogram) ?? p.GetValue(projections) ?? "", p.GetValue(like), outPath);
            var zs = zsOptions.Read(p, p.GetValue(method)!, "ct");
            ZeroShotCliOptions.RefuseClassicalOptions(p, p.GetValue(method)!, lambda, iters, nonneg, filter);
            string? stdPath = zs is not null && zs.Value.Options.Samples > 1 ? ZeroShotCliOptions.StdPath(outPath, dicomOut) : null;
            ZeroShotCliOptions.WarnIfStaleStd(outPath, dicomOut, stdPath);
            if (stdPath is not null && dicomOut) Pipelines.DicomImages.CheckOutputFolder(stdPath);
            if (!dicomOut)
                foreach (var path in new[] { outPath, stdPath }.OfType<string>()) CliSupport.CheckOutputFile(path);
            // The prior before any work: a missing model or one of another modality fails fast.
            using var prior = zs is null ? null : Priors.Load("ct", zs.Value.Model);
            Tensor sino;
            double[] angles;
            CtGeometry g;
            string? h5 = p.GetValue(projections);
            var (givenDose, fromFlats) = zsOptions.Dose(p);
            if (fromFlats && h5 is null)
                throw new CliException("--photons flat estimates the dose from the flat fields of --projections FILE.h5; for --sinogram give I0 as a number");
            double? flatCounts = null;
            if (h5 is not null)
            {
                if (p.GetValue(sinogram) is not null) throw new CliException("--projections and --sinogram are exclusive");
                var scan = DataExchange.Read(h5);
                if (p.GetValue(row) < 0 || p.GetValue(row) >= scan.Rows) throw new CliException($"--row {p.GetValue(row)}: {h5} has rows 0..{scan.Rows - 1}");
                sino = DataExchange.Sinogram(scan, p.GetValue(row));
                angles = scan.ThetaRadians;
                double c = p.GetValue(centre) ?? DataExchange.FindRotationCentre(sino, angles);
                int d = scan.Columns;
                g = CtGeometry.ParallelBeam(p.GetValue(size) ?? d, d) with { DetectorOffset = -(c - (d - 1) / 2.0), Views = angles.Length };
                Console.Error.WriteLine($"{Path.GetFileName(h5)}: {scan.Projections} projections × {scan.Rows} rows × {d} columns, " +
                                        $"theta in {scan.ThetaUnits}, rotation centre {c:F2}");
                if (fromFlats)
                {
                    int frames = scan.White is null ? 0 : (int)scan.White.shape[0];
                    flatCounts = DataExchange.EstimateFlatFieldCounts(scan, p.GetValue(row))
                        ?? throw new CliException($"--photons flat: {h5} has {frames} flat frame(s) without a usable spread; 2 or more are needed " +
                                                  "to estimate the dose (give I0 as a number)");
                }
            }
            else
            {
                string sinoPath = p.GetValue(sinogram) ?? throw new CliException("give --sinogram FILE.npy (or --projections FILE.h5)");
                string anglesPath = p.GetValue(anglesOpt) ?? throw new CliException("--angles FILE.npy is required with --sinogram");
                sino = Npy.Read(sinoPath);
                if (sino.dim() != 2) throw new InvalidInputFileException(sinoPath, $"sinogram must be 2-D (views, detectors), has shape {Tensors.ShapeString(sino.shape)}");
                if (sino.numel() == 0) throw new InvalidInputFileException(sinoPath, $"sinogram is empty, shape {Tensors.ShapeString(sino.shape)}");
                if (sino.is_complex()) throw new InvalidInputFileException(sinoPath, "sinogram must be real");
                sino = sino.to(ScalarType.Float32);
                if (!Tensors.AllFinite(sino)) throw new InvalidInputFileException(sinoPath, "sinogram contains NaN or infinite values");
                var a = Npy.Read(anglesPath);
                if (a.dim() != 1) throw new InvalidInputFileException(anglesPath, $"angles must be 1-D, has shape {Tensors.ShapeString(a.shape)}");
                if (a.is_complex()) throw new InvalidInputFileException(anglesPath, "angles must be real");
                angles = a.to(ScalarType.Float64).data<double>().ToArray();
                if (angles.Length != sino.shape[0])
                    throw new InvalidInputFileException(anglesPath, $"has {angles.Length} angles but {sinoPath} has {sino.shape[0]} views");
                if (angles.Any(x => !double.IsFinite(x))) throw new InvalidInputFileException(anglesPath, "angles contain NaN or infinite values");
                string? geoPath = p.GetValue(geometryOpt);
                if (geoPath is not null)
                {
                    try { g = CtGeometry.FromJson(File.ReadAllText(geoPath)); }
                    catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Text.Json.JsonException or NotSupportedException)
                    { throw new InvalidInputFileException(geoPath, $"cannot read geometry ({e.Message})", e); }
                    try { g.Validate(); }
                    catch (ArgumentException e) { throw new InvalidInputFileException(geoPath, e.Message, e); }
                    if (g.Detectors != sino.shape[1])
                        throw new InvalidInputFileException(sinoPath, $"has {sino.shape[1]} detectors but {geoPath} says {g.Detectors}");
                    if (p.GetValue(size) is int n) g = g with { ImageSize = n };
                    if (p.GetValue(spacing) is double s) g = g with { DetectorSpacing = s * g.PixelSize };
                }
                else
                {
                    int n = p.GetValue(size) ?? throw new CliException("--size N is required without --geometry");
                    double s = p.GetValue(spacing) ?? 1.0;
                    if (!(s > 0)) throw new CliException($"--detector-spacing {s}: must be positive");
                    g = CtGeometry.ParallelBeam(n, (int)sino.shape[1], s);
                }
                g = g with { Views = angles.Length };
            }
            if (g.ImageSize < 1 || g.ImageSize > 8192) throw new CliException($"--size {g.ImageSize}: must be between 1 and 8192");
            // The reference before the work: a wrong file fails fast.
            Tensor? gt = p.GetValue(reference) is { } refPath ? CliSupport.ReadNpy(refPath, "reference", new[] { 2 }) : null;
            if (gt is not null && (gt.shape[0] != g.ImageSize || gt.shape[1] != g.ImageSize))
                throw new CliException($"{p.GetValue(reference)}: reference has shape {Tensors.ShapeString(gt.shape)}, the reconstruction is {g.ImageSize}×{g.ImageSize}");
            if (gt is not null && gt.is_complex()) throw new CliException($"{p.GetValue(reference)}: reference must be real");

            string m = p.GetValue(method)!;
            // The noise: noisy sinograms fitted exactly carry their noise into the image (60 views, I0 10⁴: 33 dB exact vs
            // 41 dB weighted). Without --photons/--noise-sigma, the noise model `simulate ct` recorded for this sinogram: its
            // dose for cm/diffusion (unless a constant weight is given) and tv, its Gaussian σ for cm/diffusion.
            double? dose = givenDose;
            if (flatCounts is double counts)
            {
                dose = counts;
                Console.Error.WriteLine(string.Create(System.Globalization.CultureInfo.InvariantCulture,
                    $"{m}: rays weighted by their counts, I0 ≈ {counts:G4} effective counts per ray from the flat fields (row {p.GetValue(row)})"));
            }
            bool chosen = dose is not null || zs?.Options.NoiseSigma is not null;
            bool usesRecord = zs is { } zd ? zd.Options is { ConsistencyWeight: null, Lambda: null } : m == "tv";
            if (!chosen && usesRecord && p.GetValue(sinogram) is { } sp && CtCli.RecordedNoise(sp, (int)sino.shape[0]) is { } recorded)
            {
                var inv = System.Globalization.CultureInfo.InvariantCulture;
                if (recorded.Photons is double i0)
                {
                    dose = i0;
                    Console.Error.WriteLine(string.Create(inv, $"{m}: rays weighted by their counts, I0 {i0:G4} from {SimulationRecord.FileName} (--photons 0: unweighted)"));
                }
                else if (recorded.GaussianSigma is double sigma && zs is { } zg)
                {
                    zs = (zg.Options with { NoiseSigma = sigma }, zg.Model);
                    Console.Error.WriteLine(string.Create(inv, $"{m}: data consistency weighted by the sinogram noise σ {sigma:G4} from {SimulationRecord.FileName} (--noise-sigma 0: exact)"));
                }
            }
            if (zs is { } z && dose is not null) zs = (z.Options with { Photons = dose }, z.Model);

            var sw = System.Diagnostics.Stopwatch.StartNew();
            int? it = p.GetValue(iters);
            if (it is < 0) throw new CliException($"--iters {it}: must be ≥ 0");
            Tensor image;
            Tensor? std = null;
            ZeroShotSettings? used = null;
            // HU-derived sinograms (simulate ct from a DICOM CT) give the prior its fixed HU map; otherwise the scale is estimated.
            bool huSource = HuRecord(p.GetValue(sinogram));
            if (zs is not null)
            {
                var r = CliSupport.RetryNativeOnce(() => CtReconstruction.RunZeroShot(m, sino, g, angles, zs.Value.Options, huSource ? Pipelines.CtDicom.MuWaterPerMm : null,
                    prior!.Function, FilteredBackProjection.ParseFilter(p.GetValue(filter)!), new ConsoleProgress(m)), m);
                image = r.Mean;
                std = r.StandardDeviation;
                used = r.Settings;
                m += $" {zs.Value.Options.Nfe} NFE" + (zs.Value.Options.Samples > 1 ? $" x {zs.Value.Options.Samples} samples" : "");
                Console.Error.WriteLine($"model {prior!.Path} ({prior.Metadata.Stage}, step {prior.Metadata.Steps}, sha256 {prior.Sha256[..16]})");
                if (used is not null && !ConsoleProgress.Quiet) Console.Error.WriteLine($"settings used: {ZeroShotCliOptions.SettingsText(used, mri: false)}");
            }
            else
                image = CtReconstruction.Run(m, sino, g, angles, FilteredBackProjection.ParseFilter(p.GetValue(filter)!), it,
                    p.GetValue(lambda), p.GetValue(nonneg), photons: dose);
            sw.Stop();
            if (dicomOut)
            {
                string desc = $"MedRecon recon ct: " + (zs is not null ? ZeroShotCliOptions.Describe(zs.Value.Options, used!, mri: false, prior!.Sha256, conjugateGradient: true)
                              : m + (m == "fbp" ? $" ({p.GetValue(filter)} filter)" : $", {it?.ToString() ?? "default"} iterations, lambda {p.GetValue(lambda)?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "default"}")
                                + (m == "tv" && dose is double i0 && i0 > 0 ? ", " + NoiseAwareConsistency.CountWeighting(i0) : "")) +
                              $"; operator: {g.Beam} beam, {angles.Length} views, {g.Detectors} detectors";
                string source = p.GetValue(sinogram) ?? h5!;
                int count = 0;
                // The mean and the standard-deviation series appear together or not at all.
                CliSupport.WriteWithStandardDeviation(outPath,
                    tmp => count = Pipelines.CtDicom.WriteDerived(image, source, p.GetValue(like), p.GetValue(series), p.GetValue(slice), desc, tmp).Count,
                    stdPath, std is null ? null : tmp => Pipelines.CtDicom.WriteDerived(std, source, p.GetValue(like), p.GetValue(series), p.GetValue(slice),
                        desc + "; per-pixel standard deviation over the samples", tmp, standardDeviation: true));
                Console.WriteLine($"wrote {outPath}: derived series, {count} slice(s), {m} from {angles.Length} views in {sw.Elapsed.TotalSeconds:F2} s");
                if (std is not null) Console.WriteLine($"wrote {stdPath}: standard-deviation series");
                if (gt is not null) CliSupport.PrintReferenceMetrics(gt, image, std);
                if (pacs is not null && !pacs.Push(Directory.GetFiles(outPath).Order().ToList(), Console.Out).AllStored) return CliSupport.ExitFailure;
                return 0;
            }
            void WriteImage(string tmp, Tensor t)
            {
                if (ext == ".npy") Npy.Write(tmp, t);
                else Png.Write(tmp, t);
            }
            CliSupport.WriteWithStandardDeviation(outPath, tmp => WriteImage(tmp, image), stdPath, std is null ? null : tmp => WriteImage(tmp, std));
            Console.WriteLine($"wrote {outPath}: {g.ImageSize}×{g.ImageSize} {m} from {angles.Length} views in {sw.Elapsed.TotalSeconds:F2} s");
            if (std is not null) Console.WriteLine($"wrote {stdPath} (per-pixel standard deviation)");
            if (gt is not null) CliSupport.PrintReferenceMetrics(gt, image, std);
            return 0;
        }));
        return cmd;
    }

    /// <summary>True when the sinogram was simulated from a DICOM CT in HU (dicom-source.json says huToMu).</summary>
    static bool HuRecord(string? sinogramPath)
    {
        if (sinogramPath is null) return false;
        string record = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(sinogramPath)) ?? ".", Pipelines.CtDicom.RecordName);
        if (!File.Exists(record)) return false;
        try
        {
            using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(record));
            return doc.RootElement.TryGetProperty("huToMu", out var v) && v.ValueKind == System.Text.Json.JsonValueKind.True;
        }
        catch (System.Text.Json.JsonException) { return false; }
    }
}

/// <summary>The reconstruction methods behind <c>recon ct</c>, callable from code (and the benchmark).</summary>
public static class CtReconstruction
{
    /// <summary>All methods of <c>recon ct</c>; "cm" and "diffusion" need a CT prior.</summary>
    public static readonly string[] Methods = { "fbp", "sirt", "cgls", "tv", "cm", "diffusion" };

    public static bool IsZeroShot(string method) => method is "cm" or "diffusion";

    /// <summary>
    /// Zero-shot CT (consistency model or diffusion baseline), started from FBP or from TV (options.Start; the cm
    /// default is TV, <see cref="ZeroShotDefaults.StartFor"/>). <paramref name="muWater"/>: water's
    /// attenuation in the sinogram's units (DICOM HU sources: <see cref="Pipelines.CtDicom.MuWaterPerMm"/>), or null to
    /// estimate the scale from the FBP. <paramref name="prior"/> defaults to models/ct-prior.safetensors.
    /// </summary>
    public static ZeroShotResult RunZeroShot(string method, Tensor sino, CtGeometry g, double[] angles, ZeroShotOptions? options = null,
        double? muWater = null, ConsistencyFunction? prior = null, FbpFilter filter = FbpFilter.Ramp, IProgress<SolverProgress>? progress = null)
    {
        if (!IsZeroShot(method)) throw new CliException($"--method {method}: not a zero-shot method (cm, diffusion)");
        var m = method == "diffusion" ? ZeroShotMethod.Diffusion : ZeroShotMethod.Consistency;
        var o = options is null
            ? new ZeroShotOptions { Method = m, Nfe = m == ZeroShotMethod.Diffusion ? ZeroShotDefaults.DiffusionNfe : 4 }
            : options with { Method = m };
        using var scope = NewDisposeScope();
        LoadedPrior? loaded = prior is null ? Priors.Load("ct", null) : null;
        try
        {
            var a = CtProjector.Create(g, angles);
            var fbp = FilteredBackProjection.Reconstruct(sino, g, angles, filter);
            var r = ZeroShotSolver.ReconstructCt(prior ?? loaded!.Function, a, sino, fbp, muWater, o, progress, angles);
            r.Mean.MoveToOuterDisposeScope();
            r.StandardDeviation?.MoveToOuterDisposeScope();
            return r;
        }
        finally { loaded?.Dispose(); }
    }

    public static Tensor Run(string method, Tensor sino, CtGeometry g, double[] angles, FbpFilter filter = FbpFilter.Ramp,
        int? iterations = null, double? lambda = null, bool nonNegative = false,
        ZeroShotOptions? zeroShot = null, double? muWater = null, ConsistencyFunction? prior = null, IProgress<SolverProgress>? progress = null,
        double? photons = null)
    {
        if (IsZeroShot(method))
        {
            var r = RunZeroShot(method, sino, g, angles, zeroShot, muWater, prior, filter, progress);
            r.StandardDeviation?.Dispose();
            return r.Mean;
        }
        switch (method)
        {
            case "fbp":
                return FilteredBackProjection.Reconstruct(sino, g, angles, filter);
            case "sirt":
                return Sirt.Reconstruct(CtProjector.Create(g, angles), sino, iterations ?? 200, nonNegative);
            case "cgls":
                return CtIterative.Cgls(CtProjector.Create(g, angles), sino, iterations ?? CtIterative.DefaultCglsIterations, lambda ?? 0.0);
            case "tv":
            {
                // With a dose: penalised weighted least squares, each ray weighed by its counts.
                using var scope = NewDisposeScope();
                var projector = CtProjector.Create(g, angles);
                var (a, y) = photons is > 0 and double i0 ? CtSimulation.WeightByCounts(projector, sino, i0) : (projector, sino);
                // Started at the FBP: from Aᵀy PDHG needs about three times the iterations (CtIterative.DefaultTvIterations).
                var fbp = FilteredBackProjection.Reconstruct(sino, g, angles, filter);
                return CtIterative.Tv(a, y, lambda ?? 0.002, iterations ?? CtIterative.DefaultTvIterations, nonNegative, initial: fbp).MoveToOuterDisposeScope();
            }
            default:
                throw new CliException($"--method {method}: unknown (fbp, sirt, cgls, tv)");
        }
    }
}

/// <summary>CT-specific CLI helpers: geometry names, image input, all-or-nothing single-file output.</summary>
static class CtCli
{
    /// <summary>The noise model that `simulate ct` recorded next to <paramref name="sinogramPath"/> — the Poisson dose I0 or
    /// the Gaussian σ (each null when absent or zero) — else null. A record of another sinogram (other view count;
    /// `simulate mri` writes the same file name) is ignored with a line on stderr; an unreadable one is an error, as for
    /// `recon mri`.</summary>
    public static (double? Photons, double? GaussianSigma)? RecordedNoise(string sinogramPath, int views)
    {
        using var doc = SimulationRecord.Open(sinogramPath, out var record);
        if (doc is null) return null;
        try
        {
            var root = doc.RootElement;
            if (!root.TryGetProperty("photons", out _)) return null;
            if (!root.TryGetProperty("views", out var n) || n.ValueKind != System.Text.Json.JsonValueKind.Number || n.GetInt32() != views)
            {
                Console.Error.WriteLine($"warning: {record} records another sinogram (not {views} views); its noise model is ignored");
                return null;
            }
            static double? Positive(System.Text.Json.JsonElement root, string name) =>
                root.TryGetProperty(name, out var v) && v.ValueKind == System.Text.Json.JsonValueKind.Number && v.GetDouble() is > 0 and var x && double.IsFinite(x) ? x : null;
            return (Positive(root, "photons"), Positive(root, "gaussianNoise"));
        }
        catch (Exception e) when (e is FormatException or InvalidOperationException)
        {
            throw SimulationRecord.Invalid(record, e.Message, e);
        }
    }

    public static CtBeam ParseBeam(string s) => s.ToLowerInvariant() switch
    {
        "parallel" => CtBeam.Parallel,
        "fan" or "fan-flat" or "fanflat" => CtBeam.FanFlat,
        "fan-equiangular" or "fan-arc" => CtBeam.FanEquiangular,
        _ => throw new CliException($"--geometry {s}: unknown (parallel, fan, fan-equiangular)"),
    };

    public static Tensor ReadImage(string path)
    {
        var t = Npy.Read(path);
        if (t.dim() != 2 || t.shape[0] != t.shape[1] || t.numel() == 0)
            throw new InvalidInputFileException(path, $"image must be a non-empty square 2-D array, has shape {Tensors.ShapeString(t.shape)}");
        if (t.is_complex()) throw new InvalidInputFileException(path, "image must be real for CT");
        t = t.to(ScalarType.Float32);
        if (!Tensors.AllFinite(t)) throw new InvalidInputFileException(path, "image contains NaN or infinite values");
        return t;
    }
}
