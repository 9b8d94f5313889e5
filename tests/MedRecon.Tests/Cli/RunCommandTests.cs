using System.Text.Json;
using MedRecon.Core.IO;
using MedRecon.Dicom;
using MedRecon.Model;
using MedRecon.Tests.Infrastructure;
using MedRecon.Solvers.ZeroShot;
using TorchSharp;

namespace MedRecon.Tests.Cli;

/// <summary><c>medrecon run</c> end to end (real executable, tiny sizes) and the zero-shot options of <c>recon mri</c>,
/// with the bad-input cases: clear one-line error, exit 2, nothing written.</summary>
public class RunCommandTests
{
    static void Ok((int ExitCode, string StdOut, string StdErr) r) =>
        Assert.True(r.ExitCode == 0, $"exit {r.ExitCode}\nstdout: {r.StdOut}\nstderr: {r.StdErr}");

    static void AssertNothingWritten(TempDir dir, string name)
    {
        Assert.False(Directory.Exists(dir[name]), $"{name} should not exist");
        Assert.Empty(Directory.GetFileSystemEntries(dir.Path, "." + name + "*"));
    }

    static List<string> DciodvfyErrors(string file)
    {
        var (_, o, e) = ExternalTools.Run("dciodvfy", new[] { file });
        return (o + "\n" + e).Split('\n').Where(l => l.StartsWith("Error")).ToList();
    }

    static string MrPrior => Path.Combine(ExternalTools.RepositoryRoot, "models", "mr-prior.safetensors");

    [Fact]
    public void Run_PhantomMriCm_WritesDerivedDicomStdSeriesPngsAndMetrics()
    {
        using var dir = new TempDir();
        var r = CliRunner.Run("run", "--size", "64", "--simulate", "mri:accel=4,center=0.08", "--method", "cm", "--nfe", "2",
            "--samples", "2", "--seed", "5", "--consistency-weight", "0.2", "--rho", "5", "--sigma-end", "0.02", "--out", dir["out"]);
        Ok(r);
        foreach (var f in new[] { "gt.png", "input.png", "result.png", "error.png", "std.png", "montage.png", "metrics.json" })
            Assert.True(File.Exists(Path.Combine(dir["out"], f)), f);
        var files = Directory.GetFiles(dir["out/dicom"]);
        Assert.Single(files);
        Assert.Single(Directory.GetFiles(dir["out/dicom-std"]));
        Assert.NotEmpty(Directory.GetFiles(dir["out/source-dicom"]));
        var derived = DicomFile.Open(files[0]).Dataset;
        var source = DicomFile.Open(Directory.GetFiles(dir["out/source-dicom"])[0]).Dataset;
        Assert.Equal("MR", derived.GetString(DicomTag.Modality));
        Assert.Equal(source.GetString(DicomTag.StudyInstanceUID), derived.GetString(DicomTag.StudyInstanceUID));
        Assert.NotEqual(source.GetString(DicomTag.SeriesInstanceUID), derived.GetString(DicomTag.SeriesInstanceUID));
        if (ExternalTools.Which("dciodvfy") != null)
        {
            Assert.Empty(DciodvfyErrors(files[0]));
            Assert.Empty(DciodvfyErrors(Directory.GetFiles(dir["out/dicom-std"])[0]));
        }
        using var doc = JsonDocument.Parse(File.ReadAllText(dir["out/metrics.json"]));
        var root = doc.RootElement;
        Assert.Equal("cm", root.GetProperty("method").GetString());
        Assert.Equal(2, root.GetProperty("nfe").GetInt32());
        Assert.Equal(2, root.GetProperty("samples").GetInt32());
        Assert.Equal(1.25, root.GetProperty("sigmaInflation").GetDouble()); // the MRI default, recorded
        Assert.Equal(0.2, root.GetProperty("consistencyWeight").GetDouble());
        Assert.Equal(5, root.GetProperty("rho").GetDouble());
        Assert.Equal(0.02, root.GetProperty("sigmaEnd").GetDouble());
        // The derived series says how it was made (settings, seed, model).
        string derivation = derived.GetString(DicomTag.DerivationDescription);
        foreach (var part in new[] { "2 NFE x 2 sample(s)", "seed 5", "rho 5", "sigma_end 0.02", "data-consistency weight 0.2", "model sha256" })
            Assert.Contains(part, derivation);
        Assert.Equal(64, root.GetProperty("model").GetProperty("sha256").GetString()!.Length);
        var slice = root.GetProperty("slices")[0];
        double psnr = slice.GetProperty("result").GetProperty("psnr").GetDouble();
        Assert.InRange(psnr, 10, 80);
        Assert.True(slice.GetProperty("seconds").GetDouble() > 0);
        // With samples and a reference, metrics.json says how the std map relates to the error (docs/metrics.md).
        var u = slice.GetProperty("uncertainty");
        Assert.InRange(u.GetProperty("coverage2Std").GetDouble(), 0, 1);
        Assert.True(u.GetProperty("errorToStdRatio").GetDouble() > 0);
        Assert.InRange(u.GetProperty("errorShareTop10").GetDouble(), 0, u.GetProperty("errorShareTop10Oracle").GetDouble());
        Assert.InRange(u.GetProperty("errorStdCorrelation").GetDouble(), -1, 1);
        Assert.Equal(u.GetProperty("coverage2Std").GetDouble(), root.GetProperty("uncertainty").GetProperty("coverage2Std").GetDouble(), 12);
        Assert.Contains("std against |error|", r.StdOut);
        Assert.Equal(new long[] { 64, 64 }, Png.Read(dir["out/result.png"]).shape);
        // The std series is listed apart from the result in a PACS: its own Series Number and a description saying so.
        var stdSeries = DicomFile.Open(Directory.GetFiles(dir["out/dicom-std"])[0]).Dataset;
        Assert.Equal(derived.GetSingleValueOrDefault(DicomTag.SeriesNumber, 0) + 1, stdSeries.GetSingleValueOrDefault(DicomTag.SeriesNumber, 0));
        Assert.Contains(" std", stdSeries.GetString(DicomTag.SeriesDescription));
        Assert.DoesNotContain(" std", derived.GetString(DicomTag.SeriesDescription));
        // A rerun into the same folder from another source without samples leaves neither the earlier uncertainty series
        // nor the earlier source series beside the new result.
        Ok(CliRunner.Run("phantom", "--kind", "ellipses", "--size", "64", "--count", "1", "--format", "dicom", "--modality", "mr", "--out", dir["ph"]));
        Ok(CliRunner.Run("run", "--image", dir["ph"], "--method", "zf", "--out", dir["out"]));
        Assert.False(Directory.Exists(dir["out/dicom-std"]), "stale dicom-std/ of the earlier run");
        Assert.False(Directory.Exists(dir["out/source-dicom"]), "stale source-dicom/ of the earlier run");
        Assert.False(File.Exists(dir["out/std.png"]));
    }

