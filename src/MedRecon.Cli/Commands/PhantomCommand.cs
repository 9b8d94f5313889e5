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
        var output = new Option<string>("--out") { Description = "Output FILE.npy (float32) or FILE.png (preview; a montage for K > 1).", Required = true };

        var cmd = new Command("phantom", "Rasterise a Shepp–Logan or random-ellipse phantom to .npy or .png.")
        {
            kind, size, count, seed, output,
        };
        cmd.SetAction(p => CliSupport.Run(() =>
        {
            string path = p.GetValue(output)!;
            int n = p.GetValue(size), k = p.GetValue(count);
            if (n < 8 || n > 4096) throw new CliException($"--size {n}: must be between 8 and 4096");
            if (k < 1 || k > 10000) throw new CliException($"--count {k}: must be between 1 and 10000");
            CliSupport.CheckOutputExtension(path, ".npy", ".png");
            using var scope = NewDisposeScope();
            var images = Enumerable.Range(0, k).Select(i => Make(p.GetValue(kind)!, p.GetValue(seed) + i).Rasterize(n)).ToList();
            var result = k == 1 ? images[0] : stack(images);
            CliSupport.WriteImage(path, result);
            Console.WriteLine($"wrote {path} {Core.Tensors.ShapeString(result.shape)}");
            return 0;
        }));
        return cmd;
    }

    internal static EllipsePhantom Make(string kind, int seed) =>
        kind == "ellipses" ? EllipsePhantom.Random(seed) : EllipsePhantom.SheppLogan();
}
