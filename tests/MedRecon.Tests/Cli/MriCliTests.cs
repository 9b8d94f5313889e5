using MedRecon.Core;
using MedRecon.Core.IO;
using MedRecon.Tests.Infrastructure;
using TorchSharp;
using static TorchSharp.torch;

namespace MedRecon.Tests.Cli;

/// <summary>End-to-end runs of the MRI commands, including every kind of bad input the foundation issue names.</summary>
public class MriCliTests
{
    [Fact]
    public void PhantomSimulateReconMetricsPipeline()
    {
        using var dir = new TempDir();
        var r = CliRunner.Run("phantom", "--kind", "shepp-logan", "--size", "64", "--out", dir["sl.npy"]);
        Assert.True(r.ExitCode == 0, r.StdErr);
        Assert.Equal(new long[] { 64, 64 }, Npy.Read(dir["sl.npy"]).shape);

        r = CliRunner.Run("simulate", "mri", "--image", "shepp-logan", "--size", "128", "--mask", "random",
            "--accel", "4", "--out", dir["sim"]);
        Assert.True(r.ExitCode == 0, r.StdErr);
        Assert.Equal(new long[] { 1, 128, 128 }, Npy.Read(dir["sim/ksp.npy"]).shape);
        Assert.Equal(ScalarType.ComplexFloat32, Npy.Read(dir["sim/ksp.npy"]).dtype);
        Assert.Equal(new long[] { 128, 128 }, Npy.Read(dir["sim/mask.npy"]).shape);
        Assert.False(File.Exists(dir["sim/maps.npy"]));

        double Psnr(string method)
        {
            var rr = CliRunner.Run("recon", "mri", "--kspace", dir["sim/ksp.npy"], "--mask", dir["sim/mask.npy"],
                "--method", method, "--out", dir[$"{method}.npy"]);
            Assert.True(rr.ExitCode == 0, rr.StdErr);
            var m = CliRunner.Run("metrics", "--ref", dir["sim/gt.npy"], "--test", dir[$"{method}.npy"], "--json");
            Assert.True(m.ExitCode == 0, m.StdErr);
            var doc = System.Text.Json.JsonDocument.Parse(m.StdOut);
            return doc.RootElement.GetProperty("psnr").GetDouble();
        }

        double zf = Psnr("zf"), tv = Psnr("tv");
        Assert.True(tv > zf + 3, $"TV PSNR {tv:F2} dB should beat zero-filled {zf:F2} dB by > 3 dB");
    }

    [Fact]
    public void MultiCoilSimulationWritesMapsAndReconEstimatesThemWhenMissing()
    {
        using var dir = new TempDir();
        var r = CliRunner.Run("simulate", "mri", "--image", "shepp-logan", "--size", "64", "--coils", "4",
            "--mask", "random", "--accel", "3", "--center-fraction", "0.16", "--out", dir["sim"]);
        Assert.True(r.ExitCode == 0, r.StdErr);
        Assert.Equal(new long[] { 4, 64, 64 }, Npy.Read(dir["sim/maps.npy"]).shape);
        r = CliRunner.Run("recon", "mri", "--kspace", dir["sim/ksp.npy"], "--mask", dir["sim/mask.npy"],
            "--method", "cg", "--ref", dir["sim/gt.npy"], "--out", dir["cg.png"]);
        Assert.True(r.ExitCode == 0, r.StdErr);
        Assert.True(File.Exists(dir["cg.png"]));
        Assert.Contains("PSNR", r.StdOut);
    }

