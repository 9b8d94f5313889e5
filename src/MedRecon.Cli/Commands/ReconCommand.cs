using System.CommandLine;
using System.Diagnostics;
using MedRecon.Cli.Pipelines;
using MedRecon.Core;
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
        var kspace = new Option<string>("--kspace") { Description = "k-space FILE.npy, complex64 (coils, ky, kx) or (ky, kx), unsampled entries 0.", Required = true };
        var mask = new Option<string>("--mask") { Description = "Sampling mask FILE.npy (ky, kx), 1 = sampled.", Required = true };
        var maps = new Option<string?>("--maps") { Description = "Coil maps FILE.npy (coils, ky, kx); estimated from the k-space centre when omitted and coils > 1." };
        var method = new Option<string>("--method") { Description = "zf (zero-filled), cg (CG-SENSE), tv (total variation, PDHG), wavelet (ℓ1, FISTA).", DefaultValueFactory = _ => "tv" };
        method.AcceptOnlyFromAmong("zf", "cg", "tv", "wavelet");
        var lambda = new Option<double?>("--lambda") { Description = "Regularisation weight (tv, wavelet: relative to max|Aᴴy|; cg: Tikhonov). Default per method." };
        var iters = new Option<int?>("--iters") { Description = "Iterations. Default per method (cg 30, tv 200, wavelet 100)." };
        var reference = new Option<string?>("--ref") { Description = "Optional ground truth FILE.npy: print PSNR/SSIM/NMSE of the result." };
        var output = new Option<string>("--out") { Description = "Output FILE.npy (complex64 image) or FILE.png (magnitude).", Required = true };
        var cmd = new Command("mri", "Classical Cartesian MRI reconstruction (single coil or SENSE).")
        {
            kspace, mask, maps, method, lambda, iters, reference, output,
        };
        cmd.SetAction(p => CliSupport.Run(() =>
        {
            string outPath = p.GetValue(output)!;
            CliSupport.CheckOutputExtension(outPath, ".npy", ".png");
            using var scope = NewDisposeScope();
            string kPath = p.GetValue(kspace)!, mPath = p.GetValue(mask)!;
            string? mapsPath = p.GetValue(maps);
            var k = CliSupport.ReadNpy(kPath, "k-space", new[] { 2, 3 });
            var m = CliSupport.ReadNpy(mPath, "mask", new[] { 2 });
            var s = mapsPath is null ? null : CliSupport.ReadNpy(mapsPath, "coil maps", new[] { 3 });
            MriPipeline.ValidateInputs(k, m, s, kPath, mPath, mapsPath ?? "maps");
            Tensor? gt = p.GetValue(reference) is { } r ? CliSupport.ReadNpy(r, "reference", new[] { 2 }) : null;
            var methodValue = Enum.Parse<MriMethod>(p.GetValue(method)!, ignoreCase: true);
            var clock = Stopwatch.StartNew();
            var x = MriPipeline.Reconstruct(k, m, s, methodValue, p.GetValue(lambda), p.GetValue(iters),
                new ConsoleProgress(methodValue.ToString().ToLowerInvariant()));
            clock.Stop();
            CliSupport.WriteImage(outPath, x);
            Console.WriteLine($"wrote {outPath} ({methodValue.ToString().ToLowerInvariant()}, {clock.Elapsed.TotalSeconds:F2} s)");
            if (gt is not null)
            {
                var metrics = Metrics.Compute(gt, x);
                Console.WriteLine($"PSNR {metrics.Psnr:F2} dB  SSIM {metrics.Ssim:F4}  NMSE {metrics.Nmse:E3}");
            }
            return 0;
        }));
        return cmd;
    }
}
