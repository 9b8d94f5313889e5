using MedRecon.Core.IO;
using MedRecon.Model;
using MedRecon.Tests.Infrastructure;
using TorchSharp;
using static TorchSharp.torch;

namespace MedRecon.Tests.Model;

/// <summary>
/// The PyTorch twin (tools/twin) that trains priors on CUDA machines must be the same network: same outputs on the
/// same weights, files that load both ways, and a trainer whose output MedRecon loads. Runs Debian's python3-torch.
/// </summary>
public class TwinTests
{
    static string TwinDir => Path.Combine(ExternalTools.RepositoryRoot, "tools", "twin");
    static string ShippedMr => Path.Combine(ExternalTools.RepositoryRoot, "models", "mr-prior.safetensors");

    static void Twin(params string[] args)
    {
        var (code, _, err) = ExternalTools.Run(ExternalTools.DebianPython,
            new[] { Path.Combine(TwinDir, "medrecon_twin.py") }.Concat(args), timeoutMs: 300_000);
        Assert.True(code == 0, $"twin failed ({code}): {err}");
    }

    [SkippableTheory]
    [InlineData(0.3)]
    [InlineData(5.0)]
    [InlineData(0.002)]
    public void TwinGivesTheSameOutputsAsTheCSharpNetworkOnTheShippedWeights(double sigma)
    {
        ExternalTools.RequirePython("torch", "numpy");
        using var tmp = new TempDir();
        var (f, _) = ModelIO.Load(ShippedMr);
        using (f)
        using (torch.no_grad())
        {
            // 2 × 38 × 50: not a multiple of 4, so the reflect padding and crop are compared too.
            using var x = torch.randn(new long[] { 2, 1, 38, 50 }, generator: new torch.Generator(11)) * 0.6 - 0.2;
            Npy.Write(tmp["x.npy"], x);
            using var mine = f.Forward(x, sigma);
            Twin("forward", ShippedMr, tmp["x.npy"], sigma.ToString("R", System.Globalization.CultureInfo.InvariantCulture), tmp["y.npy"]);
            using var theirs = Npy.Read(tmp["y.npy"]);
            Assert.Equal(mine.shape, theirs.shape);
            double maxDiff = (mine - theirs).abs().max().item<float>();
            double scale = mine.abs().max().item<float>();
            // float32 on both sides, different kernels and summation orders: agreement to ~1e-5 of the output scale.
            Assert.True(maxDiff <= 1e-4 * Math.Max(1, scale), $"σ={sigma}: max |C# − twin| = {maxDiff:E2} (output scale {scale:F3})");
            if (sigma == 0.002) Assert.Equal(0.0, maxDiff); // f(x, σ_min) = x on both sides
        }
    }

    [SkippableFact]
    public void WeightsWrittenByTheTwinLoadBitExactlyInMedRecon()
    {
        ExternalTools.RequirePython("torch", "numpy");
        using var tmp = new TempDir();
        Twin("resave", ShippedMr, tmp["copy.safetensors"]);
        var (a, ma) = ModelIO.Load(ShippedMr);
        var (b, mb) = ModelIO.Load(tmp["copy.safetensors"]);
        using (a)
        using (b)
        {
            Assert.Equal(ma.Modality, mb.Modality);
            Assert.Equal(ma.Steps, mb.Steps);
            Assert.True(ma.Architecture.SameArchitecture(mb.Architecture));
            var pb = b.Network.named_parameters().ToDictionary(p => p.name, p => p.parameter);
            foreach (var (name, p) in a.Network.named_parameters())
                Assert.True(Bits.Same(p, pb[name]), $"{name} differs after the twin's save");
        }
    }