    /// <summary>metrics.json and the derived series record the loop settings a run used with the task defaults resolved
    /// (σ₀ follows the mask or views, momentum the mask or views, σ inflation the modality); repeating the run with those
    /// values given explicitly (among them a positive --momentum) gives the same image bit for bit. MRI 4x single coil and
    /// CT 30 views.</summary>
    [Fact]
    public void Run_RecordsTheResolvedLoopSettings_AndGivingThemExplicitlyRepeatsTheRun()
    {
        using var dir = new TempDir();
        var inv = System.Globalization.CultureInfo.InvariantCulture;
        // The MRI finish follows the k-space noise estimated from the (noise-free, single-coil) data: recorded, not fixed.
        foreach (var (name, simulate, momentum, inflation, fixedFinish, startLambda) in new (string, string, double, double, double?, double)[]
        {
            ("mri", "mri:accel=4,center=0.08", ZeroShotDefaults.MriLineMomentum, ZeroShotDefaults.MriSigmaInflation, null, ZeroShotDefaults.MriTvStartLambda),
            ("ct", "ct:views=30", ZeroShotDefaults.CtMomentum, 1.0, ZeroShotDefaults.CtTvFinish, ZeroShotDefaults.CtTvStartLambda),
        })
        {
            Ok(CliRunner.Run("run", "--size", "64", "--simulate", simulate, "--method", "cm", "--nfe", "2", "--start-iterations", "20", "--out", dir[name]));
            using var doc = JsonDocument.Parse(File.ReadAllText(dir[$"{name}/metrics.json"]));
            var root = doc.RootElement;
            Assert.Equal(momentum, root.GetProperty("momentum").GetDouble(), 12);
            Assert.Equal(inflation, root.GetProperty("sigmaInflation").GetDouble());
            Assert.Equal(20, root.GetProperty("startIterations").GetInt32());
            double finish = root.GetProperty("tvFinish").GetDouble();
            if (fixedFinish is double f) Assert.Equal(f, finish);
            else Assert.True(finish > 0, "MRI: a finish weighted by the estimated noise");
            Assert.Equal(startLambda, root.GetProperty("startLambda").GetDouble());
            // MRI: the prior sees the magnitude (phase from the k-space centre); CT: not applicable.
            string? phase = name == "mri" ? "magnitude" : null;
            Assert.Equal(phase, root.GetProperty("phase").GetString());
            double sigmaStart = root.GetProperty("sigmaStart").GetDouble(), rho = root.GetProperty("rho").GetDouble(), sigmaEnd = root.GetProperty("sigmaEnd").GetDouble();
            Assert.InRange(sigmaStart, 0.01, 2);
            Assert.Equal(7, rho); // the shipped priors' ρ
            string derivation = DicomFile.Open(Directory.GetFiles(dir[$"{name}/dicom"])[0]).Dataset.GetString(DicomTag.DerivationDescription);
            Assert.Contains(string.Format(inv, "sigma0 {0:G3}", sigmaStart), derivation);
            Assert.Contains(string.Format(inv, "momentum {0:G3}", momentum), derivation);
            Assert.DoesNotContain("task default", derivation);
            Assert.Contains(string.Format(inv, "TV start (lambda {0:G3}, 20 iterations)", startLambda), derivation);
            if (phase is not null) Assert.Contains("prior on the magnitude, phase from the k-space centre", derivation);
            if (finish > 0) Assert.Contains(string.Format(inv, "TV finish lambda {0:G3}", finish), derivation);
            else Assert.DoesNotContain("TV finish", derivation);

            var again = CliRunner.Run(new[] { "run", "--size", "64", "--simulate", simulate, "--method", "cm", "--nfe", "2", "--start", "tv", "--start-iterations", "20",
                "--sigma-start", sigmaStart.ToString("R", inv), "--sigma-end", sigmaEnd.ToString("R", inv), "--rho", rho.ToString("R", inv),
                "--sigma-inflation", inflation.ToString("R", inv), "--momentum", momentum.ToString("R", inv), "--tv-finish", finish.ToString("R", inv),
                "--start-lambda", startLambda.ToString("R", inv), "--out", dir[$"{name}-again"] }
                .Concat(phase is null ? [] : new[] { "--phase", phase }).ToArray());
            Ok(again);
            using var doc2 = JsonDocument.Parse(File.ReadAllText(dir[$"{name}-again/metrics.json"]));
            double p1 = root.GetProperty("mean").GetProperty("result").GetProperty("psnr").GetDouble();
            double p2 = doc2.RootElement.GetProperty("mean").GetProperty("result").GetProperty("psnr").GetDouble();
            Assert.Equal(p1, p2); // the same image: the same PSNR to the last bit
            Assert.Equal(File.ReadAllBytes(dir[$"{name}/result.png"]), File.ReadAllBytes(dir[$"{name}-again/result.png"]));
            // Another momentum is another run.
            Ok(CliRunner.Run("run", "--size", "64", "--simulate", simulate, "--method", "cm", "--nfe", "2", "--start-iterations", "20", "--momentum", "0",
                "--out", dir[$"{name}-off"]));
            using var doc3 = JsonDocument.Parse(File.ReadAllText(dir[$"{name}-off/metrics.json"]));
            Assert.Equal(0.0, doc3.RootElement.GetProperty("momentum").GetDouble());
            Assert.NotEqual(p1, doc3.RootElement.GetProperty("mean").GetProperty("result").GetProperty("psnr").GetDouble());
        }
        // Another prior input is another run too; --phase is refused for CT (its image is real) and when misspelt.
        Ok(CliRunner.Run("run", "--size", "64", "--simulate", "mri:accel=4,center=0.08", "--method", "cm", "--nfe", "2", "--start-iterations", "20",
            "--phase", "constrained", "--out", dir["mri-constrained"]));
        using (var a = JsonDocument.Parse(File.ReadAllText(dir["mri/metrics.json"])))
        using (var b = JsonDocument.Parse(File.ReadAllText(dir["mri-constrained/metrics.json"])))
        {
            Assert.Equal("constrained", b.RootElement.GetProperty("phase").GetString());
            Assert.Contains("prior on the part in phase with the k-space centre",
                DicomFile.Open(Directory.GetFiles(dir["mri-constrained/dicom"])[0]).Dataset.GetString(DicomTag.DerivationDescription));
            Assert.NotEqual(a.RootElement.GetProperty("mean").GetProperty("result").GetProperty("psnr").GetDouble(),
                b.RootElement.GetProperty("mean").GetProperty("result").GetProperty("psnr").GetDouble());
        }
        CliRunner.AssertBadInput(CliRunner.Run("run", "--size", "32", "--simulate", "ct:views=20", "--method", "cm", "--phase", "constrained", "--out", dir["f"]),
            "--phase", "MRI");
        CliRunner.AssertBadInput(CliRunner.Run("run", "--size", "32", "--method", "cm", "--phase", "real", "--out", dir["f"]), "--phase real", "constrained");
        CliRunner.AssertBadInput(CliRunner.Run("run", "--size", "32", "--method", "tv", "--phase", "constrained", "--out", dir["f"]), "--phase");
        // The TV finish: a λ in [0, 1], for the zero-shot methods only.
        CliRunner.AssertBadInput(CliRunner.Run("run", "--size", "32", "--method", "cm", "--tv-finish", "-0.1", "--out", dir["f"]), "--tv-finish -0.1", "[0, 1]");
        CliRunner.AssertBadInput(CliRunner.Run("run", "--size", "32", "--method", "cm", "--start-lambda", "0", "--out", dir["f"]), "--start-lambda 0", "(0, 1]");
        CliRunner.AssertBadInput(CliRunner.Run("run", "--size", "32", "--method", "cm", "--start", "zf", "--start-lambda", "0.001", "--out", dir["f"]), "--start-lambda", "TV start");
        CliRunner.AssertBadInput(CliRunner.Run("run", "--size", "32", "--method", "tv", "--start-lambda", "0.001", "--out", dir["f"]), "--start-lambda");
        CliRunner.AssertBadInput(CliRunner.Run("run", "--size", "32", "--method", "tv", "--tv-finish", "0.004", "--out", dir["f"]), "--tv-finish");
        AssertNothingWritten(dir, "f");
    }

