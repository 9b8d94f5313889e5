using System.CommandLine;
using System.Text.Json;
using MedRecon.Cli.Pipelines;
using MedRecon.Core.IO;
using MedRecon.Operators.Mri;
using MedRecon.Phantoms;
using static TorchSharp.torch;

namespace MedRecon.Cli.Commands;

public static class SimulateCommand
{
    public static Command Create(params Command[] more)
    {
        var cmd = new Command("simulate", "Simulate measurements (undersampled k-space, projections) from an image or phantom.");
        cmd.Subcommands.Add(CreateMri());
        foreach (var c in more) cmd.Subcommands.Add(c);
        return cmd;
    }

    static Command CreateMri()
    {
        var image = new Option<string>("--image")
        {
            Description = "Image FILE.npy (rows, cols), real or complex; a DICOM file or folder (one series; k-space = FFT of the " +
                          "modality values); or a phantom: shepp-logan, ellipses[:SEED] (phantoms use analytic k-space, avoiding the inverse crime).",
            Required = true,
        };
        var size = new Option<int>("--size") { Description = "Image size for phantoms.", DefaultValueFactory = _ => 256 };
        var mask = new Option<string>("--mask") { Description = "Sampling: equispaced, random (1-D, fastMRI), poisson (2-D variable density), radial.", DefaultValueFactory = _ => "equispaced" };
        mask.AcceptOnlyFromAmong("equispaced", "random", "poisson", "radial");
        var accel = new Option<double>("--accel") { Description = "Acceleration R (total / sampled points).", DefaultValueFactory = _ => 4.0 };
        var center = new Option<double>("--center-fraction") { Description = "Fraction of k-space centre fully sampled.", DefaultValueFactory = _ => 0.08 };
        var coils = new Option<int>("--coils") { Description = "Number of coils (birdcage maps when > 1).", DefaultValueFactory = _ => 1 };
        var noise = new Option<double>("--noise") { Description = "Std of complex Gaussian k-space noise per real/imag part.", DefaultValueFactory = _ => 0.0 };
        var seed = new Option<int>("--seed") { Description = "Seed for the mask and noise.", DefaultValueFactory = _ => 0 };
        var slice = new Option<string?>("--slice") { Description = "DICOM input: 0-based slice index in the sorted series, or 'all' (ksp (slices, coils, ky, kx), gt (slices, ky, kx)); default the middle slice." };
        var series = new Option<string?>("--series") { Description = "DICOM input with several series: SeriesInstanceUID or 1-based index from `dicom info`." };
        var output = new Option<string>("--out") { Description = "Output folder: ksp.npy, mask.npy, maps.npy (C > 1), gt.npy, simulation.json.", Required = true };

        var cmd = new Command("mri", "Simulate undersampled Cartesian k-space (single or multi-coil).")
        {
            image, size, mask, accel, center, coils, noise, seed, slice, series, output,
        };
        cmd.SetAction(p => CliSupport.Run(() =>
        {
            var o = new MriSimulationOptions(ParseMask(p.GetValue(mask)!), p.GetValue(accel), p.GetValue(center),
                p.GetValue(coils), p.GetValue(noise), p.GetValue(seed));
            if (o.Coils < 1 || o.Coils > 64) throw new CliException($"--coils {o.Coils}: must be between 1 and 64");
            if (o.Noise < 0 || !double.IsFinite(o.Noise)) throw new CliException($"--noise {o.Noise}: must be ≥ 0");
            using var scope = NewDisposeScope();
            string imageSpec = p.GetValue(image)!;
            string? sliceSpec = p.GetValue(slice), seriesSpec = p.GetValue(series);
            bool dicom = !TryPhantom(imageSpec, out _) && DicomImages.IsDicom(imageSpec);
            if (!dicom && (sliceSpec is not null || seriesSpec is not null))
                throw new CliException("--slice and --series apply to DICOM --image input only");
            object? dicomInfo = null;
            MriMeasurement m;
            if (dicom)
            {
                var src = DicomImages.Read(imageSpec, seriesSpec, sliceSpec);
                bool stacked = sliceSpec is not null && sliceSpec.Equals("all", StringComparison.OrdinalIgnoreCase);
                m = SimulateDicom(src, o, stacked);
                dicomInfo = new
                {
                    path = Path.GetFullPath(imageSpec),
                    seriesInstanceUID = src.Series.SeriesInstanceUID,
                    studyInstanceUID = src.Series.StudyInstanceUID,
                    modality = src.Series.Modality,
                    seriesSlices = src.Series.SliceCount,
                    slices = src.Indices,
                    stacked,
                };
            }
            else m = SimulateFrom(imageSpec, p.GetValue(size), o);
            string dir = p.GetValue(output)!;
            CliSupport.WriteFolder(dir, tmp =>
            {
                Npy.Write(Path.Combine(tmp, "ksp.npy"), m.KSpace);
                Npy.Write(Path.Combine(tmp, "mask.npy"), m.Mask.Mask);
                if (m.Maps is not null) Npy.Write(Path.Combine(tmp, "maps.npy"), m.Maps);
                Npy.Write(Path.Combine(tmp, "gt.npy"), m.GroundTruth);
                File.WriteAllText(Path.Combine(tmp, SimulationRecord.FileName), JsonSerializer.Serialize(new
                {
                    source = m.Source,
                    mask = m.Mask.Kind.ToString().ToLowerInvariant(),
                    requestedAcceleration = o.Acceleration,
                    acceleration = m.Mask.Acceleration,
                    centerFraction = o.CenterFraction,
                    coils = o.Coils,
                    noise = o.Noise,
                    seed = o.Seed,
                    kspaceShape = m.KSpace.shape,
                    dicom = dicomInfo,
                }, new JsonSerializerOptions { WriteIndented = true }));
            });
            Console.WriteLine($"wrote {dir}: ksp {Core.Tensors.ShapeString(m.KSpace.shape)}, {m.Mask.Kind.ToString().ToLowerInvariant()} mask, " +
                              $"acceleration {m.Mask.Acceleration:F2} (requested {o.Acceleration})");
            return 0;
        }));
        return cmd;
    }

