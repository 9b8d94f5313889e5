using System.CommandLine;
using MedRecon.Phantoms;
using static TorchSharp.torch;

namespace MedRecon.Cli.Commands;

public static class PhantomCommand
{
    public static Command Create()
    {
        var kind = new Option<string>("--kind")
        {
            Description = "Phantom: shepp-logan (modified, Toft contrast) or ellipses (seeded random ellipses).",
            DefaultValueFactory = _ => "shepp-logan",
        };
        kind.AcceptOnlyFromAmong("shepp-logan", "ellipses");
        var size = new Option<int>("--size") { Description = "Image size N (N x N pixels).", DefaultValueFactory = _ => 256 };
        var count = new Option<int>("--count") { Description = "Number of phantoms (ellipses: seeds S, S+1, ...); K > 1 writes a (K, N, N) stack.", DefaultValueFactory = _ => 1 };
        var seed = new Option<int>("--seed") { Description = "Seed of the first random phantom.", DefaultValueFactory = _ => 0 };
        var output = new Option<string>("--out") { Description = "Output FILE.npy (float32), FILE.png (preview; a montage for K > 1) or a new folder DIR (DICOM series, K slices).", Required = true };
        var format = new Option<string?>("--format") { Description = "npy, png or dicom; default from --out (.npy, .png, otherwise dicom)." };
        format.AcceptOnlyFromAmong("npy", "png", "dicom");
        var modality = new Option<string>("--modality")
        {
            Description = "DICOM only: ct (value v → HU = −1000 + 2000·v: 0 air, 0.5 water, 1 bone at +1000 HU) or mr (stored units 1000·v).",
            DefaultValueFactory = _ => "mr",
        };
        modality.AcceptOnlyFromAmong("ct", "mr");
        var fov = new Option<double>("--fov") { Description = "DICOM only: field of view in mm (pixel spacing = FOV / N; slices 5 mm apart).", DefaultValueFactory = _ => 256.0 };

        var cmd = new Command("phantom", "Rasterise a Shepp–Logan or random-ellipse phantom to .npy, .png or a DICOM series.")
        {
            kind, size, count, seed, output, format, modality, fov,
        };
        cmd.SetAction(p => CliSupport.Run(() =>
        {
            string path = p.GetValue(output)!;
            int n = p.GetValue(size), k = p.GetValue(count);
            if (n < 8 || n > 4096) throw new CliException($"--size {n}: must be between 8 and 4096");
            if (k < 1 || k > 10000) throw new CliException($"--count {k}: must be between 1 and 10000");
            string fmt = p.GetValue(format) ?? FormatFromPath(path);
            if (fmt != "dicom") CliSupport.CheckOutputExtension(path, "." + fmt);
            else if (Path.GetExtension(path).ToLowerInvariant() is ".npy" or ".png")
                throw new CliException($"{path}: --format dicom writes a series into a folder; give a folder name without .npy/.png");
            double fovMm = p.GetValue(fov);
            if (!(fovMm > 0 && fovMm <= 10000)) throw new CliException($"--fov {fovMm}: must be between 0 and 10000 mm");
            if (fmt == "dicom") Pipelines.DicomImages.CheckOutputFolder(path);
            using var scope = NewDisposeScope();
            var images = Enumerable.Range(0, k).Select(i => Make(p.GetValue(kind)!, p.GetValue(seed) + i).Rasterize(n)).ToList();
            var result = k == 1 ? images[0] : stack(images);
            if (fmt == "dicom")
            {
                string mod = p.GetValue(modality)!.ToUpperInvariant();
                var values = ToModalityUnits(result, mod);
                string name = p.GetValue(kind) == "ellipses" ? $"random ellipses (seed {p.GetValue(seed)})" : "Shepp-Logan";
                var files = Pipelines.DicomImages.WritePhantom(values, mod, name, (fovMm / n, fovMm / n, 5.0), path);
                Console.WriteLine($"wrote {path}: {mod} phantom series, {files.Count} slice(s) of {n}x{n}");
                return 0;
            }
            CliSupport.WriteImage(path, result);
            Console.WriteLine($"wrote {path} {Core.Tensors.ShapeString(result.shape)}");
            return 0;
        }));
        return cmd;
    }

    /// <summary>Format from the output path: .npy, .png, otherwise (a folder) DICOM.</summary>
    static string FormatFromPath(string path) => Path.GetExtension(path).ToLowerInvariant() switch
    {
        ".npy" => "npy",
        ".png" => "png",
        "" => "dicom",
        var e => throw new CliException($"{path}: unknown output format '{e}' (use .npy, .png or a folder with --format dicom)"),
    };

    /// <summary>Phantom value v (0 = background, 1 = Shepp–Logan skull) to DICOM modality units: CT in HU,
    /// −1000 + 2000·v (air −1000, 0.5 → water 0, 1 → +1000 HU); MR in stored units, 1000·v.</summary>
    public static Tensor ToModalityUnits(Tensor phantom, string modality) =>
        modality == "CT" ? phantom * 2000.0 - 1000.0 : phantom * 1000.0;

    internal static EllipsePhantom Make(string kind, int seed) =>
        kind == "ellipses" ? EllipsePhantom.Random(seed) : EllipsePhantom.SheppLogan();
}