    /// <summary>The default noise estimate needs measured samples in the outer k-space: a 16² image has too few, so the
    /// slice keeps its samples exactly and says so; an explicit --noise-sigma auto is refused there, nothing written.</summary>
    [Fact]
    public void Run_Cm_TinyImage_KeepsTheSamplesExactly_WhenTheNoiseCannotBeEstimated()
    {
        using var dir = new TempDir();
        var r = CliRunner.Run("run", "--size", "16", "--nfe", "1", "--out", dir["tiny"]);
        Ok(r);
        Assert.Contains("slice 0: exact data consistency (too few measured samples in the outer k-space", r.StdOut);
        Assert.DoesNotContain("estimated from the outer k-space", r.StdOut);
        CliRunner.AssertBadInput(CliRunner.Run("run", "--size", "16", "--nfe", "1", "--noise-sigma", "auto", "--out", dir["auto"]),
            "too few measured samples in the outer k-space");
        Assert.False(Directory.Exists(dir["auto"]));
    }

    /// <summary>The zero-shot paths end to end through the CLI: CT with the shipped CT prior (beats its FBP input),
    /// 4 coils with the MR prior (beats zero-filled), and the diffusion baseline.</summary>
    [Fact]
    public void Run_ZeroShot_CtPrior_MultiCoil_AndDiffusion_BeatTheirInputs()
    {
        using var dir = new TempDir();
        foreach (var (name, args) in new (string, string[])[]
        {
            ("ct", new[] { "--simulate", "ct:views=30", "--method", "cm", "--nfe", "2", "--start", "fbp" }),
            ("coils", new[] { "--simulate", "mri:accel=4,center=0.08,coils=4", "--method", "cm", "--nfe", "2", "--start", "zf" }),
            ("diffusion", new[] { "--simulate", "mri:accel=4,center=0.08", "--method", "diffusion", "--nfe", "6" }),
        })
        {
            Ok(CliRunner.Run(new[] { "run", "--size", "64", "--out", dir[name] }.Concat(args).ToArray()));
            using var doc = JsonDocument.Parse(File.ReadAllText(dir[$"{name}/metrics.json"]));
            var mean = doc.RootElement.GetProperty("mean");
            double input = mean.GetProperty("input").GetProperty("psnr").GetDouble(), result = mean.GetProperty("result").GetProperty("psnr").GetDouble();
            Assert.True(result > input + 1.0, $"{name}: {result:F2} dB vs its input {input:F2} dB");
            Assert.Contains(name == "ct" ? "ct-prior" : "mr-prior", doc.RootElement.GetProperty("model").GetProperty("path").GetString());
            // The diffusion baseline has neither momentum nor σ inflation: recorded as not applicable.
            if (name == "diffusion")
                foreach (var none in new[] { "momentum", "sigmaInflation", "startIterations" })
                    Assert.Equal(JsonValueKind.Null, doc.RootElement.GetProperty(none).ValueKind);
            // The prior's input is recorded for MRI (the diffusion baseline shares it: the same network and domain).
            Assert.Equal(name == "ct" ? null : "magnitude", doc.RootElement.GetProperty("phase").GetString());
            // A noise-free single-coil simulation still weighs its samples by the noise estimated from them; coil data
            // without added noise stay exact (ZeroShotDefaults.MriEstimatesNoise).
            var noise = doc.RootElement.GetProperty("noiseSigma");
            if (name == "diffusion") Assert.Equal("auto", noise.GetString());
            else Assert.Equal(JsonValueKind.Null, noise.ValueKind);
            Assert.Single(Directory.GetFiles(dir[$"{name}/dicom"]));
        }
        // Simulated k-space noise: cm weighs its data consistency by the known noise by default (recorded); a classical
        // method with the same simulation is not refused for it.
        Ok(CliRunner.Run("run", "--size", "64", "--simulate", "mri:accel=4,center=0.08,noise=0.05", "--method", "cm", "--nfe", "2", "--start", "zf", "--out", dir["noisy"]));
        using (var doc = JsonDocument.Parse(File.ReadAllText(dir["noisy/metrics.json"])))
            Assert.Equal(0.05, doc.RootElement.GetProperty("noiseSigma").GetDouble());
        Assert.Contains("noise-aware data consistency, noise sigma 0.05",
            DicomFile.Open(Directory.GetFiles(dir["noisy/dicom"])[0]).Dataset.GetString(DicomTag.DerivationDescription));
        Ok(CliRunner.Run("run", "--size", "64", "--simulate", "mri:accel=4,center=0.08,noise=0.05", "--method", "zf", "--out", dir["noisy-zf"]));
    }

    [Fact]
    public void Run_DicomSeriesAllSlices_Classical_AndCtFbp()
    {
        using var dir = new TempDir();
        Ok(CliRunner.Run("phantom", "--kind", "ellipses", "--size", "32", "--count", "3", "--format", "dicom", "--modality", "mr", "--out", dir["series"]));
        var r = CliRunner.Run("run", "--image", dir["series"], "--simulate", "mri:accel=2,center=0.16,coils=4,mask=equispaced",
            "--method", "zf", "--slice", "all", "--out", dir["mri"]);
        Ok(r);
        Assert.Equal(3, Directory.GetFiles(dir["mri/dicom"]).Length);
        Assert.False(Directory.Exists(dir["mri/source-dicom"]));
        using (var doc = JsonDocument.Parse(File.ReadAllText(dir["mri/metrics.json"])))
            Assert.Equal(3, doc.RootElement.GetProperty("slices").GetArrayLength());
        Assert.True(File.Exists(dir["mri/slice002-result.png"]));

        Ok(CliRunner.Run("run", "--size", "64", "--simulate", "ct:views=30,arc=180", "--method", "fbp", "--out", dir["ct"]));
        var ct = Directory.GetFiles(dir["ct/dicom"]);
        Assert.Single(ct);
        Assert.Equal("CT", DicomFile.Open(ct[0]).Dataset.GetString(DicomTag.Modality));
        if (ExternalTools.Which("dciodvfy") != null) Assert.Empty(DciodvfyErrors(ct[0]));
    }