    [SkippableFact]
    public void HalfPrecisionWeightsLoadInMedReconAtHalfTheSizeAndGiveTheSameOutputs()
    {
        ExternalTools.RequirePython("torch", "numpy");
        using var tmp = new TempDir();
        Twin("resave", ShippedMr, tmp["half.safetensors"], "--half");
        // float16 halves the file (a network of up to ~10 M parameters fits the 20 MB limit); header and metadata stay.
        long full = new FileInfo(ShippedMr).Length, half = new FileInfo(tmp["half.safetensors"]).Length;
        Assert.InRange(half, full / 2 - 20_000, full / 2 + 20_000);
        var (a, ma) = ModelIO.Load(ShippedMr);
        var (b, mb) = ModelIO.Load(tmp["half.safetensors"]);
        using (a)
        using (b)
        using (torch.no_grad())
        {
            Assert.Equal(ma.Steps, mb.Steps);
            Assert.Equal(ScalarType.Float32, b.Network.parameters().First().dtype); // cast on load: inference stays float32
            foreach (double sigma in new[] { 0.05, 0.5, 5.0 })
            {
                using var x = torch.randn(new long[] { 1, 1, 64, 64 }, generator: new torch.Generator(3)) * 0.6 - 0.2;
                using var ya = a.Forward(x, sigma);
                using var yb = b.Forward(x, sigma);
                double diff = (ya - yb).abs().max().item<float>(), scale = ya.abs().max().item<float>();
                // Weights rounded to 11 significant bits: outputs agree to ~1e-3 of their scale, not bit for bit.
                Assert.True(diff <= 2e-3 * Math.Max(1, scale) && diff > 0, $"σ={sigma}: max |float32 − float16 weights| = {diff:E2}");
            }
        }
    }

    [SkippableFact]
    public void TwinTrainerWritesDenoiserAndConsistencyWeightsThatMedReconLoads()
    {
        ExternalTools.RequirePython("torch", "numpy");
        using var tmp = new TempDir();
        WriteToyTrainingSet(tmp);
        var (code, stdout, err) = TrainTwin(tmp, "--out", tmp["toy.safetensors"], "--max-steps", "6");
        Assert.True(code == 0, $"train_twin failed ({code}): {err}\n{stdout}");

        var (den, dm) = ModelIO.Load(tmp["toy-denoiser.safetensors"]);
        var (cm, cmMeta) = ModelIO.Load(tmp["toy.safetensors"]);
        using (den)
        using (cm)
        {
            Assert.Equal("denoiser", dm.Stage);
            Assert.Equal(3, dm.Steps);
            Assert.Equal("consistency", cmMeta.Stage);
            Assert.Equal(6, cmMeta.Steps);
            Assert.Equal("mr", cmMeta.Modality);
            Assert.True(cmMeta.Architecture.SameArchitecture(new UNetConfig { Widths = new[] { 8, 16 }, ResBlocksPerLevel = 1 }));
            // Training moved the zero-initialised output layer, so the network is no longer the identity.
            var output = cm.Network.named_parameters().First(p => p.name == "output.weight").parameter;
            Assert.True(output.abs().max().item<float>() > 0, "output layer still zero after 6 steps");
        }
    }

    /// <summary>A toy training set in the export format: two volumes of real 48² and 40² slices (the second drawn at
    /// half weight), four phantoms, and a 2-level network of widths 8/16 in the manifest.</summary>
    static void WriteToyTrainingSet(TempDir tmp)
    {
        string manifest = """
            {"modality":"mr","normalisation":"test","phantomFraction":0.5,"intensityJitter":0.1,
             "volumes":[{"file":"slices-0.npy","slices":[0,1]},{"file":"slices-1.npy","slices":[0,1,2],"weight":0.5}],
             "architecture":{"inChannels":1,"outChannels":1,"widths":[8,16],"resBlocksPerLevel":1,"embeddingDim":0,"maxGroups":32},
             "noise":{"sigmaMin":0.002,"sigmaMax":80,"sigmaData":0.5,"rho":7}}
            """;
        File.WriteAllText(tmp["manifest.json"], manifest);
        ExternalTools.RunPython(
            "import numpy as np; r=np.random.default_rng(0); " +
            $"np.savez(r'{tmp["data.npz"]}', slices0=(r.random((2,48,48))*2-1).astype(np.float16), slices1=(r.random((3,40,40))*2-1).astype(np.float16), phantoms=(r.random((4,40,40))*2-1).astype(np.float16))");
    }

    /// <summary>train_twin.py on the toy set, on the CPU, batch 4 × 32².</summary>
    static (int Code, string StdOut, string StdErr) TrainTwin(TempDir tmp, params string[] args) =>
        ExternalTools.Run(ExternalTools.DebianPython, new[]
        {
            Path.Combine(TwinDir, "train_twin.py"), "--data", tmp["data.npz"], "--manifest", tmp["manifest.json"],
            "--minutes", "5", "--batch", "4", "--patch", "32", "--device", "cpu",
        }.Concat(args), timeoutMs: 300_000);

