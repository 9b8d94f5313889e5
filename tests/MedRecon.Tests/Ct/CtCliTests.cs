using System.CommandLine;
using MedRecon.Cli.Commands;
using MedRecon.Core.IO;
using MedRecon.Operators.Ct;
using MedRecon.Tests.Infrastructure;
using TorchSharp;
using static TorchSharp.torch;

namespace MedRecon.Tests.Ct;

[Collection("Console")]
public class CtCliTests
{
    static (int Code, string Err) Invoke(params string[] args)
    {
        var root = new RootCommand { SimulateCtCommand.Create(), ReconCtCommandWrapper() };
        var err = new StringWriter();
        var old = Console.Error;
        Console.SetError(err);
        try { return (root.Parse(args).Invoke(), err.ToString()); }
        finally { Console.SetError(old); }
    }

    // `recon ct` and `simulate ct` are both named "ct": put recon under a "recon" parent as the lead wires it.
    static Command ReconCtCommandWrapper()
    {
        var recon = new Command("recon");
        recon.Subcommands.Add(ReconCtCommand.Create());
        return recon;
    }

    [Fact]
    public void SimulateThenReconstructRoundTrip()
    {
        using var dir = new TempDir();
        var (code, err) = Invoke("ct", "--image", "shepp-logan", "--size", "64", "--views", "90", "--out", dir["sim"]);
        Assert.True(code == 0, err);
        foreach (var f in new[] { "sino.npy", "angles.npy", "geometry.json", "gt.npy" }) Assert.True(File.Exists(Path.Combine(dir["sim"], f)), f);
        var sino = Npy.Read(Path.Combine(dir["sim"], "sino.npy"));
        Assert.Equal(ScalarType.Float32, sino.dtype);
        Assert.Equal(90, sino.shape[0]);
        Assert.Equal(ScalarType.Float64, Npy.Read(Path.Combine(dir["sim"], "angles.npy")).dtype);
        var g = CtGeometry.FromJson(File.ReadAllText(Path.Combine(dir["sim"], "geometry.json")));
        Assert.Equal(64, g.ImageSize);

        (code, err) = Invoke("recon", "ct", "--sinogram", Path.Combine(dir["sim"], "sino.npy"), "--angles", Path.Combine(dir["sim"], "angles.npy"),
            "--geometry", Path.Combine(dir["sim"], "geometry.json"), "--method", "fbp", "--out", dir["fbp.npy"]);
        Assert.True(code == 0, err);
        var rec = Npy.Read(dir["fbp.npy"]);
        var gt = Npy.Read(Path.Combine(dir["sim"], "gt.npy"));
        Assert.True(CtTestData.Psnr(gt, rec) > 22);

        // Without geometry.json: parallel, spacing 1, --size required.
        (code, err) = Invoke("recon", "ct", "--sinogram", Path.Combine(dir["sim"], "sino.npy"), "--angles", Path.Combine(dir["sim"], "angles.npy"),
            "--size", "64", "--method", "sirt", "--iters", "20", "--out", dir["sirt.npy"]);
        Assert.True(code == 0, err);

        foreach (var m in new[] { "cgls", "tv" })
        {
            (code, err) = Invoke("recon", "ct", "--sinogram", Path.Combine(dir["sim"], "sino.npy"), "--angles", Path.Combine(dir["sim"], "angles.npy"),
                "--geometry", Path.Combine(dir["sim"], "geometry.json"), "--method", m, "--iters", "10", "--out", dir[m + ".png"]);
            Assert.True(code == 0, err);
            Assert.True(File.Exists(dir[m + ".png"]));
        }

        // Fan beam image input with Poisson noise.
        Npy.Write(dir["img.npy"], gt.mul(0.02f));
        (code, err) = Invoke("ct", "--image", dir["img.npy"], "--views", "40", "--geometry", "fan", "--photons", "1e4", "--seed", "3", "--out", dir["fan"]);
        Assert.True(code == 0, err);
        var fan = Npy.Read(Path.Combine(dir["fan"], "sino.npy"));
        Assert.True(fan.isfinite().all().item<bool>());
    }