    /// <summary>Prospectively undersampled k-space stores zeros where nothing was measured: without --mask the mask is
    /// those samples, the same reconstruction as with the simulation's mask (4 coils), and said on stderr.</summary>
    [Fact]
    public void WithoutMask_TheKSpaceSamplesAreTheMask()
    {
        using var dir = new TempDir();
        var r = CliRunner.Run("simulate", "mri", "--image", "shepp-logan", "--size", "64", "--coils", "4",
            "--mask", "random", "--accel", "4", "--center-fraction", "0.08", "--out", dir["sim"]);
        Assert.True(r.ExitCode == 0, r.StdErr);
        var withMask = CliRunner.Run("recon", "mri", "--kspace", dir["sim/ksp.npy"], "--mask", dir["sim/mask.npy"], "--maps", dir["sim/maps.npy"],
            "--method", "tv", "--iters", "30", "--out", dir["a.npy"]);
        var derived = CliRunner.Run("recon", "mri", "--kspace", dir["sim/ksp.npy"], "--maps", dir["sim/maps.npy"],
            "--method", "tv", "--iters", "30", "--out", dir["b.npy"]);
        Assert.True(withMask.ExitCode == 0 && derived.ExitCode == 0, withMask.StdErr + derived.StdErr);
        Assert.Equal(File.ReadAllBytes(dir["a.npy"]), File.ReadAllBytes(dir["b.npy"]));
        double fraction = Npy.Read(dir["sim/mask.npy"]).mean().item<float>();
        Assert.Contains(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"mask: the k-space's non-zero samples, {100 * fraction:F1} % sampled"), derived.StdErr);
        Assert.DoesNotContain("mask:", withMask.StdErr);
        // Every sample non-zero: taken as fully sampled, and said so.
        Npy.Write(dir["full.npy"], torch.ones(new long[] { 1, 16, 16 }, ScalarType.ComplexFloat32));
        var full = CliRunner.Run("recon", "mri", "--kspace", dir["full.npy"], "--method", "zf", "--out", dir["full-zf.npy"]);
        Assert.True(full.ExitCode == 0, full.StdErr);
        Assert.Contains("taken as fully sampled", full.StdErr);
    }

    /// <summary>The real prospectively Poisson-undersampled 8-coil brain k-space of shared/data (no reference): read
    /// without a mask file, its sampling found (≈ 12.4 %, R ≈ 8), maps estimated, reconstructed.</summary>
    [SkippableFact]
    public void RealProspectiveEightCoilKSpace_ReconstructsWithoutAMaskFile()
    {
        string? data = ExternalTools.SharedData;
        string? path = data is null ? null : Path.Combine(data, "kspace", "brain-8coil-poisson-undersampled.npy");
        Skip.If(path is null || !File.Exists(path), "shared/data/kspace/brain-8coil-poisson-undersampled.npy not present");
        using var dir = new TempDir();
        var r = CliRunner.Run("recon", "mri", "--kspace", path!, "--method", "tv", "--iters", "60", "--out", dir["tv.npy"]);
        Assert.True(r.ExitCode == 0, r.StdErr);
        Assert.Contains("mask: the k-space's non-zero samples, 12.4 % sampled (R 8.04)", r.StdErr);
        var x = Npy.Read(dir["tv.npy"]);
        Assert.Equal(new long[] { 230, 180 }, x.shape);
        Assert.True(Tensors.AllFinite(x));
        // An image, not noise: the head (centre) is far brighter than the corners outside it.
        var mag = x.abs();
        double centre = mag[TensorIndex.Slice(90, 140), TensorIndex.Slice(65, 115)].mean().item<float>();
        double corner = mag[TensorIndex.Slice(0, 20), TensorIndex.Slice(0, 20)].mean().item<float>();
        Assert.True(centre > 5 * corner, $"centre {centre:G3} vs corner {corner:G3}");
    }

    static void WriteSim(TempDir dir, long ny = 32, long nx = 32, int coils = 1)
    {
        Npy.Write(dir["ksp.npy"], torch.ones(new long[] { coils, ny, nx }, ScalarType.ComplexFloat32));
        Npy.Write(dir["mask.npy"], torch.ones(ny, nx));
    }

    [Fact]
    public void MaskKspaceMismatchIsOneLineNamingTheFileAndNoOutput()
    {
        using var dir = new TempDir();
        WriteSim(dir);
        Npy.Write(dir["mask.npy"], torch.ones(32, 30));
        var r = CliRunner.Run("recon", "mri", "--kspace", dir["ksp.npy"], "--mask", dir["mask.npy"], "--method", "zf", "--out", dir["x.npy"]);
        CliRunner.AssertBadInput(r, "mask.npy", "(32, 30)");
        Assert.False(File.Exists(dir["x.npy"]));
    }

    /// <summary>A simulation.json beside the data that is not a JSON object (broken, or an array) is one line naming it,
    /// for recon mri and recon ct alike (one reader), and nothing is written.</summary>
    [Fact]
    public void BrokenSimulationRecordIsOneLineNamingIt_ForMriAndCt()
    {
        using var dir = new TempDir();
        WriteSim(dir);
        foreach (var content in new[] { "{ \"mask\": ", "[1, 2]" })
        {
            File.WriteAllText(dir["simulation.json"], content);
            var r = CliRunner.Run("recon", "mri", "--kspace", dir["ksp.npy"], "--mask", dir["mask.npy"], "--method", "zf", "--out", dir["x.npy"]);
            CliRunner.AssertBadInput(r, "simulation.json", "not a valid simulation record");
            Assert.False(File.Exists(dir["x.npy"]));
        }
        Assert.Equal(0, CliRunner.Run("simulate", "ct", "--image", "shepp-logan", "--size", "32", "--views", "12", "--out", dir["ct"]).ExitCode);
        File.WriteAllText(dir["ct/simulation.json"], "not json");
        var c = CliRunner.Run("recon", "ct", "--sinogram", dir["ct/sino.npy"], "--angles", dir["ct/angles.npy"], "--geometry", dir["ct/geometry.json"],
            "--method", "tv", "--iters", "2", "--out", dir["c.npy"]);
        CliRunner.AssertBadInput(c, "simulation.json", "not a valid simulation record");
        Assert.False(File.Exists(dir["c.npy"]));
    }

    [Fact]
    public void MapsMismatchAndWrongRankAreRejected()
    {
        using var dir = new TempDir();
        WriteSim(dir, coils: 2);
        Npy.Write(dir["maps.npy"], torch.ones(new long[] { 3, 32, 32 }, ScalarType.ComplexFloat32));
        var r = CliRunner.Run("recon", "mri", "--kspace", dir["ksp.npy"], "--mask", dir["mask.npy"], "--maps", dir["maps.npy"], "--out", dir["x.npy"]);
        CliRunner.AssertBadInput(r, "maps.npy");
        Npy.Write(dir["bad.npy"], torch.ones(new long[] { 2, 2, 32, 32 }, ScalarType.ComplexFloat32));
        r = CliRunner.Run("recon", "mri", "--kspace", dir["bad.npy"], "--mask", dir["mask.npy"], "--out", dir["x.npy"]);
        CliRunner.AssertBadInput(r, "bad.npy", "(2, 2, 32, 32)");
        Assert.False(File.Exists(dir["x.npy"]));
    }

    [Fact]
    public void NanInKspaceIsRejected()
    {
        using var dir = new TempDir();
        WriteSim(dir);
        var k = torch.ones(new long[] { 1, 32, 32 }, ScalarType.ComplexFloat32);
        k[0, 3, 4] = torch.tensor(float.NaN).to(ScalarType.ComplexFloat32);
        Npy.Write(dir["ksp.npy"], k);
        var r = CliRunner.Run("recon", "mri", "--kspace", dir["ksp.npy"], "--mask", dir["mask.npy"], "--out", dir["x.npy"]);
        CliRunner.AssertBadInput(r, "ksp.npy", "NaN");
        Assert.False(File.Exists(dir["x.npy"]));
    }

    [Fact]
    public void TruncatedAndMissingFilesAreRejected()
    {
        using var dir = new TempDir();
        WriteSim(dir);
        var bytes = File.ReadAllBytes(dir["ksp.npy"]);
        File.WriteAllBytes(dir["ksp.npy"], bytes[..(bytes.Length / 2)]);
        var r = CliRunner.Run("recon", "mri", "--kspace", dir["ksp.npy"], "--mask", dir["mask.npy"], "--out", dir["x.npy"]);
        CliRunner.AssertBadInput(r, "ksp.npy", "truncated");
        r = CliRunner.Run("recon", "mri", "--kspace", dir["nope.npy"], "--mask", dir["mask.npy"], "--out", dir["x.npy"]);
        CliRunner.AssertBadInput(r, "nope.npy", "not found");
        File.WriteAllText(dir["text.npy"], "hello");
        r = CliRunner.Run("metrics", "--ref", dir["text.npy"], "--test", dir["mask.npy"]);
        CliRunner.AssertBadInput(r, "text.npy");
        Assert.False(File.Exists(dir["x.npy"]));
    }

    [Fact]
    public void SimulateWithBadImageLeavesNoOutputFolder()
    {
        using var dir = new TempDir();
        Npy.Write(dir["img.npy"], torch.ones(new long[] { 2, 8, 8 }));
        var r = CliRunner.Run("simulate", "mri", "--image", dir["img.npy"], "--out", dir["sim"]);
        CliRunner.AssertBadInput(r, "img.npy");
        Assert.False(Directory.Exists(dir["sim"]));
        Assert.Empty(Directory.GetDirectories(dir.Path));
    }

    [Fact]
    public void UnknownOptionsAndValuesFailWithNonZeroExit()
    {
        var r = CliRunner.Run("recon", "mri", "--kspace", "a.npy", "--mask", "b.npy", "--out", "c.npy", "--frobnicate");
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("frobnicate", r.StdErr);
        r = CliRunner.Run("simulate", "mri", "--image", "shepp-logan", "--mask", "spiral", "--out", "x");
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("spiral", r.StdErr);
    }

    [Fact]
    public void MetricsRejectsShapeMismatch()
    {
        using var dir = new TempDir();
        Npy.Write(dir["a.npy"], torch.ones(8, 8));
        Npy.Write(dir["b.npy"], torch.ones(8, 9));
        var r = CliRunner.Run("metrics", "--ref", dir["a.npy"], "--test", dir["b.npy"]);
        CliRunner.AssertBadInput(r, "b.npy", "(8, 9)");
    }
}
