using System.Globalization;
using MedRecon.Core.IO;
using MedRecon.Tests.Infrastructure;
using TorchSharp;
using static TorchSharp.torch;

namespace MedRecon.Tests.Cli;

/// <summary>The consistency model's CLI measurement paths: <c>train --evaluate --report</c> and <c>bench --suite model</c>.</summary>
public class ModelCliTests
{
    static readonly string[] TableColumns =
    {
        "σ (normalised)", "PSNR noisy (dB)", "PSNR f(x+σz, σ) (dB)", "PSNR TV/ROF (dB)", "ROF λ", "PSNR Gaussian, oracle width (dB)", "width (px)",
        "SSIM noisy", "SSIM f(x+σz, σ)", "SSIM TV/ROF", "SSIM Gaussian, oracle",
    };

    /// <summary>Markdown table rows under the header that starts with <paramref name="firstColumn"/>: cells per row.</summary>
    static List<string[]> TableRows(string text, string firstColumn, out string[] header)
    {
        var lines = text.Split('\n').Select(l => l.Trim()).ToList();
        int h = lines.FindIndex(l => l.StartsWith("| " + firstColumn, StringComparison.Ordinal));
        Assert.True(h >= 0, $"no table starting with '{firstColumn}' in:\n{text}");
        static string[] Cells(string l) => l.Trim('|').Split('|').Select(c => c.Trim()).ToArray();
        header = Cells(lines[h]);
        return lines.Skip(h + 2).TakeWhile(l => l.StartsWith('|')).Select(Cells).ToList();
    }

    [Fact]
    public void TrainInitFineTunesFromWeightsAndChecksDataWeights()
    {
        using var dir = new TempDir();
        using (var scope = NewDisposeScope())
            Npy.Write(dir["toy.npy"], torch.rand(new long[] { 4, 32, 32 }, generator: new torch.Generator(3)) * 100);
        var r = CliRunner.Run("train", "--data", dir["toy.npy"], "--modality", "mr", "--widths", "8,16", "--batch", "2", "--patch", "16",
            "--steps", "3", "--threads", "1", "--out", dir["a.safetensors"]);
        Assert.True(r.ExitCode == 0, r.StdOut + r.StdErr);
        // Fine-tune on two volumes with weights; the architecture comes from the file (the --widths default is 32,64,128).
        r = CliRunner.Run("train", "--data", dir["toy.npy"], dir["toy.npy"], "--data-weights", "1,0.5", "--modality", "mr", "--init", dir["a.safetensors"],
            "--batch", "2", "--patch", "16", "--steps", "2", "--threads", "1", "--out", dir["b.safetensors"]);
        Assert.True(r.ExitCode == 0, r.StdOut + r.StdErr);
        Assert.Contains("new run from", r.StdOut);
        Assert.Contains("sampling weight 0.5", r.StdOut);
        var meta = MedRecon.Model.ModelIO.ReadMetadata(dir["b.safetensors"]);
        Assert.Equal(new[] { 8, 16 }, meta.Architecture.Widths);
        Assert.Equal(5, meta.Steps);
        foreach (var (weights, why) in new[] { ("1", "needs 2 positive numbers"), ("1,-1", "needs 2 positive numbers"), ("1,x", "needs 2 positive numbers") })
        {
            r = CliRunner.Run("train", "--data", dir["toy.npy"], dir["toy.npy"], "--data-weights", weights, "--modality", "mr", "--steps", "1", "--out", dir["c.safetensors"]);
            Assert.True(r.ExitCode != 0 && r.StdErr.Contains(why), weights + ": " + r.StdErr);
        }
        r = CliRunner.Run("train", "--data", dir["toy.npy"], "--modality", "ct", "--init", dir["a.safetensors"], "--steps", "1", "--out", dir["c.safetensors"]);
        Assert.True(r.ExitCode != 0 && r.StdErr.Contains("'mr' prior"), r.StdErr);
        r = CliRunner.Run("train", "--data", dir["toy.npy"], "--modality", "mr", "--init", dir["missing.safetensors"], "--steps", "1", "--out", dir["c.safetensors"]);
        Assert.True(r.ExitCode != 0 && r.StdErr.Contains("no such file"), r.StdErr);
        Assert.False(File.Exists(dir["c.safetensors"]), "a refused run writes nothing");
    }