    [Fact]
    public void RandomEllipsePhantomIsProjectedAnalyticallyAsValidateDoes()
    {
        using var dir = new TempDir();
        var (code, err) = Invoke("ct", "--image", "ellipses:7", "--size", "64", "--views", "30", "--out", dir["sim"]);
        Assert.True(code == 0, err);
        var sino = Npy.Read(Path.Combine(dir["sim"], "sino.npy"));
        var gt = Npy.Read(Path.Combine(dir["sim"], "gt.npy"));
        var phantom = MedRecon.Phantoms.EllipsePhantom.Random(7);
        Assert.True(gt.allclose(phantom.Rasterize(64).to(ScalarType.Float32)), "gt is the phantom's raster");
        // The exact line integrals of the ellipses (validate's phantom simulation), not a projection of the raster:
        // the raster's fine-grid projection differs from them by the discretisation that validate's phantoms carry.
        var g = CtGeometry.FromJson(File.ReadAllText(Path.Combine(dir["sim"], "geometry.json")));
        var angles = CtAngles.Uniform(30);
        var exact = torch.tensor(MedRecon.Phantoms.EllipseProjections.ParallelProjection(phantom, angles, g.Detectors, g.DetectorSpacing, 64, g.PixelSize, subsamples: 2),
            new long[] { 30, g.Detectors });
        Assert.True((sino - exact).abs().max().item<float>() < 1e-5f);
        var raster = CtSimulation.ProjectFine(gt, g, angles, 2);
        double rel = ((raster - sino).square().mean().sqrt() / sino.square().mean().sqrt()).item<float>();
        Assert.InRange(rel, 1e-4, 0.05);
        // Another seed is another phantom; a seed that is not an integer is refused.
        (code, err) = Invoke("ct", "--image", "ellipses:8", "--size", "64", "--views", "30", "--out", dir["sim8"]);
        Assert.True(code == 0, err);
        Assert.False(Npy.Read(Path.Combine(dir["sim8"], "gt.npy")).allclose(gt));
        (code, err) = Invoke("ct", "--image", "ellipses:x", "--size", "64", "--views", "30", "--out", dir["bad"]);
        Assert.Equal(2, code);
        Assert.Contains("seed must be an integer", err);
        Assert.False(Directory.Exists(dir["bad"]));
    }

    [Fact]
    public void BadInputsGiveOneLineExitCode2AndNoOutput()
    {
        using var dir = new TempDir();
        Npy.Write(dir["sino.npy"], torch.ones(10, 20));
        Npy.Write(dir["angles9.npy"], torch.linspace(0, 3, 9, ScalarType.Float64));
        Npy.Write(dir["angles10.npy"], torch.linspace(0, 3, 10, ScalarType.Float64));
        Npy.Write(dir["empty.npy"], torch.zeros(0, 20));
        var nan = torch.ones(10, 20); nan[3, 4] = torch.tensor(float.NaN);
        Npy.Write(dir["nan.npy"], nan);
        File.WriteAllText(dir["bad.h5"], "not an hdf5 file");

        void Expect(string fileInMessage, params string[] args)
        {
            var (code, err) = Invoke(args);
            Assert.Equal(2, code);
            Assert.Contains(fileInMessage, err);
            Assert.Single(err.Trim().Split('\n'));
            Assert.False(File.Exists(dir["out.npy"]));
        }

        Expect("angles9.npy", "recon", "ct", "--sinogram", dir["sino.npy"], "--angles", dir["angles9.npy"], "--size", "16", "--out", dir["out.npy"]);
        Expect("empty.npy", "recon", "ct", "--sinogram", dir["empty.npy"], "--angles", dir["angles10.npy"], "--size", "16", "--out", dir["out.npy"]);
        Expect("nan.npy", "recon", "ct", "--sinogram", dir["nan.npy"], "--angles", dir["angles10.npy"], "--size", "16", "--out", dir["out.npy"]);
        Expect("bad.h5", "recon", "ct", "--projections", dir["bad.h5"], "--out", dir["out.npy"]);
        Expect("missing.npy", "recon", "ct", "--sinogram", dir["missing.npy"], "--angles", dir["angles10.npy"], "--size", "16", "--out", dir["out.npy"]);
        Expect("nan.npy", "ct", "--image", dir["nan.npy"], "--views", "10", "--out", dir["simout"]);
        Assert.False(Directory.Exists(dir["simout"]));
    }

    [SkippableFact]
    public void SharedData_ReconstructsToothFromDataExchange()
    {
        var data = ExternalTools.SharedData;
        var h5 = data is null ? null : Path.Combine(data, "projections", "tooth-synchrotron.h5");
        Skip.If(h5 is null || !File.Exists(h5), "shared/data/projections/tooth-synchrotron.h5 not present");
        using var dir = new TempDir();
        var (code, err) = Invoke("recon", "ct", "--projections", h5!, "--size", "320", "--method", "fbp", "--filter", "hann", "--out", dir["tooth.npy"]);
        Assert.True(code == 0, err);
        var rec = Npy.Read(dir["tooth.npy"]);
        Assert.Equal(new long[] { 320, 320 }, rec.shape);
        Assert.True(rec.max().item<float>() > 0);
    }