    /// <summary>Simulates every selected DICOM slice with the same mask and maps (noise seeded per slice). One slice gives
    /// ksp (coils, ky, kx) and gt (ky, kx); `--slice all` gives ksp (slices, coils, ky, kx) and gt (slices, ky, kx).
    /// The image is real (MR magnitude / CT HU), so k-space is the centred FFT of the modality values.</summary>
    static MriMeasurement SimulateDicom(DicomSlices src, MriSimulationOptions o, bool stacked)
    {
        string source = $"dicom:{Path.GetFileName(Path.TrimEndingDirectorySeparator(src.Path))} slice(s) {string.Join(",", src.Indices)}";
        int n = (int)src.Images.shape[0];
        if (!stacked)
            return MriPipeline.SimulateImage(src.Images[0], o, source);
        using var scope = NewDisposeScope();
        var parts = Enumerable.Range(0, n).Select(i => MriPipeline.SimulateImage(src.Images[i], o, source, noiseSeed: o.Seed + 104729 * i)).ToList();
        var ksp = stack(parts.Select(q => q.KSpace).ToList());
        var gt = stack(parts.Select(q => q.GroundTruth).ToList());
        return new MriMeasurement(ksp.MoveToOuterDisposeScope(), parts[0].Mask with { Mask = parts[0].Mask.Mask.MoveToOuterDisposeScope() },
            parts[0].Maps?.MoveToOuterDisposeScope(), gt.MoveToOuterDisposeScope(), source);
    }

    public static MaskKind ParseMask(string s) => s.ToLowerInvariant() switch
    {
        "equispaced" => MaskKind.Equispaced,
        "random" => MaskKind.Random,
        "poisson" => MaskKind.Poisson,
        "radial" => MaskKind.Radial,
        _ => throw new CliException($"--mask {s}: unknown (use equispaced, random, poisson or radial)"),
    };

    /// <summary>Resolves --image: a phantom name or a .npy file (DICOM arrives with the DICOM issue).</summary>
    public static MriMeasurement SimulateFrom(string image, int size, MriSimulationOptions o)
    {
        if (TryPhantom(image, out var phantom)) return MriPipeline.SimulatePhantom(phantom!, size, o);
        var img = CliSupport.ReadNpy(image, "image", new[] { 2 });
        return MriPipeline.SimulateImage(img, o, Path.GetFileName(image));
    }

    public static bool TryPhantom(string spec, out EllipsePhantom? phantom)
    {
        phantom = null;
        if (spec.Equals("shepp-logan", StringComparison.OrdinalIgnoreCase)) phantom = EllipsePhantom.SheppLogan();
        else if (spec.StartsWith("ellipses", StringComparison.OrdinalIgnoreCase) && !spec.EndsWith(".npy", StringComparison.OrdinalIgnoreCase))
        {
            int seed = 0;
            var parts = spec.Split(':');
            if (parts.Length == 2 && !int.TryParse(parts[1], out seed)) throw new CliException($"--image {spec}: seed must be an integer (ellipses:SEED)");
            phantom = EllipsePhantom.Random(seed);
        }
        return phantom != null;
    }
}
