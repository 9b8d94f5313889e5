using System.Globalization;
using System.Text;
using MedRecon.Core.IO;
using MedRecon.Model;
using MedRecon.Model.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace MedRecon.Cli.Pipelines;

/// <summary>
/// Model-card material written by <c>medrecon train --evaluate --report DIR</c>: the quality table as markdown,
/// 1- and 2-step unconditional samples, and montages of a held-out slice, its noisy version and the denoised results
/// at σ = 0.1 and 0.5. Every picture shares the gray window of the clean held-out slice shown (min..max), so
/// intensities are comparable across panels and files.
/// </summary>
public static class PriorReport
{
    /// <summary>2-step schedule: σ_max, then σ = 0.821, the intermediate level of the ECT/iCT reference 2-step sampler.</summary>
    public const double TwoStepMidSigma = 0.821;
    public const int Samples = 4;
    public static readonly double[] MontageSigmas = { 0.1, 0.5 };

    public static readonly string[] Files =
        { "table.md", "samples-1step.png", "samples-2step.png", "denoise-sigma0.1.png", "denoise-sigma0.5.png" };

    /// <param name="heldOut">Clean held-out slices in network units (the first one in the middle of the list is shown).</param>
    /// <param name="header">Lines above the table (what was evaluated, how).</param>
    public static void Write(string dir, ConsistencyFunction f, IReadOnlyList<Tensor> heldOut, IReadOnlyList<PriorEvaluation.Row> rows,
        int? crop, ulong seed, IReadOnlyList<string> header)
    {
        using var scope = NewDisposeScope();
        using var noGrad = torch.no_grad();
        f.Network.eval();
        var clean = PriorEvaluation.Crop(heldOut[heldOut.Count / 2].to(ScalarType.Float32), crop).contiguous();
        double lo = clean.min().item<float>(), hi = clean.max().item<float>();
        long h = clean.shape[^2], w = clean.shape[^1];

        var md = new StringBuilder();
        foreach (var line in header) md.AppendLine(line);
        md.AppendLine();
        md.AppendLine(PriorEvaluation.Markdown(rows));
        md.AppendLine();
        md.AppendLine(Inv($"Pictures (gray window {lo:F3}..{hi:F3}, the clean held-out slice's range, normalised units): ") +
                          Inv($"`samples-1step.png` = {Samples} samples f(σ_max z, σ_max) with σ_max = {f.Noise.SigmaMax}; ") +
                          Inv($"`samples-2step.png` = {Samples} samples over the schedule [{f.Noise.SigmaMax}, {TwoStepMidSigma}] (same z; ") +
                          Inv($"seed {seed}); `denoise-sigma*.png` = held-out slice {heldOut.Count / 2 + 1} of {heldOut.Count} (clean | noisy | f(x+σz, σ) | TV/ROF with the table's λ)."));

        var sampler = new Sampler(f);
        var shape = new long[] { Samples, f.Network.Config.InChannels, h, w };
        var one = sampler.Generate(shape, new torch.Generator(seed));
        var two = sampler.Generate(shape, new[] { f.Noise.SigmaMax, TwoStepMidSigma }, new torch.Generator(seed));

        var noiseGen = new torch.Generator(seed + 1);
        var montages = new List<(string Name, List<Tensor> Panels, string[] Captions)>();
        foreach (double sigma in MontageSigmas)
        {
            var noisy = clean + torch.randn(clean.shape, generator: noiseGen) * sigma;
            var row = rows.FirstOrDefault(r => Math.Abs(r.Sigma - sigma) < 1e-9);
            double lambda = row is { TvLambda: var l } && double.IsFinite(l) ? l : PriorEvaluation.DefaultRofFactor * sigma;
            var panels = new List<Tensor> { clean, noisy, f.Forward(noisy, sigma), RofDenoiser.Denoise(noisy, lambda) };
            var captions = new[]
            {
                "held-out", Inv($"noisy sigma {sigma:0.##}"), Inv($"prior {PriorEvaluation.Psnr(clean, panels[2]):F1}dB"),
                Inv($"TV {PriorEvaluation.Psnr(clean, panels[3]):F1}dB"),
            };
            montages.Add((Inv($"denoise-sigma{sigma:0.0##}.png"), panels, captions));
        }

        CliSupport.WriteFolder(dir, tmp =>
        {
            File.WriteAllText(Path.Combine(tmp, "table.md"), md.ToString());
            WriteSamples(Path.Combine(tmp, "samples-1step.png"), one, "1-step", lo, hi);
            WriteSamples(Path.Combine(tmp, "samples-2step.png"), two, "2-step", lo, hi);
            foreach (var (name, panels, captions) in montages) Png.WriteMontage(Path.Combine(tmp, name), panels, captions, lo, hi);
        });
    }

    static void WriteSamples(string path, Tensor batch, string label, double lo, double hi)
    {
        var panels = Enumerable.Range(0, (int)batch.shape[0]).Select(i => batch[i, 0]).ToList();
        var captions = Enumerable.Range(0, panels.Count).Select(i => $"{label} #{i + 1}").ToList();
        Png.WriteMontage(path, panels, captions, lo, hi);
    }

    static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