    [Fact]
    public void Run_NiftiVolume_IsWrittenAsDicomWithItsGeometryFirst()
    {
        using var dir = new TempDir();
        // 32 x 28 x 3 int16 disc volume, RAS+ axis-aligned sform: 0.9 mm in-plane, 3 mm slices, origin (−14, −12, 40).
        var nifti = NiftiFile.Int16(32, 28, 3, (x, y, z) => (short)((x - 16) * (x - 16) + (y - 14) * (y - 14) < 100 + 20 * z ? 800 + 50 * z : 40)) with
        {
            SformCode = 1, Pixdim = new[] { 0.9f, 0.9f, 3f },
            Srows = new[] { 0.9f, 0f, 0f, -14f, 0f, 0.9f, 0f, -12f, 0f, 0f, 3f, 40f },
        };
        using (var fs = File.Create(dir["vol.nii.gz"]))
        using (var gz = new System.IO.Compression.GZipStream(fs, System.IO.Compression.CompressionLevel.Fastest))
            gz.Write(nifti.Bytes());
        var r = CliRunner.Run("run", "--image", dir["vol.nii.gz"], "--simulate", "mri:accel=2,center=0.16", "--method", "zf", "--slice", "all", "--out", dir["out"]);
        Ok(r);
        Assert.Contains("written as a MR DICOM series", r.StdOut + r.StdErr);
        var source = Directory.GetFiles(dir["out/source-dicom"]).Select(f => DicomFile.Open(f).Dataset)
            .OrderBy(d => d.GetValue<int>(DicomTag.InstanceNumber)).ToList();
        Assert.Equal(3, source.Count);
        Assert.Equal(3, Directory.GetFiles(dir["out/dicom"]).Length);
        Assert.Equal("ANONYMOUS^MEDRECON", source[0].GetString(DicomTag.PatientName));
        // RAS+ → LPS: x and y change sign; slice k sits at z = 40 + 3k.
        Assert.Equal(new[] { -1.0, 0, 0, 0, -1, 0 }, source[0].GetValues<double>(DicomTag.ImageOrientationPatient));
        for (int k = 0; k < 3; k++)
            Assert.Equal(new[] { 14.0, 12, 40 + 3 * k }, source[k].GetValues<double>(DicomTag.ImagePositionPatient));
        Assert.Equal(new[] { 0.9, 0.9 }, source[0].GetValues<double>(DicomTag.PixelSpacing).Select(v => Math.Round(v, 4)));
        Assert.Equal((28, 32), (source[0].GetValue<int>(DicomTag.Rows), source[0].GetValue<int>(DicomTag.Columns)));
        using (var doc = JsonDocument.Parse(File.ReadAllText(dir["out/metrics.json"])))
        {
            Assert.Equal(Path.GetFullPath(dir["vol.nii.gz"]), doc.RootElement.GetProperty("source").GetString());
            Assert.Equal(3, doc.RootElement.GetProperty("slices").GetArrayLength());
        }
        if (ExternalTools.Which("dciodvfy") != null)
        {
            Assert.Empty(DciodvfyErrors(Directory.GetFiles(dir["out/source-dicom"])[0]));
            Assert.Empty(DciodvfyErrors(Directory.GetFiles(dir["out/dicom"])[0]));
        }
        // A truncated NIfTI: one-line error, nothing written.
        File.WriteAllBytes(dir["bad.nii"], nifti.Bytes()[..400]);
        CliRunner.AssertBadInput(CliRunner.Run("run", "--image", dir["bad.nii"], "--method", "zf", "--out", dir["b"]), "truncated");
        AssertNothingWritten(dir, "b");
    }

    /// <summary>NIfTI in, NIfTI out: the reconstructed slices land in the input's voxel grid (a left-handed affine, so
    /// the DICOM series runs against the file's slice axis), with the sub-volume's affine as sform and qform.</summary>
    [SkippableFact]
    public void Run_NiftiVolume_WritesTheResultAsNiftiInTheInputGrid()
    {
        using var dir = new TempDir();
        // 5 slices, value 100 + 200k + x; x axis flipped (radiological, det < 0), 3 mm slices.
        var nifti = NiftiFile.Int16(32, 28, 5, (x, y, z) => (short)(100 + 200 * z + x)) with
        {
            SformCode = 4, Pixdim = new[] { 0.9f, 0.9f, 3f }, // MNI 152 space, as the Colin 27 template
            Srows = new[] { -0.9f, 0f, 0f, 14f, 0f, 0.9f, 0f, -12f, 0f, 0f, 3f, 40f },
        };
        File.WriteAllBytes(dir["vol.nii"], nifti.Bytes());
        // 2x with a wide centre: each zero-filled slice keeps its mean (100 + 200k + 15.5), which names the file slice k.
        var r = CliRunner.Run("run", "--image", dir["vol.nii"], "--simulate", "mri:accel=2,center=0.45", "--method", "zf", "--slice", "3,1", "--out", dir["out"]);
        Ok(r);
        Assert.Contains("result.nii.gz", r.StdOut);
        Assert.Contains("series slice(s) 3,1 are file slice(s) 1,3", r.StdOut); // said before the work
        var v = Nifti.Read(dir["out/result.nii.gz"]);
        Assert.Equal(new long[] { 2, 28, 32 }, v.Data.shape);
        Assert.Equal("sform", v.AffineSource);
        Assert.Equal(4, v.AffineCode); // still MNI space, not relabelled as scanner
        // Series slices 3 and 1 are file slices 1 and 3 (the series is sorted along row × column = −z): a sub-volume
        // starting at k = 1 with a slice step of 2 (6 mm).
        var want = new double[,] { { -0.9, 0, 0, 14 }, { 0, 0.9, 0, -12 }, { 0, 0, 6, 43 } };
        for (int row = 0; row < 3; row++)
            for (int col = 0; col < 4; col++)
                Assert.True(Math.Abs(want[row, col] - v.Affine[row, col]) < 1e-4, $"affine[{row},{col}] {v.Affine[row, col]}, expected {want[row, col]}");
        for (int j = 0; j < 2; j++)
        {
            int k = 1 + 2 * j;
            double mean = v.Data[j].mean().item<float>();
            Assert.True(Math.Abs(mean - (115.5 + 200 * k)) < 20, $"result slice {j}: mean {mean}, file slice {k} has {115.5 + 200 * k}");
        }
        // Unevenly spaced slices have no single affine: the run succeeds, says why, and writes no NIfTI.
        var uneven = CliRunner.Run("run", "--image", dir["vol.nii"], "--simulate", "mri:accel=2,center=0.45", "--method", "zf", "--slice", "0,1,3", "--out", dir["uneven"]);
        Ok(uneven);
        Assert.Contains("not evenly spaced", uneven.StdOut);
        Assert.False(File.Exists(dir["uneven/result.nii.gz"]));
        Assert.Equal(3, Directory.GetFiles(dir["uneven/dicom"]).Length);
        Assert.Contains("will not be written", uneven.StdOut);
        // nifti_tool computes the same sform and, from our quaternion and qfac −1, the same qform.
        foreach (var field in new[] { "sto_xyz", "qto_xyz" }) NiftiTool.AssertAffine(dir["out/result.nii.gz"], field, want, "result.nii.gz");
        // A rerun into the first folder that writes no NIfTI leaves no stale result.nii.gz beside the new series.
        Ok(CliRunner.Run("run", "--image", dir["vol.nii"], "--simulate", "mri:accel=2,center=0.45", "--method", "zf", "--slice", "0,1,3", "--out", dir["out"]));
        Assert.False(File.Exists(dir["out/result.nii.gz"]), "stale result.nii.gz of the earlier run");
        Assert.Equal(3, Directory.GetFiles(dir["out/dicom"]).Length);
    }

    /// <summary>With samples, the per-pixel standard deviation comes back as std.nii.gz in the same grid (right-handed
    /// affine: series order is file order).</summary>
    [Fact]
    public void Run_NiftiVolume_WithSamples_WritesTheStandardDeviationAsNifti()
    {
        using var dir = new TempDir();
        var nifti = NiftiFile.Int16(32, 32, 3, (x, y, z) => (short)((x - 16) * (x - 16) + (y - 16) * (y - 16) < 80 ? 900 : 60)) with
        {
            SformCode = 1, Pixdim = new[] { 1f, 1f, 2f },
            Srows = new[] { 1f, 0f, 0f, -16f, 0f, 1f, 0f, -16f, 0f, 0f, 2f, 10f },
        };
        File.WriteAllBytes(dir["v.nii"], nifti.Bytes());
        Ok(CliRunner.Run("run", "--image", dir["v.nii"], "--simulate", "mri:accel=4,center=0.08", "--method", "cm", "--start", "zf", "--nfe", "1",
            "--samples", "2", "--slice", "1-2", "--out", dir["out"]));
        var mean = Nifti.Read(dir["out/result.nii.gz"]);
        var std = Nifti.Read(dir["out/std.nii.gz"]);
        Assert.Equal(new long[] { 2, 32, 32 }, mean.Data.shape);
        Assert.Equal(new long[] { 2, 32, 32 }, std.Data.shape);
        Assert.True(std.Data.min().item<float>() >= 0, "a standard deviation is not negative");
        Assert.True(std.Data.max().item<float>() > 0, "two seeds differ where k-space was not measured");
        // Slices 1–2 of a right-handed file: origin moves by one slice (z 10 → 12), step 2 mm.
        Assert.Equal(12, std.Affine[2, 3], 4);
        Assert.Equal(2, std.Affine[2, 2], 4);
    }