    /// <summary>--photons flat: the dose of the real tooth scan from its 10 flat and dark frames weighs TV's rays (the
    /// estimate is printed and changes the image); a file with one flat frame, a --sinogram input, `run` and a word
    /// that is neither a number nor flat are one-line errors with nothing written.</summary>
    [SkippableFact]
    public void PhotonsFromFlatFields_WeighTheToothAndAreRefusedWhereTheyCannotBeEstimated()
    {
        var data = ExternalTools.SharedData;
        var h5 = data is null ? null : Path.Combine(data, "projections", "tooth-synchrotron.h5");
        Skip.If(h5 is null || !File.Exists(h5), "shared/data/projections/tooth-synchrotron.h5 not present");
        using var dir = new TempDir();
        var (code, err) = Invoke("recon", "ct", "--projections", h5!, "--size", "160", "--method", "tv", "--iters", "20", "--photons", "flat", "--out", dir["w.npy"]);
        Assert.True(code == 0, err);
        var m = System.Text.RegularExpressions.Regex.Match(err, @"I0 ≈ ([0-9.E+]+) effective counts per ray from the flat fields");
        Assert.True(m.Success, err);
        double i0 = double.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(i0, 1e4, 1e5); // ≈ 4.3·10⁴ (docs/ct.md); a 16-bit camera's open beam, not a photon-starved scan
        (code, err) = Invoke("recon", "ct", "--projections", h5!, "--size", "160", "--method", "tv", "--iters", "20", "--out", dir["u.npy"]);
        Assert.True(code == 0, err);
        var w = Npy.Read(dir["w.npy"]);
        var u = Npy.Read(dir["u.npy"]);
        Assert.True(w.isfinite().all().item<bool>());
        double change = (w - u).norm().item<float>() / u.norm().item<float>();
        Assert.True(change > 1e-4, $"the weighting must change the image (relative change {change:E2})");

        ExternalTools.RequirePython("numpy", "h5py");
        ExternalTools.RunPython($"import h5py, numpy as np\nf = h5py.File('{dir["one.h5"]}', 'w')\n" +
                                "f['exchange/data'] = np.full((4, 1, 16), 500.0, dtype=np.float32)\n" +
                                "f['exchange/data_white'] = np.full((1, 1, 16), 1000.0, dtype=np.float32)\n" +
                                "f['exchange/theta'] = np.arange(4.0) * 45\nf.close()");
        (code, err) = Invoke("recon", "ct", "--projections", dir["one.h5"], "--method", "tv", "--iters", "2", "--photons", "flat", "--out", dir["one.npy"]);
        Assert.Equal(2, code);
        Assert.Contains("1 flat frame", err);
        Assert.False(File.Exists(dir["one.npy"]));
        (code, err) = Invoke("recon", "ct", "--projections", dir["one.h5"], "--method", "tv", "--iters", "2", "--photons", "lots", "--out", dir["one.npy"]);
        Assert.Equal(2, code);
        Assert.Contains("--photons lots", err);
        Assert.Equal(0, MedRecon.Tests.Cli.CliRunner.Run("simulate", "ct", "--image", "shepp-logan", "--size", "32", "--views", "12", "--out", dir["sim"]).ExitCode);
        MedRecon.Tests.Cli.CliRunner.AssertBadInput(MedRecon.Tests.Cli.CliRunner.Run("recon", "ct", "--sinogram", dir["sim/sino.npy"], "--angles", dir["sim/angles.npy"],
            "--geometry", dir["sim/geometry.json"], "--method", "tv", "--iters", "2", "--photons", "flat", "--out", dir["s.npy"]), "--photons flat", "--projections");
        MedRecon.Tests.Cli.CliRunner.AssertBadInput(MedRecon.Tests.Cli.CliRunner.Run("run", "--size", "32", "--simulate", "ct:views=12", "--method", "tv",
            "--photons", "flat", "--out", dir["run"]), "--photons flat", "photons=I0");
        Assert.False(File.Exists(dir["s.npy"]));
        Assert.False(Directory.Exists(dir["run"]));
    }

    [SkippableFact]
    public void MissingDataExchangeDatasetIsNamed()
    {
        ExternalTools.RequirePython("numpy", "h5py");
        using var dir = new TempDir();
        ExternalTools.RunPython($"import h5py, numpy as np\nf = h5py.File('{dir["nodata.h5"]}', 'w')\nf['exchange/theta'] = np.arange(4.0)\nf.close()");
        var (code, err) = Invoke("recon", "ct", "--projections", dir["nodata.h5"], "--out", dir["out.npy"]);
        Assert.Equal(2, code);
        Assert.Contains("/exchange/data", err);
        Assert.Contains("nodata.h5", err);
        Assert.False(File.Exists(dir["out.npy"]));
    }
}