    [Fact]
    public void TrainEvaluateReportWritesTheTableAndPictures()
    {
        using var dir = new TempDir();
        // Toy MR volume: 5 slices of smooth blobs (the last one is held out), a tiny network trained for 3 steps.
        using (var scope = NewDisposeScope())
        {
            var g = torch.linspace(-1, 1, 48);
            var yy = g.unsqueeze(1);
            var xx = g.unsqueeze(0);
            var vol = torch.stack(Enumerable.Range(0, 5).Select(i =>
                torch.exp(-((xx - 0.1 * i).square() + (yy + 0.05 * i).square()) / 0.2) * 1000 + 50).ToArray());
            Npy.Write(dir["toy.npy"], vol);
        }
        var r = CliRunner.Run("train", "--data", dir["toy.npy"], "--modality", "mr", "--widths", "8,16", "--batch", "2", "--patch", "16",
            "--steps", "3", "--threads", "1", "--log-every", "1", "--out", dir["tiny.safetensors"]);
        Assert.True(r.ExitCode == 0, r.StdOut + r.StdErr);

        r = CliRunner.Run("train", "--data", dir["toy.npy"], "--modality", "mr", "--evaluate", "--eval-crop", "32", "--threads", "1",
            "--out", dir["tiny.safetensors"], "--report", dir["card"]);
        Assert.True(r.ExitCode == 0, r.StdOut + r.StdErr);
        foreach (var text in new[] { r.StdOut, File.ReadAllText(dir["card/table.md"]) })
        {
            var rows = TableRows(text, "σ (normalised)", out var header);
            Assert.Equal(TableColumns, header);
            Assert.Equal(new[] { "0.05", "0.1", "0.2", "0.5", "1" }, rows.Select(c => c[0]));
            foreach (var cells in rows)
            {
                Assert.Equal(TableColumns.Length, cells.Length);
                foreach (var c in cells)
                    Assert.True(double.TryParse(c, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) && double.IsFinite(v), $"cell '{c}' in {string.Join(" | ", cells)}");
                // The noisy input's PSNR falls with σ like −20 log10 σ; TV tuned on training slices beats it clearly at σ ≥ 0.2.
                double sigma = double.Parse(cells[0], CultureInfo.InvariantCulture);
                if (sigma >= 0.2) Assert.True(double.Parse(cells[3], CultureInfo.InvariantCulture) > double.Parse(cells[1], CultureInfo.InvariantCulture) + 3);
            }
        }
        Assert.Contains("training slices", File.ReadAllText(dir["card/table.md"]));
        // Pictures: 4 samples (1- and 2-step) and 4-panel denoising montages, 32 px panels with 4 px gaps.
        foreach (var name in new[] { "samples-1step.png", "samples-2step.png", "denoise-sigma0.1.png", "denoise-sigma0.5.png" })
        {
            using var png = Png.Read(dir[$"card/{name}"]);
            Assert.Equal(4 * 32 + 3 * Png.MontageGap, png.shape[^1]);
            Assert.True(png.shape[^2] >= 32);
        }
        Assert.Empty(Directory.GetDirectories(dir.Path, ".card.tmp-*"));

        var bad = CliRunner.Run("train", "--data", dir["toy.npy"], "--modality", "mr", "--out", dir["tiny.safetensors"], "--report", dir["x"]);
        CliRunner.AssertBadInput(bad, "--report needs --evaluate");
    }