    [SkippableFact]
    public void TwinTrainerTrainsADeeperNetworkInHalfPrecisionThatMedReconRunsLikeTheTwin()
    {
        ExternalTools.RequirePython("torch", "numpy");
        using var tmp = new TempDir();
        WriteToyTrainingSet(tmp);
        // What a deeper prior needs on a device machine: a fresh architecture from the command line, and float16 files
        // (a device call returns files of at most 16 MiB; a 4-level prior of widths 32/64/128/128 is 23.8 MB in float32).
        var (code, stdout, err) = TrainTwin(tmp, "--out", tmp["deep.safetensors"], "--max-steps", "4", "--denoiser-fraction", "1",
            "--widths", "8,8,16,16", "--half");
        Assert.True(code == 0, $"train_twin failed ({code}): {err}\n{stdout}");
        var (f, meta) = ModelIO.Load(tmp["deep-denoiser.safetensors"]);
        using (f)
        using (torch.no_grad())
        {
            Assert.True(meta.Architecture.SameArchitecture(new UNetConfig { Widths = new[] { 8, 8, 16, 16 }, ResBlocksPerLevel = 1 }),
                "the file's architecture is not the --widths one");
            Assert.Equal(4, meta.Steps);
            // Float16 on disk: every tensor stored as F16, 2 bytes per parameter plus the header.
            string dtypes = ExternalTools.RunPython(
                "import json, struct; b = open(r'" + tmp["deep-denoiser.safetensors"] + "', 'rb').read(); n = struct.unpack('<Q', b[:8])[0]; " +
                "print(','.join(sorted({v['dtype'] for k, v in json.loads(b[8:8 + n]).items() if k != '__metadata__'})))").Trim();
            Assert.Equal("F16", dtypes);
            long parameters = f.Network.parameters().Sum(p => p.numel());
            long bytes = new FileInfo(tmp["deep-denoiser.safetensors"]).Length;
            Assert.InRange(bytes, 2 * parameters, 2 * parameters + 40_000);
            // The same outputs in both networks, on an input that is not a multiple of 8 (three halvings: padding).
            using var x = torch.randn(new long[] { 1, 1, 38, 50 }, generator: new torch.Generator(5)) * 0.6 - 0.2;
            Npy.Write(tmp["x.npy"], x);
            using var mine = f.Forward(x, 0.7);
            Twin("forward", tmp["deep-denoiser.safetensors"], tmp["x.npy"], "0.7", tmp["y.npy"]);
            using var theirs = Npy.Read(tmp["y.npy"]);
            Assert.Equal(mine.shape, theirs.shape);
            double maxDiff = (mine - theirs).abs().max().item<float>(), scale = mine.abs().max().item<float>();
            Assert.True(maxDiff <= 1e-4 * Math.Max(1, scale), $"max |C# − twin| = {maxDiff:E2} (output scale {scale:F3})");
            // Training moved the zero-initialised output layer (f would otherwise be c_skip·x, whatever the levels).
            var output = f.Network.named_parameters().First(p => p.name == "output.weight").parameter;
            Assert.True(output.abs().max().item<float>() > 0, "output layer still zero after 4 steps");
        }

        // --widths belongs to a fresh run: with --init the architecture is the file's, and nothing is written.
        (code, _, err) = TrainTwin(tmp, "--out", tmp["bad.safetensors"], "--init", tmp["deep-denoiser.safetensors"], "--widths", "8,16",
            "--max-steps", "1");
        Assert.NotEqual(0, code);
        Assert.Contains("with --init it comes from the file", err);
        // A first width below 4 has no room for the noise embedding and its group norm: refused, not a crash later.
        (code, _, err) = TrainTwin(tmp, "--out", tmp["bad.safetensors"], "--widths", "2,8", "--max-steps", "1");
        Assert.NotEqual(0, code);
        Assert.Contains("--widths 2,8", err);
        Assert.False(File.Exists(tmp["bad-denoiser.safetensors"]));
    }