    [Fact]
    public void NiftiSubVolumeMapsSeriesSlicesToTheFileAndRefusesWhatNoAffineDescribes()
    {
        var right = new double[,] { { 1, 0, 0, 5 }, { 0, 1, 0, 6 }, { 0, 0, 2, 7 } };
        var sub = MedRecon.Cli.Pipelines.DicomImages.NiftiSubVolume(right, 10, new[] { 6, 2, 4 }, out var why);
        Assert.NotNull(sub);
        Assert.Null(why);
        Assert.Equal(new[] { 1, 2, 0 }, sub!.Value.Order); // file slices 2, 4, 6
        Assert.Equal(7 + 2 * 2, sub.Value.Affine[2, 3], 9);
        Assert.Equal(4, sub.Value.Affine[2, 2], 9);
        var left = new double[,] { { -1, 0, 0, 5 }, { 0, 1, 0, 6 }, { 0, 0, 2, 7 } };
        Assert.Equal(new[] { 9, 7 }, MedRecon.Cli.Pipelines.DicomImages.NiftiSliceOf(left, 10, new[] { 0, 2 }));
        Assert.Null(MedRecon.Cli.Pipelines.DicomImages.NiftiSubVolume(right, 10, new[] { 0, 1, 3 }, out why));
        Assert.Contains("not evenly spaced", why);
        Assert.Null(MedRecon.Cli.Pipelines.DicomImages.NiftiSubVolume(new double[3, 4], 10, new[] { 0 }, out why));
        Assert.Contains("singular", why);
    }

    [Fact]
    public void SliceSelectionTakesIndicesListsAndRanges()
    {
        Assert.Equal(new[] { 4 }, MedRecon.Cli.Pipelines.DicomImages.ParseSlices(null, 10));
        Assert.Equal(new[] { 7 }, MedRecon.Cli.Pipelines.DicomImages.ParseSlices("7", 10));
        Assert.Equal(Enumerable.Range(0, 10), MedRecon.Cli.Pipelines.DicomImages.ParseSlices("all", 10));
        Assert.Equal(new[] { 3, 5, 7 }, MedRecon.Cli.Pipelines.DicomImages.ParseSlices("3,5,7", 10));
        Assert.Equal(new[] { 6, 7, 8, 9 }, MedRecon.Cli.Pipelines.DicomImages.ParseSlices("6-9", 10));
        Assert.Equal(new[] { 9, 0, 1, 2 }, MedRecon.Cli.Pipelines.DicomImages.ParseSlices(" 9, 0-2 ", 10));
        foreach (var (bad, says) in new[] { ("10", "out of range"), ("-1", "out of range"), ("3-2", "backwards"), ("1,1", "twice"),
                     ("0-2,2", "twice"), ("x", "expected"), ("2-", "expected"), ("", "expected") })
        {
            var e = Assert.Throws<MedRecon.Cli.CliException>(() => MedRecon.Cli.Pipelines.DicomImages.ParseSlices(bad, 10));
            Assert.Contains(says, e.Message);
        }
    }

