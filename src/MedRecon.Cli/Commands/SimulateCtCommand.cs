using System.CommandLine;
using MedRecon.Core.IO;
using MedRecon.Operators.Ct;
using MedRecon.Phantoms;
using TorchSharp;
using static TorchSharp.torch;

namespace MedRecon.Cli.Commands;

/// <summary><c>medrecon simulate ct</c>: sinogram simulation without the inverse crime.</summary>
public static class SimulateCtCommand
{
    public static Command Create()
    {
        var image = new Option<string>("--image")
        {
            Description = "Image FILE.npy (N, N) real, a DICOM file or folder (one square slice; CT HU → attenuation per mm, " +
                          "pixel size from PixelSpacing), or a phantom: 'shepp-logan' or 'ellipses[:SEED]' (a seeded random-ellipse phantom, as validate's), from the " +
                          "analytic line integrals of its ellipses. " +
                          "Images are projected on a 2x finer grid and detector, not with the reconstruction operator.",
            Required = true,
        };
        var size = new Option<int>("--size") { Description = "Image size N for phantoms.", DefaultValueFactory = _ => 256 };
        var views = new Option<int>("--views") { Description = "Number of view angles.", Required = true };
        var arc = new Option<double?>("--arc") { Description = "Angular range in degrees (default 180 parallel, 360 fan); limited angle when smaller." };
        var geometry = new Option<string>("--geometry") { Description = "parallel, fan (flat detector) or fan-equiangular.", DefaultValueFactory = _ => "parallel" };
        var detectors = new Option<int?>("--detectors") { Description = "Detector count (default: covers the image's diagonal)." };
        var pixelSize = new Option<double>("--pixel-size")
        {
            Description = "Pixel size in the unit of the geometry; line integrals are in value × that unit. With --photons the " +
                          "values must be attenuation per unit length (e.g. --pixel-size 0.01 for a phantom of values ~1 over 100 px).",
            DefaultValueFactory = _ => 1.0,
        };
        var photons = new Option<double?>("--photons") { Description = "Poisson noise with I0 incident photons per detector element (then −log)." };
        var noise = new Option<double?>("--noise") { Description = "Gaussian noise with standard deviation SIGMA (sinogram units)." };
        var seed = new Option<int>("--seed") { Description = "Seed for the noise (explicit generator).", DefaultValueFactory = _ => 0 };
        var slice = new Option<string?>("--slice") { Description = "DICOM input: 0-based slice index in the sorted series (default: the middle slice)." };
        var series = new Option<string?>("--series") { Description = "DICOM input with several series: SeriesInstanceUID or 1-based index." };
        var output = new Option<string>("--out") { Description = "Output folder: sino.npy, angles.npy, geometry.json, gt.npy, simulation.json (+ dicom-source.json).", Required = true };
        var cmd = new Command("ct", "Simulate a CT sinogram (parallel or fan beam) from an image or a phantom.")
        {
            image, size, views, arc, geometry, detectors, pixelSize, photons, noise, seed, slice, series, output,
        };
        cmd.SetAction(p => CliSupport.Run(() =>
        {
            string imageSpec = p.GetValue(image)!;
            int v = p.GetValue(views);
            if (v < 1) throw new CliException($"--views {v}: must be positive");
            var beam = CtCli.ParseBeam(p.GetValue(geometry)!);
            double arcDeg = p.GetValue(arc) ?? (beam == CtBeam.Parallel ? 180.0 : 360.0);
            if (!(arcDeg > 0) || arcDeg > 360) throw new CliException($"--arc {arcDeg}: must be in (0, 360]");
            double px = p.GetValue(pixelSize);
            // Phantoms are projected analytically (their exact line integrals), as validate simulates them.
            bool phantom = SimulateCommand.TryPhantom(imageSpec, out var ellipses);
            bool dicom = !phantom && Pipelines.DicomImages.IsDicom(imageSpec);
            if (!dicom && (p.GetValue(slice) is not null || p.GetValue(series) is not null))
                throw new CliException("--slice and --series apply to DICOM --image input only");
            using var dicomScope = NewDisposeScope();
            var dicomSlice = dicom ? Pipelines.CtDicom.Read(imageSpec, p.GetValue(series), p.GetValue(slice)) : null;
            if (dicomSlice is not null && p.GetResult(pixelSize) is null or { Implicit: true }) px = dicomSlice.PixelSizeMm;
            if (!(px > 0) || !double.IsFinite(px)) throw new CliException($"--pixel-size {px}: must be positive");
            double? i0 = p.GetValue(photons), sigma = p.GetValue(noise);
            if (i0 is not null && sigma is not null) throw new CliException("--photons and --noise are exclusive: choose one noise model");
            if (i0 is not null && !(i0 > 0 && double.IsFinite(i0.Value))) throw new CliException($"--photons {i0}: must be positive and finite");
            if (sigma is not null && !(sigma >= 0)) throw new CliException($"--noise {sigma}: must be ≥ 0");
            int? det = p.GetValue(detectors);
            if (det is < 1) throw new CliException($"--detectors {det}: must be positive");

            using var scope = NewDisposeScope();
            Tensor gt;
            if (phantom)
            {
                int n = p.GetValue(size);
                if (n < 8 || n > 4096) throw new CliException($"--size {n}: must be between 8 and 4096");
                gt = ellipses!.Rasterize(n);
            }
            else if (dicomSlice is not null) gt = dicomSlice.Image;
            else gt = CtCli.ReadImage(imageSpec);
            int size0 = (int)gt.shape[0];
            var g = beam == CtBeam.Parallel
                ? CtGeometry.ParallelBeam(size0, det, detectorSpacing: px, pixelSize: px)
                : CtGeometry.FanBeam(size0, flatDetector: beam == CtBeam.FanFlat, detectors: det, pixelSize: px);
            var angles = CtAngles.Uniform(v, arcDeg);
            g = g with { Views = v };
            Tensor sino;
            if (phantom)
            {
                var data = beam == CtBeam.Parallel
                    ? ellipses!.ParallelProjection(angles, g.Detectors, g.DetectorSpacing, size0, px, subsamples: 2)
                    : ellipses!.FanProjection(angles, g.Detectors, g.DetectorSpacing, g.SourceDistance, g.DetectorDistance, size0, px,
                        equiangular: beam == CtBeam.FanEquiangular, subsamples: 2);
                sino = torch.tensor(data, new long[] { v, g.Detectors });
            }
            else sino = CtSimulation.ProjectFine(gt, g, angles, 2);

            var gen = new torch.Generator((ulong)p.GetValue(seed));
            if (i0 is not null)
            {
                double max = sino.max().item<float>();
                if (max > 12) Console.Error.WriteLine($"warning: line integrals reach {max:G3}, so I0·exp(−p) is ~0 on many rays; " +
                                                      "use a smaller --pixel-size so values are attenuation per unit length");
                sino = CtSimulation.AddPoissonNoise(sino, i0.Value, gen);
            }
            else if (sigma is > 0) sino = CtSimulation.AddGaussianNoise(sino, sigma.Value, gen);

            string dir = p.GetValue(output)!;
            CliSupport.WriteFolder(dir, tmp =>
            {
                Npy.Write(Path.Combine(tmp, "sino.npy"), sino.to(ScalarType.Float32));
                Npy.Write(Path.Combine(tmp, "angles.npy"), torch.tensor(angles, ScalarType.Float64));
                File.WriteAllText(Path.Combine(tmp, "geometry.json"), g.ToJson());
                Npy.Write(Path.Combine(tmp, "gt.npy"), gt.to(ScalarType.Float32));
                if (dicomSlice is not null) Pipelines.CtDicom.WriteRecord(tmp, dicomSlice);
                // The noise model, so `recon ct --method cm` can weigh its data consistency by the dose.
                File.WriteAllText(Path.Combine(tmp, SimulationRecord.FileName), System.Text.Json.JsonSerializer.Serialize(new
                {
                    views = v, arc = arcDeg, beam = g.Beam.ToString(), photons = i0, gaussianNoise = sigma ?? 0, seed = p.GetValue(seed),
                }));
            });
            // a record left by an earlier DICOM simulation into this folder would name the wrong source
            if (dicomSlice is null) File.Delete(Path.Combine(dir, Pipelines.CtDicom.RecordName));
            Console.WriteLine($"wrote {dir}: sinogram ({v}, {g.Detectors}) {g.Beam}, arc {arcDeg}°, " +
                              (i0 is not null ? $"Poisson I0={i0}" : sigma is > 0 ? $"Gaussian σ={sigma}" : "noise-free"));
            return 0;
        }));
        return cmd;
    }
}
