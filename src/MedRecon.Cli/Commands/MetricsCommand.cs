using System.CommandLine;
using System.Text.Json;
using MedRecon.Core;
using static TorchSharp.torch;

namespace MedRecon.Cli.Commands;

public static class MetricsCommand
{
    public static Command Create()
    {
        var reference = new Option<string>("--ref") { Description = "Reference FILE.npy.", Required = true };
        var test = new Option<string>("--test") { Description = "Test FILE.npy (same shape; magnitudes compared for complex data).", Required = true };
        var json = new Option<bool>("--json") { Description = "Print JSON instead of text." };
        var cmd = new Command("metrics", "PSNR, SSIM and NMSE of a test image against a reference (definitions: docs/metrics.md).")
        {
            reference, test, json,
        };
        cmd.SetAction(p => CliSupport.Run(() =>
        {
            using var scope = NewDisposeScope();
            string rPath = p.GetValue(reference)!, tPath = p.GetValue(test)!;
            var r = CliSupport.ReadNpy(rPath, "reference", new[] { 2, 3 });
            var t = CliSupport.ReadNpy(tPath, "test image", new[] { 2, 3 });
            if (!r.shape.SequenceEqual(t.shape))
                throw new CliException($"{tPath}: shape {Tensors.ShapeString(t.shape)} differs from reference {rPath} {Tensors.ShapeString(r.shape)}");
            var m = Metrics.Compute(r, t);
            if (p.GetValue(json))
                Console.WriteLine(JsonSerializer.Serialize(new { psnr = m.Psnr, ssim = m.Ssim, nmse = m.Nmse }));
            else
                Console.WriteLine($"PSNR {m.Psnr:F3} dB\nSSIM {m.Ssim:F5}\nNMSE {m.Nmse:E4}");
            return 0;
        }));
        return cmd;
    }
}