    [SkippableFact]
    public void PackNiftiAddsNormalisedSlicesAlongEachAxisThatTheTwinTrainerReads()
    {
        ExternalTools.RequirePython("torch", "numpy");
        using var tmp = new TempDir();
        // A 6 × 10 × 8 volume [k, j, i] of distinct values, written by MedRecon's own NIfTI writer.
        using var volume = torch.arange(6 * 10 * 8, dtype: torch.float32).reshape(6, 10, 8) * 0.5f + 3f;
        var affine = new double[,] { { 1, 0, 0, 0 }, { 0, 1, 0, 0 }, { 0, 0, 2, 0 } };
        Nifti.Write(tmp["vol.nii.gz"], volume, affine);
        File.WriteAllText(tmp["base-manifest.json"], """{"modality":"mr","normalisation":"test","volumes":[{"file":"a","slices":[0,1]}]}""");
        ExternalTools.RunPython($"import numpy as np; np.savez(r'{tmp["base.npz"]}', slices0=np.zeros((2,16,16),np.float16))");

        var (code, stdout, err) = ExternalTools.Run(ExternalTools.DebianPython, new[]
        {
            Path.Combine(TwinDir, "pack_nifti.py"), tmp["base.npz"], tmp["vol.nii.gz"], tmp["out.npz"],
            "--axes", "0,2", "--slices", "1:6:2,0:2+5:7", "--weight", "0.25",
        });
        Assert.True(code == 0, $"pack_nifti failed ({code}): {err}\n{stdout}");
        // The trainer's own reader: three sets, the added two at weight 0.25; their slices saved for comparison.
        string report = ExternalTools.RunPython(
            "import sys, json, numpy as np; sys.path.insert(0, r'" + TwinDir + "'); import train_twin; " +
            $"real, w, _, m = train_twin.load_images(r'{tmp["out.npz"]}', r'{tmp["out-manifest.json"]}', 'cpu'); " +
            $"np.save(r'{tmp["k.npy"]}', real[1].numpy()); np.save(r'{tmp["i.npy"]}', real[2].numpy()); " +
            "print(json.dumps({'weights': w, 'slices': [v['slices'] for v in m['volumes']], 'p': m['volumes'][1]['percentile99_5']}))");
        using var doc = System.Text.Json.JsonDocument.Parse(report.Trim());
        Assert.Equal(new[] { 1.0, 0.25, 0.25 }, doc.RootElement.GetProperty("weights").EnumerateArray().Select(e => e.GetDouble()));
        Assert.Equal("[[0,1],[1,3,5],[0,1,5,6]]", doc.RootElement.GetProperty("slices").GetRawText().Replace(" ", ""));

        // Nearest-rank 99.5th percentile of the 480 voxels: the 478th smallest value.
        using var sorted = volume.flatten().sort().Values;
        float p = sorted[477].item<float>();
        Assert.Equal(p, doc.RootElement.GetProperty("p").GetDouble(), 1e-9);
        using var alongK = Npy.Read(tmp["k.npy"]);
        using var alongI = Npy.Read(tmp["i.npy"]);
        using var expectK = volume.index_select(0, torch.tensor(new long[] { 1, 3, 5 })) * (2 / p) - 1;
        using var expectI = volume.index_select(2, torch.tensor(new long[] { 0, 1, 5, 6 })).permute(2, 0, 1) * (2 / p) - 1;
        Assert.Equal(new long[] { 3, 10, 8 }, alongK.shape);
        Assert.Equal(new long[] { 4, 6, 10 }, alongI.shape);
        // float16 storage: relative error ≤ 2^-11 of values within [−1, 1.01].
        Assert.True((alongK - expectK).abs().max().item<float>() < 1e-3, "axis-0 slices differ");
        Assert.True((alongI - expectI).abs().max().item<float>() < 1e-3, "axis-2 slices differ");

        // A range past the volume's end on the second axis is refused before anything is written.
        var (rangeCode, _, rangeErr) = ExternalTools.Run(ExternalTools.DebianPython, new[]
        {
            Path.Combine(TwinDir, "pack_nifti.py"), tmp["base.npz"], tmp["vol.nii.gz"], tmp["bad.npz"],
            "--axes", "0,2", "--slices", "1:6:2,0:9",
        });
        Assert.NotEqual(0, rangeCode);
        Assert.Contains("stop <= 8", rangeErr);
        Assert.False(File.Exists(tmp["bad.npz"]) || File.Exists(tmp["bad-manifest.json"]), "a refused pack wrote files");

        // A CT pack is refused with a message, and nothing is written.
        File.WriteAllText(tmp["base-manifest.json"], """{"modality":"ct","volumes":[]}""");
        var (ctCode, _, ctErr) = ExternalTools.Run(ExternalTools.DebianPython, new[]
        {
            Path.Combine(TwinDir, "pack_nifti.py"), tmp["base.npz"], tmp["vol.nii.gz"], tmp["ct.npz"],
        });
        Assert.NotEqual(0, ctCode);
        Assert.Contains("only MR volumes", ctErr);
        Assert.False(File.Exists(tmp["ct.npz"]));
    }
}