    /// <summary>The CT dose reaches the data consistency and TV's data term: `simulate ct --photons` records it and
    /// `recon ct --method cm|tv` uses it by default (said on stderr; --photons 0 unweighted), `run` uses the simulated
    /// photons= and records them in metrics.json; the option is CT's, not negative, not combined with a constant weight,
    /// and no other classical method takes it.</summary>
    [Fact]
    public void Ct_Cm_WeighsLowDoseDataByThePhotons()
    {
        using var dir = new TempDir();
        Ok(CliRunner.Run("simulate", "ct", "--image", "shepp-logan", "--size", "48", "--views", "20", "--pixel-size", "0.02",
            "--photons", "500", "--out", dir["sim"]));
        using (var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(dir["sim/simulation.json"])))
            Assert.Equal(500, doc.RootElement.GetProperty("photons").GetDouble());
        string[] cm = { "recon", "ct", "--sinogram", dir["sim/sino.npy"], "--angles", dir["sim/angles.npy"], "--geometry", dir["sim/geometry.json"],
            "--method", "cm", "--nfe", "1", "--start", "fbp" };
        var r = CliRunner.Run(cm.Concat(new[] { "--out", dir["a.npy"] }).ToArray());
        Ok(r);
        Assert.Contains("I0 500 from simulation.json (--photons 0: unweighted)", r.StdErr);
        var explicitRun = CliRunner.Run(cm.Concat(new[] { "--photons", "500", "--out", dir["b.npy"] }).ToArray());
        Ok(explicitRun);
        Assert.DoesNotContain("from simulation.json", explicitRun.StdErr);
        Assert.True((Npy.Read(dir["a.npy"]) == Npy.Read(dir["b.npy"])).all().item<bool>(), "the recorded dose = --photons 500, bit for bit");
        var exact = CliRunner.Run(cm.Concat(new[] { "--consistency-weight", "0", "--out", dir["c.npy"] }).ToArray());
        Ok(exact);
        Assert.False((Npy.Read(dir["a.npy"]) == Npy.Read(dir["c.npy"])).all().item<bool>(), "a weight instead of the dose: another step");
        Ok(CliRunner.Run(cm.Concat(new[] { "--photons", "0", "--out", dir["c0.npy"] }).ToArray()));
        Assert.True((Npy.Read(dir["c0.npy"]) == Npy.Read(dir["c.npy"])).all().item<bool>(), "--photons 0 = the exact step");
        // TV: the recorded dose weighs its data term (PWLS-TV); --photons 0 does not.
        string[] tv = { "recon", "ct", "--sinogram", dir["sim/sino.npy"], "--angles", dir["sim/angles.npy"], "--geometry", dir["sim/geometry.json"],
            "--method", "tv", "--iters", "50" };
        var tvRun = CliRunner.Run(tv.Concat(new[] { "--out", dir["tv.npy"] }).ToArray());
        Ok(tvRun);
        Assert.Contains("tv: rays weighted by their counts, I0 500", tvRun.StdErr);
        Ok(CliRunner.Run(tv.Concat(new[] { "--photons", "0", "--out", dir["tv0.npy"] }).ToArray()));
        Assert.False((Npy.Read(dir["tv.npy"]) == Npy.Read(dir["tv0.npy"])).all().item<bool>(), "weighted and unweighted TV differ");
        // A noise-free simulation records no dose: exact, as before.
        Ok(CliRunner.Run("simulate", "ct", "--image", "shepp-logan", "--size", "48", "--views", "20", "--out", dir["clean"]));
        var clean = CliRunner.Run("recon", "ct", "--sinogram", dir["clean/sino.npy"], "--angles", dir["clean/angles.npy"], "--geometry",
            dir["clean/geometry.json"], "--method", "cm", "--nfe", "1", "--start", "fbp", "--out", dir["d.npy"]);
        Ok(clean);
        Assert.DoesNotContain("simulation.json", clean.StdErr);
        // Gaussian sinogram noise recorded by simulate ct: its σ weighs the cm data consistency (--noise-sigma 0: exact).
        Ok(CliRunner.Run("simulate", "ct", "--image", "shepp-logan", "--size", "48", "--views", "20", "--pixel-size", "0.02",
            "--noise", "0.05", "--out", dir["gauss"]));
        string[] gcm = { "recon", "ct", "--sinogram", dir["gauss/sino.npy"], "--angles", dir["gauss/angles.npy"], "--geometry", dir["gauss/geometry.json"],
            "--method", "cm", "--nfe", "1", "--start", "fbp" };
        var g = CliRunner.Run(gcm.Concat(new[] { "--out", dir["g.npy"] }).ToArray());
        Ok(g);
        Assert.Contains("sinogram noise σ 0.05 from simulation.json (--noise-sigma 0: exact)", g.StdErr);
        Ok(CliRunner.Run(gcm.Concat(new[] { "--noise-sigma", "0.05", "--out", dir["g1.npy"] }).ToArray()));
        Assert.True((Npy.Read(dir["g.npy"]) == Npy.Read(dir["g1.npy"])).all().item<bool>(), "the recorded σ = --noise-sigma 0.05, bit for bit");
        CliRunner.AssertBadInput(CliRunner.Run(gcm.Concat(new[] { "--noise-sigma", "0.05", "--photons", "500", "--out", dir["e.npy"] }).ToArray()),
            "--noise-sigma", "--photons", "one noise model");
        // run: the simulated dose, recorded in metrics.json and the derivation.
        Ok(CliRunner.Run("run", "--size", "48", "--simulate", "ct:views=20,photons=2000", "--method", "cm", "--nfe", "1", "--out", dir["run"]));
        using (var m = System.Text.Json.JsonDocument.Parse(File.ReadAllText(dir["run/metrics.json"])))
        {
            Assert.Equal(2000, m.RootElement.GetProperty("photons").GetDouble());
            Assert.Equal(System.Text.Json.JsonValueKind.Null, m.RootElement.GetProperty("consistencyWeight").ValueKind);
        }
        // Bad input: one line, nothing written.
        CliRunner.AssertBadInput(CliRunner.Run(cm.Concat(new[] { "--photons", "-1", "--out", dir["e.npy"] }).ToArray()), "--photons -1");
        CliRunner.AssertBadInput(CliRunner.Run(cm.Concat(new[] { "--photons", "500", "--consistency-weight", "0.1", "--out", dir["e.npy"] }).ToArray()),
            "--photons", "not both");
        CliRunner.AssertBadInput(CliRunner.Run("run", "--size", "32", "--method", "cm", "--photons", "500", "--out", dir["f"]), "--photons", "CT", "MRI");
        CliRunner.AssertBadInput(CliRunner.Run("recon", "ct", "--sinogram", dir["sim/sino.npy"], "--angles", dir["sim/angles.npy"], "--geometry",
            dir["sim/geometry.json"], "--method", "fbp", "--photons", "500", "--out", dir["e.npy"]), "--photons", "also to tv");
        CliRunner.AssertBadInput(CliRunner.Run("run", "--size", "32", "--simulate", "ct:views=20,photons=0", "--method", "cm", "--out", dir["f"]), "photons=0");
        Assert.False(File.Exists(dir["e.npy"]));
        AssertNothingWritten(dir, "f");
    }

    [Fact]
    public void Run_BadInput_IsOneLineError_AndNothingIsWritten()
    {
        using var dir = new TempDir();
        CliRunner.AssertBadInput(CliRunner.Run("run", "--size", "32", "--simulate", "mri:accel=x", "--out", dir["a"]), "accel=x");
        AssertNothingWritten(dir, "a");
        CliRunner.AssertBadInput(CliRunner.Run("run", "--size", "32", "--simulate", "pet:dose=1", "--out", dir["a"]), "mri:", "ct:");
        CliRunner.AssertBadInput(CliRunner.Run("run", "--size", "32", "--simulate", "mri:accel=4", "--method", "fbp", "--out", dir["a"]), "--method fbp", "MRI");
        CliRunner.AssertBadInput(CliRunner.Run("run", "--size", "32", "--method", "tv", "--nfe", "4", "--out", dir["a"]), "--nfe");
        CliRunner.AssertBadInput(CliRunner.Run("run", "--size", "32", "--method", "tv", "--start", "tv", "--out", dir["a"]), "--start");
        CliRunner.AssertBadInput(CliRunner.Run("run", "--size", "32", "--method", "cm", "--start", "fbp", "--out", dir["a"]), "--start fbp", "MRI", "zf or tv");
        CliRunner.AssertBadInput(CliRunner.Run("run", "--size", "32", "--simulate", "ct:views=20", "--method", "cm", "--start", "zf", "--out", dir["a"]), "--start zf", "CT", "fbp or tv");
        CliRunner.AssertBadInput(CliRunner.Run("run", "--size", "32", "--method", "tv", "--start-iterations", "50", "--out", dir["a"]), "--start-iterations");
        CliRunner.AssertBadInput(CliRunner.Run("run", "--size", "32", "--method", "cm", "--start", "zf", "--start-iterations", "50", "--out", dir["a"]), "--start-iterations", "TV start");
        CliRunner.AssertBadInput(CliRunner.Run("run", "--size", "32", "--method", "diffusion", "--start-iterations", "50", "--out", dir["a"]), "--start-iterations", "TV start");
        CliRunner.AssertBadInput(CliRunner.Run("run", "--size", "32", "--method", "cm", "--start-iterations", "0", "--out", dir["a"]), "--start-iterations 0", "between 1 and 10000");
        CliRunner.AssertBadInput(CliRunner.Run("run", "--size", "32", "--method", "cm", "--sigma-inflation", "0.8", "--out", dir["a"]), "--sigma-inflation 0.8", "[1, 10]");
        CliRunner.AssertBadInput(CliRunner.Run("run", "--size", "32", "--method", "diffusion", "--sigma-inflation", "1.25", "--out", dir["a"]), "--sigma-inflation", "--method cm");
        CliRunner.AssertBadInput(CliRunner.Run("run", "--size", "32", "--method", "tv", "--sigma-inflation", "1.25", "--out", dir["a"]), "--sigma-inflation");
        CliRunner.AssertBadInput(CliRunner.Run("run", "--size", "32", "--method", "cm", "--momentum", "1.5", "--out", dir["a"]), "--momentum 1.5", "[0, 1]");
        CliRunner.AssertBadInput(CliRunner.Run("run", "--size", "32", "--method", "cm", "--momentum", "-0.1", "--out", dir["a"]), "--momentum -0.1");
        CliRunner.AssertBadInput(CliRunner.Run("run", "--size", "32", "--method", "diffusion", "--momentum", "0.3", "--out", dir["a"]), "--momentum", "--method cm");
        CliRunner.AssertBadInput(CliRunner.Run("run", "--size", "32", "--method", "tv", "--momentum", "0.3", "--out", dir["a"]), "--momentum");
        CliRunner.AssertBadInput(CliRunner.Run("run", "--size", "32", "--simulate", "ct:views=20", "--method", "cm", "--noise-sigma", "auto", "--out", dir["a"]), "--noise-sigma auto", "MRI");
        CliRunner.AssertBadInput(CliRunner.Run("run", "--size", "32", "--method", "cm", "--noise-sigma", "2", "--consistency-weight", "0.1", "--out", dir["a"]), "--noise-sigma", "not both");
        CliRunner.AssertBadInput(CliRunner.Run("run", "--size", "32", "--method", "cm", "--noise-sigma", "-1", "--out", dir["a"]), "--noise-sigma -1");
        CliRunner.AssertBadInput(CliRunner.Run("run", "--size", "32", "--method", "cm", "--nfe", "1", "--sigma-end", "0.05", "--out", dir["a"]), "--sigma-end", "single network evaluation");
        // A final σ above the task's starting σ: refused before the TV start, naming both.
        CliRunner.AssertBadInput(CliRunner.Run("run", "--size", "32", "--method", "cm", "--nfe", "2", "--sigma-end", "0.5", "--out", dir["a"]), "final σ 0.5", "σ_0");
        // A model of another modality.
        CliRunner.AssertBadInput(CliRunner.Run("run", "--size", "32", "--simulate", "ct:views=20", "--method", "cm", "--model", MrPrior, "--out", dir["a"]),
            "modality 'mr'", "--model");
        AssertNothingWritten(dir, "a");
        // A model of another architecture (2 input channels).
        var cfg = UNetConfig.Tiny with { InChannels = 2 };
        using (var net = new UNet(cfg, new torch.Generator(1)))
            ModelIO.Save(net, new ModelMetadata { Architecture = cfg, Modality = "mr", Stage = "denoiser" }, dir["two.safetensors"]);
        CliRunner.AssertBadInput(CliRunner.Run("run", "--size", "32", "--method", "cm", "--model", dir["two.safetensors"], "--out", dir["a"]),
            "2 input and 1 output channel(s)", "1 and 1");
        AssertNothingWritten(dir, "a");
        // Weights that disagree with their own metadata (other widths), and a truncated file: says which, in one line.
        var tiny = UNetConfig.Tiny;
        using (var net = new UNet(tiny, new torch.Generator(1)))
            ModelIO.Save(net, new ModelMetadata { Architecture = tiny, Modality = "mr", Stage = "denoiser" }, dir["ok.safetensors"]);
        WithHeader(dir["ok.safetensors"], dir["widths.safetensors"], header =>
        {
            string meta = header["__metadata__"]!["medrecon"]!.GetValue<string>();
            Assert.Contains("\"widths\":[8,16]", meta);
            header["__metadata__"]!["medrecon"] = meta.Replace("\"widths\":[8,16]", "\"widths\":[16,32]");
        });
        CliRunner.AssertBadInput(CliRunner.Run("run", "--size", "32", "--method", "cm", "--model", dir["widths.safetensors"], "--out", dir["a"]),
            "weights and metadata disagree", "in the file");
        var bytes = File.ReadAllBytes(dir["ok.safetensors"]);
        File.WriteAllBytes(dir["cut.safetensors"], bytes[..(bytes.Length - 1000)]);
        CliRunner.AssertBadInput(CliRunner.Run("run", "--size", "32", "--method", "cm", "--model", dir["cut.safetensors"], "--out", dir["a"]),
            "truncated", $"the file has {bytes.Length - 1000}");
        WithHeader(dir["ok.safetensors"], dir["shape.safetensors"], header =>
        {
            var first = header.First(kv => kv.Key != "__metadata__").Value!.AsObject();
            first["shape"] = new System.Text.Json.Nodes.JsonArray("3", 3);
        });
        CliRunner.AssertBadInput(CliRunner.Run("run", "--size", "32", "--method", "cm", "--model", dir["shape.safetensors"], "--out", dir["a"]),
            "not lists of non-negative integers");
        AssertNothingWritten(dir, "a");
        CliRunner.AssertBadInput(CliRunner.Run("run", "--size", "32", "--method", "cm", "--model", dir["missing.safetensors"], "--out", dir["a"]), "not found");
        // A DICOM series that mixes slice sizes.
        Ok(CliRunner.Run("phantom", "--kind", "ellipses", "--size", "32", "--count", "2", "--format", "dicom", "--modality", "mr", "--out", dir["s32"]));
        Ok(CliRunner.Run("phantom", "--kind", "ellipses", "--size", "48", "--count", "1", "--format", "dicom", "--modality", "mr", "--out", dir["s48"]));
        string uid = DicomFile.Open(Directory.GetFiles(dir["s32"])[0]).Dataset.GetString(DicomTag.SeriesInstanceUID)!;
        var odd = DicomFile.Open(Directory.GetFiles(dir["s48"])[0]);
        odd.Dataset.AddOrUpdate(DicomTag.SeriesInstanceUID, uid);
        odd.Save(Path.Combine(dir["s32"], "odd.dcm"));
        CliRunner.AssertBadInput(CliRunner.Run("run", "--image", dir["s32"], "--method", "zf", "--slice", "all", "--out", dir["a"]), "mixes slice sizes");
        AssertNothingWritten(dir, "a");
    }

    /// <summary>Copies a safetensors file with its JSON header edited (the tensor bytes unchanged).</summary>
    static void WithHeader(string from, string to, Action<System.Text.Json.Nodes.JsonObject> edit)
    {
        var bytes = File.ReadAllBytes(from);
        long length = (long)System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        var header = System.Text.Json.Nodes.JsonNode.Parse(System.Text.Encoding.UTF8.GetString(bytes, 8, (int)length))!.AsObject();
        edit(header);
        var newHeader = System.Text.Encoding.UTF8.GetBytes(header.ToJsonString());
        using var fs = File.Create(to);
        var len = new byte[8];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)newHeader.Length);
        fs.Write(len);
        fs.Write(newHeader);
        fs.Write(bytes, 8 + (int)length, bytes.Length - 8 - (int)length);
    }

    /// <summary>Where the std report is undefined (a zero std, an exact result) the run says so and goes on: the
    /// reconstruction already made is not lost to it.</summary>
    [Fact]
    public void UncertaintyThatCannotBeMeasuredIsSaidNotThrown()
    {
        var log = new StringWriter();
        var reference = torch.rand(16, 16);
        Assert.Null(MedRecon.Cli.CliSupport.Uncertainty(reference, reference + 0.1f, torch.zeros(16, 16), log));
        Assert.Contains("std against |error| not measured", log.ToString());
        Assert.Contains("zero everywhere", log.ToString());
        var u = MedRecon.Cli.CliSupport.Uncertainty(reference, reference + 0.1f, torch.full(16, 16, 0.04f), log);
        Assert.NotNull(u);
        Assert.Equal(0.0, u!.Coverage2Std); // |error| 0.1 > 2·0.04 everywhere
        Assert.Equal(2.5, u.ErrorToStdRatio, 5);
        Assert.Null(u.Correlation); // both constant
    }

    /// <summary>`recon ct --ref` prints PSNR/SSIM/NMSE and, with samples, how the std relates to the error (the same
    /// numbers `medrecon metrics` gives for the file); a reference of the wrong size fails before any work.</summary>
    [Fact]
    public void ReconCt_Ref_PrintsMetricsAndUncertainty_AndRejectsAWrongSizedReference()
    {
        using var dir = new TempDir();
        Ok(CliRunner.Run("simulate", "ct", "--image", "shepp-logan", "--size", "64", "--views", "30", "--out", dir["sim"]));
        string[] common = { "recon", "ct", "--sinogram", dir["sim/sino.npy"], "--angles", dir["sim/angles.npy"], "--geometry", dir["sim/geometry.json"] };
        var r = CliRunner.Run(common.Concat(new[] { "--method", "cm", "--nfe", "1", "--start", "fbp", "--samples", "2",
            "--model", Path.Combine(ExternalTools.RepositoryRoot, "models", "ct-prior.safetensors"), "--ref", dir["sim/gt.npy"], "--out", dir["x.npy"] }).ToArray());
        Ok(r);
        Assert.Contains("std against |error|: correlation", r.StdOut);
        var metrics = CliRunner.Run("metrics", "--ref", dir["sim/gt.npy"], "--test", dir["x.npy"]);
        Ok(metrics);
        static double Psnr(string stdout) => double.Parse(stdout.Split('\n').First(l => l.StartsWith("PSNR")).Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(Math.Abs(Psnr(r.StdOut) - Psnr(metrics.StdOut)), 0, 0.006); // printed to 0.01 and 0.001 dB
        // Classical methods take --ref too; a wrong-sized reference fails before the work and writes nothing.
        Ok(r = CliRunner.Run(common.Concat(new[] { "--method", "fbp", "--ref", dir["sim/gt.npy"], "--out", dir["fbp.npy"] }).ToArray()));
        Assert.Contains("PSNR", r.StdOut);
        Assert.DoesNotContain("std against", r.StdOut);
        Npy.Write(dir["small.npy"], torch.zeros(32, 32));
        CliRunner.AssertBadInput(CliRunner.Run(common.Concat(new[] { "--method", "fbp", "--ref", dir["small.npy"], "--out", dir["bad.npy"] }).ToArray()),
            "small.npy", "(32, 32)", "64×64");
        Assert.False(File.Exists(dir["bad.npy"]));
    }

    [Fact]
    public void ReconMri_Cm_WritesMeanAndStd_AndRejectsMismatchedMask()
    {
        using var dir = new TempDir();
        Ok(CliRunner.Run("simulate", "mri", "--image", "shepp-logan", "--size", "64", "--accel", "4", "--out", dir["sim"]));
        var r = CliRunner.Run("recon", "mri", "--kspace", dir["sim/ksp.npy"], "--mask", dir["sim/mask.npy"], "--method", "cm",
            "--nfe", "2", "--samples", "2", "--model", MrPrior, "--ref", dir["sim/gt.npy"], "--out", dir["x.npy"]);
        Ok(r);
        Assert.Contains("PSNR", r.StdOut);
        Assert.Contains("std against |error|: correlation", r.StdOut); // with --ref and samples, how the std relates to the error
        Assert.Equal(new long[] { 64, 64 }, Npy.Read(dir["x.npy"]).shape);
        var std = Npy.Read(dir["x.std.npy"]);
        Assert.Equal(new long[] { 64, 64 }, std.shape);
        Assert.True(std.max().item<float>() > 0);
        // The data consistency's noise: the σ simulation.json says was added, else estimated from the outer k-space
        // (noise-free simulations and acquired data alike), or as given.
        Assert.Contains("estimated from the measured outer k-space (simulation.json adds none", r.StdErr);
        Ok(CliRunner.Run("simulate", "mri", "--image", "shepp-logan", "--size", "64", "--accel", "4", "--noise", "0.5", "--out", dir["noisy"]));
        var noisy = CliRunner.Run("recon", "mri", "--kspace", dir["noisy/ksp.npy"], "--mask", dir["noisy/mask.npy"], "--method", "cm",
            "--nfe", "1", "--model", MrPrior, "--out", dir["noisy.npy"]);
        Ok(noisy);
        Assert.Contains("k-space noise σ 0.5 from simulation.json", noisy.StdErr);
        Assert.DoesNotContain("estimated", noisy.StdErr);
        Assert.DoesNotContain("earlier run", r.StdErr);
        // Re-run into the same file with one sample: the earlier x.std.npy stays (nothing of the user's is deleted),
        // and the run says it is not this result's.
        var again = CliRunner.Run("recon", "mri", "--kspace", dir["sim/ksp.npy"], "--mask", dir["sim/mask.npy"], "--method", "cm",
            "--nfe", "1", "--model", MrPrior, "--out", dir["x.npy"]);
        Ok(again);
        Assert.Contains("x.std.npy is from an earlier run with --samples > 1", again.StdErr);
        Assert.True(File.Exists(dir["x.std.npy"]));
        Directory.CreateDirectory(dir["acquired"]);
        foreach (var f in new[] { "ksp.npy", "mask.npy" }) File.Copy(dir[$"sim/{f}"], dir[$"acquired/{f}"]);
        var acquired = CliRunner.Run("recon", "mri", "--kspace", dir["acquired/ksp.npy"], "--mask", dir["acquired/mask.npy"], "--method", "cm",
            "--nfe", "1", "--model", MrPrior, "--out", dir["acq.npy"]);
        Ok(acquired);
        Assert.Contains("estimated from the measured outer k-space", acquired.StdErr);
        var estimate = System.Text.RegularExpressions.Regex.Match(acquired.StdErr, @"k-space noise σ estimated from the outer k-space: ([0-9.eE+-]+)");
        Assert.True(estimate.Success, acquired.StdErr);
        Assert.True(double.Parse(estimate.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) > 0, "a positive noise estimate");
        var given = CliRunner.Run("recon", "mri", "--kspace", dir["acquired/ksp.npy"], "--mask", dir["acquired/mask.npy"], "--method", "cm",
            "--nfe", "1", "--noise-sigma", "0", "--model", MrPrior, "--out", dir["acq0.npy"]);
        Ok(given);
        Assert.DoesNotContain("estimated", given.StdErr);
        // The standard deviation's path taken by a folder: refused before the work, and neither output written.
        Directory.CreateDirectory(dir["z.std.npy"]);
        CliRunner.AssertBadInput(CliRunner.Run("recon", "mri", "--kspace", dir["sim/ksp.npy"], "--mask", dir["sim/mask.npy"], "--method", "cm",
            "--nfe", "1", "--samples", "2", "--model", MrPrior, "--out", dir["z.npy"]), "z.std.npy", "is a folder");
        Assert.False(File.Exists(dir["z.npy"]));
        // Mask of another size → clear error, no output.
        Ok(CliRunner.Run("simulate", "mri", "--image", "shepp-logan", "--size", "32", "--out", dir["sim32"]));
        CliRunner.AssertBadInput(CliRunner.Run("recon", "mri", "--kspace", dir["sim/ksp.npy"], "--mask", dir["sim32/mask.npy"], "--method", "cm",
            "--out", dir["y.npy"]), "mask", "does not match");
        Assert.False(File.Exists(dir["y.npy"]));
        // The classical solvers' options with cm would be ignored: refused; so is a schedule option out of range.
        CliRunner.AssertBadInput(CliRunner.Run("recon", "mri", "--kspace", dir["sim/ksp.npy"], "--mask", dir["sim/mask.npy"], "--method", "cm",
            "--lambda", "0.01", "--out", dir["y.npy"]), "--lambda", "--consistency-weight");
        CliRunner.AssertBadInput(CliRunner.Run("recon", "mri", "--kspace", dir["sim/ksp.npy"], "--mask", dir["sim/mask.npy"], "--method", "cm",
            "--consistency-weight", "-1", "--out", dir["y.npy"]), "--consistency-weight -1");
        CliRunner.AssertBadInput(CliRunner.Run("recon", "mri", "--kspace", dir["sim/ksp.npy"], "--mask", dir["sim/mask.npy"], "--method", "tv",
            "--rho", "3", "--out", dir["y.npy"]), "--rho", "not tv");
        Assert.False(File.Exists(dir["y.npy"]));
        // --nfe without a zero-shot method.
        CliRunner.AssertBadInput(CliRunner.Run("recon", "mri", "--kspace", dir["sim/ksp.npy"], "--mask", dir["sim/mask.npy"], "--method", "tv",
            "--nfe", "3", "--out", dir["y.npy"]), "--nfe");
    }
}