    [Fact]
    public void TrainExportDataWritesTheTrainingSlicesAndPhantomsButNotTheHeldOutSlices()
    {
        using var dir = new TempDir();
        // 5 slices whose value says which slice it is (slice i = 10·(i+1) everywhere but one bright pixel).
        using (var scope = NewDisposeScope())
        {
            var vol = torch.stack(Enumerable.Range(0, 5).Select(i => torch.full(24, 24, 10.0 * (i + 1))).ToArray());
            vol[.., 0, 0] = torch.tensor(100.0);
            Npy.Write(dir["toy.npy"], vol);
        }
        var r = CliRunner.Run("train", "--data", dir["toy.npy"], "--modality", "mr", "--phantoms", "ellipses", "--phantom-fraction", "0.25",
            "--out", dir["m.safetensors"], "--export-data", dir["export"]);
        Assert.True(r.ExitCode == 0, r.StdOut + r.StdErr);
        Assert.False(File.Exists(dir["m.safetensors"]), "--export-data must not train");
        using var slices = Npy.Read(dir["export/slices-0.npy"]);
        Assert.Equal(new long[] { 4, 24, 24 }, slices.shape); // the last 20 % (slice 4) is held out
        // MR normalisation x = 2 v / p − 1 with p the volume's 99.5th percentile (50, slice 4's value, is excluded from
        // the export but not from the statistic): slice i → 2·10(i+1)/50 − 1.
        for (int i = 0; i < 4; i++)
            Assert.Equal(2 * 10.0 * (i + 1) / 50 - 1, slices[i, 5, 5].item<float>(), 4);
        using var phantoms = Npy.Read(dir["export/phantoms.npy"]);
        Assert.Equal(new long[] { 512, 256, 256 }, phantoms.shape);
        Assert.InRange(phantoms.min().item<float>(), -1.001, -0.999);
        using var manifest = System.Text.Json.JsonDocument.Parse(File.ReadAllText(dir["export/manifest.json"]));
        var root = manifest.RootElement;
        Assert.Equal("mr", root.GetProperty("modality").GetString());
        Assert.Equal(0.25, root.GetProperty("phantomFraction").GetDouble(), 6);
        var volume = root.GetProperty("volumes")[0];
        Assert.Equal(new[] { 0, 1, 2, 3 }, volume.GetProperty("slices").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal(new[] { 4 }, volume.GetProperty("heldOut").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal(1.0, volume.GetProperty("weight").GetDouble()); // train_twin.py draws volumes by slices x weight
        Assert.Equal(new[] { 32, 64, 128 }, root.GetProperty("architecture").GetProperty("widths").EnumerateArray().Select(e => e.GetInt32()));
    }

    [Fact]
    public void BenchModelQuickPrintsFloat32AndBfloat16Rows()
    {
        using var dir = new TempDir();
        var r = CliRunner.Run("bench", "--suite", "model", "--quick", "--threads", "1", "--out", dir["model.md"]);
        Assert.True(r.ExitCode == 0, r.StdOut + r.StdErr);
        var rows = TableRows(r.StdOut, "size", out var header);
        Assert.Equal("bf16 rel. error F_θ", header[6]);
        Assert.Equal("bf16 rel. error f", header[7]);
        foreach (var dtype in new[] { "float32", "bfloat16" })
            foreach (var batch in new[] { "1", "2" })
            {
                var row = rows.Single(c => c[0] == "64²" && c[1] == dtype && c[2] == batch);
                Assert.True(double.Parse(row[4], CultureInfo.InvariantCulture) > 0);
                if (dtype == "bfloat16")
                {
                    // bfloat16 keeps 8 mantissa bits: a relative error of order 1e-3..1e-2, never 0 and never O(1).
                    Assert.InRange(double.Parse(row[6], CultureInfo.InvariantCulture), 1e-5, 0.1);
                    Assert.InRange(double.Parse(row[7], CultureInfo.InvariantCulture), 1e-5, 0.1);
                }
            }
        var train = TableRows(r.StdOut, "stage", out _);
        Assert.Equal(new[] { "denoiser", "consistency" }, train.Select(c => c[0]));
        Assert.All(train, c => Assert.True(double.Parse(c[4], CultureInfo.InvariantCulture) > 0));
        var perSlice = TableRows(r.StdOut, "N", out _);
        Assert.Equal(new[] { "1", "2" }, perSlice.Select(c => c[0]));
        // N × forward + N × DC grows with N in every column.
        for (int col = 1; col < 5; col++)
            Assert.True(double.Parse(perSlice[1][col], CultureInfo.InvariantCulture) >= double.Parse(perSlice[0][col], CultureInfo.InvariantCulture));
        string md = File.ReadAllText(dir["model.md"]);
        Assert.Contains("VmHWM", md);
        Assert.Contains("| 64² | bfloat16 | 1 |", md);
    }
}
