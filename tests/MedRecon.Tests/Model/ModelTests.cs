using MedRecon.Core.IO;
using MedRecon.Model;
using MedRecon.Model.Training;
using MedRecon.Tests.Infrastructure;
using TorchSharp;
using static TorchSharp.torch;

namespace MedRecon.Tests.Model;

static class Bits
{
    /// <summary>Same shape and bit-identical values (no tolerance).</summary>
    public static bool Same(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.eq(b).all().item<bool>();
}

public class ConsistencyFunctionTests
{
    static ConsistencyFunction TinyFunction(ulong seed = 3)
    {
        var net = new UNet(UNetConfig.Tiny, new torch.Generator(seed));
        // Give the zero-initialised output layers non-zero weights so the network output is not trivially 0.
        using (torch.no_grad())
            foreach (var p in net.parameters())
                if (p.abs().max().item<float>() == 0) p.copy_(torch.randn(p.shape, generator: new torch.Generator(seed + 1)) * 0.1);
        return new ConsistencyFunction(net);
    }

    [Fact]
    public void BoundaryConditionHoldsExactlyAtSigmaMin()
    {
        using var f = TinyFunction();
        using var x = torch.randn(new long[] { 2, 1, 16, 16 }, generator: new torch.Generator(1));
        using (torch.no_grad())
        {
            using var y = f.Forward(x, f.Noise.SigmaMin);
            Assert.True(Bits.Same(x, y), "f(x, σ_min) must return x bit for bit");
            using var sig = torch.full(new long[] { 2 }, f.Noise.SigmaMin);
            using var y2 = f.Forward(x, sig);
            Assert.True(Bits.Same(x, y2), "per-sample σ path must also return x exactly at σ_min");
            var (skip, cout, _, _) = f.Coefficients(f.Noise.SigmaMin);
            Assert.Equal(1.0, skip);
            Assert.Equal(0.0, cout);
            // And the network does contribute away from σ_min.
            using var y3 = f.Forward(x, 1.0);
            Assert.False(torch.allclose(y3, x * f.Coefficients(1.0).Skip, rtol: 0, atol: 1e-6));
        }
    }

    [Fact]
    public void HandlesSizesThatAreNotAMultipleOfTheDownsampling()
    {
        using var f = TinyFunction();
        using var x = torch.randn(new long[] { 1, 1, 13, 10 }, generator: new torch.Generator(2));
        using (torch.no_grad())
        {
            using var y = f.Forward(x, 0.5);
            Assert.Equal(x.shape, y.shape);
        }
    }

    [Fact]
    public void DefaultArchitectureHasAboutThreePointFiveMillionParameters()
    {
        using var net = new UNet(new UNetConfig());
        long n = net.ParameterCount();
        Assert.InRange(n, 2_500_000, 4_500_000);
    }

    [Fact]
    public void SaveLoadRoundTripIsBitExact()
    {
        using var dir = new TempDir();
        using var f = TinyFunction(5);
        var meta = new ModelMetadata { Architecture = UNetConfig.Tiny, Modality = "mr", Stage = "denoiser", Steps = 7 };
        string path = dir["tiny.safetensors"];
        ModelIO.Save(f.Network, meta, path);
        var (g, readMeta) = ModelIO.Load(path);
        using (g)
        {
            Assert.True(readMeta.Architecture.SameArchitecture(UNetConfig.Tiny));
            Assert.Equal("mr", readMeta.Modality);
            Assert.Equal(7, readMeta.Steps);
            using var x = torch.randn(new long[] { 2, 1, 16, 16 }, generator: new torch.Generator(9));
            using (torch.no_grad())
            {
                f.Network.eval();
                using var a = f.Forward(x, 0.7);
                using var b = g.Forward(x, 0.7);
                Assert.True(Bits.Same(a, b), "outputs after the round trip must be bit-identical");
            }
        }
    }

    [Fact]
    public void LoadingIntoAnotherArchitectureGivesAClearError()
    {
        using var dir = new TempDir();
        using var f = TinyFunction();
        string path = dir["tiny.safetensors"];
        ModelIO.Save(f.Network, new ModelMetadata { Architecture = UNetConfig.Tiny }, path);
        using var other = new UNet(UNetConfig.Tiny with { Widths = new[] { 8, 16, 32 } });
        var e = Assert.Throws<ModelArchitectureMismatchException>(() => ModelIO.LoadInto(other, path));
        Assert.Contains("widths [8,16]", e.Message);
        Assert.Contains("widths [8,16,32]", e.Message);
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void FileWithoutMedReconMetadataIsRejected()
    {
        using var dir = new TempDir();
        string path = dir["plain.safetensors"];
        TensorArchive.Write(path, new Dictionary<string, Tensor> { ["w"] = torch.zeros(3) });
        var e = Assert.Throws<InvalidInputFileException>(() => ModelIO.Load(path));
        Assert.Contains("no MedRecon metadata", e.Message);
        File.WriteAllBytes(dir["junk.safetensors"], new byte[] { 1, 2, 3 });
        Assert.Throws<InvalidInputFileException>(() => ModelIO.Load(dir["junk.safetensors"]));
    }
}

public class SamplerTests
{
    static ConsistencyFunction Tiny() => new(new UNet(UNetConfig.Tiny, new torch.Generator(11)));

    [Fact]
    public void SameSeedGivesTheSameSample()
    {
        using var f = Tiny();
        var sampler = new Sampler(f);
        var sigmas = Sampler.KarrasSchedule(3, 0.002, 80);
        using var a = sampler.Generate(new long[] { 1, 1, 16, 16 }, sigmas, new torch.Generator(42));
        using var b = sampler.Generate(new long[] { 1, 1, 16, 16 }, sigmas, new torch.Generator(42));
        using var c = sampler.Generate(new long[] { 1, 1, 16, 16 }, sigmas, new torch.Generator(43));
        Assert.True(Bits.Same(a, b));
        Assert.False(Bits.Same(a, c));
        using var one = sampler.Generate(new long[] { 1, 1, 16, 16 }, new torch.Generator(42));
        Assert.Equal(new long[] { 1, 1, 16, 16 }, one.shape);
    }

    [Fact]
    public void DataConsistencyHookIsCalledOncePerStepAndItsOutputIsUsed()
    {
        using var f = Tiny();
        var sampler = new Sampler(f);
        var sigmas = new[] { 2.0, 0.5, 0.1, 0.02 };
        var calls = new List<int>();
        using var start = torch.randn(new long[] { 1, 1, 8, 8 }, generator: new torch.Generator(1)) * 2.0;
        using var result = sampler.Sample(start, sigmas, (x, i) => { calls.Add(i); return torch.zeros_like(x) + i; }, new torch.Generator(3));
        Assert.Equal(new[] { 0, 1, 2, 3 }, calls);
        Assert.True(Bits.Same(result, torch.full(result.shape, 3f)), "the last step returns the hook's output");
    }

    [Fact]
    public void NetworkSigmaScaleEvaluatesTheNetworkAtTheInflatedLevel()
    {
        using var f = Tiny();
        var sampler = new Sampler(f);
        using var start = torch.randn(new long[] { 1, 1, 8, 8 }, generator: new torch.Generator(5)) * 0.5;
        using var plain = sampler.Sample(start, new[] { 0.5 }, null, new torch.Generator(1));
        using var inflated = sampler.Sample(start, new[] { 0.5 }, null, new torch.Generator(1), networkSigmaScale: 1.25);
        using var atPlain = f.Forward(start, 0.5);
        using var atInflated = f.Forward(start, 0.625);
        Assert.True(Bits.Same(plain, atPlain));
        Assert.True(Bits.Same(inflated, atInflated));
        Assert.False(Bits.Same(plain, inflated));
        // Capped at σ_max; below 1 (deflation) is refused.
        using var capped = sampler.Sample(start, new[] { f.Noise.SigmaMax }, null, new torch.Generator(1), networkSigmaScale: 2);
        Assert.True(Bits.Same(capped, f.Forward(start, f.Noise.SigmaMax)));
        Assert.Throws<ArgumentOutOfRangeException>(() => sampler.Sample(start, new[] { 0.5 }, null, new torch.Generator(1), networkSigmaScale: 0.9));
    }

    [Fact]
    public void MomentumExtrapolatesTheConsistentEstimateAlongItsChangeAndCallsTheHookAgain()
    {
        using var f = Tiny();
        var sampler = new Sampler(f);
        var sigmas = new[] { 1.0, 0.3, 0.05 };
        using var start = torch.randn(new long[] { 1, 1, 8, 8 }, generator: new torch.Generator(7));
        // A hook that halves what it is given (a linear "consistency" step) and records each call.
        List<(int Step, Tensor Input)> Run(double beta, out Tensor result)
        {
            var calls = new List<(int, Tensor)>();
            result = sampler.Sample(start, sigmas, (x, i) => { calls.Add((i, x.clone().DetachFromDisposeScope())); return x * 0.5; },
                new torch.Generator(3), momentum: beta);
            return calls;
        }
        var plain = Run(0, out var r0);
        var fast = Run(0.6, out var r1);
        Assert.Equal(new[] { 0, 1, 2 }, plain.Select(c => c.Step));
        // Step 0 has no previous estimate; from step 1 on the hook runs on f, then on x̂ + β(x̂ − x̂_prev) with
        // x̂ = hook(f) and x̂_prev the previous step's result.
        Assert.Equal(new[] { 0, 1, 1, 2, 2 }, fast.Select(c => c.Step));
        Assert.True(Bits.Same(plain[0].Input, fast[0].Input));
        Tensor previous = fast[0].Input * 0.5;
        for (int call = 1; call < fast.Count; call += 2)
        {
            using var consistent = fast[call].Input * 0.5;
            using var expected = consistent + (consistent - previous) * 0.6;
            Assert.True((fast[call + 1].Input - expected).abs().max().item<float>() < 1e-5, $"call {call + 1}: not x̂ + β(x̂ − x̂_prev)");
            previous = fast[call + 1].Input * 0.5;
        }
        Assert.True((r1 - previous).abs().max().item<float>() < 1e-6, "the result is the second hook call's output");
        Assert.False(Bits.Same(r0, r1), "momentum must change the result");
        // β = 0 is the loop without momentum, bit for bit; outside [0, 1] refused.
        using var none = sampler.Sample(start, sigmas, null, new torch.Generator(3));
        using var zero = sampler.Sample(start, sigmas, null, new torch.Generator(3), momentum: 0);
        Assert.True(Bits.Same(none, zero));
        // … and the loop as it was: f, hook, re-noise, written out by hand.
        using (var scope = torch.NewDisposeScope())
        {
            var gen = new torch.Generator(3);
            Tensor x = start.alias(), xhat = null!;
            for (int i = 0; i < sigmas.Length; i++)
            {
                xhat = f.Forward(x, sigmas[i]) * 0.5;
                if (i < sigmas.Length - 1) x = sampler.AddNoise(xhat, sigmas[i + 1], gen);
            }
            Assert.True(Bits.Same(r0, xhat), "β = 0 must be the loop without momentum");
        }
        foreach (double bad in new[] { -0.1, 1.5, double.NaN })
            Assert.Throws<ArgumentOutOfRangeException>(() => sampler.Sample(start, sigmas, null, new torch.Generator(3), momentum: bad));
        // With the estimate the start was made from, step 0 extrapolates from it as well (two hook calls in every step);
        // without momentum it is ignored; of another shape it is refused.
        using var before = torch.randn(new long[] { 1, 1, 8, 8 }, generator: new torch.Generator(9));
        var fromStart = new List<(int Step, Tensor Input)>();
        using var r2 = sampler.Sample(start, sigmas, (x, i) => { fromStart.Add((i, x.clone().DetachFromDisposeScope())); return x * 0.5; },
            new torch.Generator(3), momentum: 0.6, startEstimate: before);
        Assert.Equal(new[] { 0, 0, 1, 1, 2, 2 }, fromStart.Select(c => c.Step));
        using (var consistent = fromStart[0].Input * 0.5)
        using (var expected = consistent + (consistent - before) * 0.6)
            Assert.True((fromStart[1].Input - expected).abs().max().item<float>() < 1e-5, "step 0: not x̂ + β(x̂ − start estimate)");
        using (var ignored = sampler.Sample(start, sigmas, null, new torch.Generator(3), momentum: 0, startEstimate: before))
            Assert.True(Bits.Same(none, ignored), "without momentum the start estimate changes nothing");
        Assert.Throws<ArgumentException>(() => sampler.Sample(start, sigmas, null, new torch.Generator(3), momentum: 0.6,
            startEstimate: torch.zeros(1, 1, 4, 4)));
        foreach (var c in plain.Concat(fast).Concat(fromStart)) c.Input.Dispose();
        r0.Dispose();
        r1.Dispose();
    }

    [Fact]
    public void KarrasScheduleRunsFromSigmaMaxToSigmaMin()
    {
        var s = Sampler.KarrasSchedule(5, 0.002, 80);
        Assert.Equal(80, s[0], 10);
        Assert.Equal(0.002, s[^1], 10);
        for (int i = 1; i < s.Length; i++) Assert.True(s[i] < s[i - 1]);
        Assert.Throws<ArgumentException>(() => new Sampler(Tiny()).Sample(torch.zeros(1, 1, 4, 4), new[] { 1.0, 2.0 }, null, new torch.Generator(1)));
    }
}

public class TrainerTests
{
    static TrainingData ToyData()
    {
        // Smooth blobs: easy to denoise, so a few steps visibly lower the loss.
        var g = new torch.Generator(5);
        var yy = torch.linspace(-1, 1, 32).reshape(-1, 1);
        var xx = torch.linspace(-1, 1, 32).reshape(1, -1);
        var slices = new List<Tensor>();
        for (int i = 0; i < 6; i++)
        {
            var c = torch.rand(new long[] { 2 }, generator: g) - 0.5;
            var r2 = (yy - c[0]).square() + (xx - c[1]).square();
            slices.Add((r2 < 0.3).to(ScalarType.Float32) * 1.6 - 0.8);
        }
        var vol = new TrainingVolume("toy", torch.stack(slices), new[] { 5 }, "toy");
        return new TrainingData(new[] { vol });
    }

    static TrainerOptions ToyOptions(long total) => new()
    {
        Architecture = UNetConfig.Tiny, BatchSize = 8, Patch = 16, TotalSteps = total, DenoiserFraction = 1.0,
        LearningRate = 2e-3, WarmupSteps = 1, Seed = 7,
    };

    [Fact]
    public void ShortDenoiserRunLowersTheLoss()
    {
        using var trainer = new Trainer(ToyOptions(40), ToyData());
        // Compare the loss of fixed evaluation batches before and after training (same batches, same noise).
        double Eval()
        {
            double sum = 0;
            for (int k = 0; k < 4; k++)
            {
                using var scope = NewDisposeScope();
                var x0 = trainer.MakeBatch(10_000 + k);
                var gen = new torch.Generator((ulong)(100 + k));
                var sigma = torch.exp(torch.randn(x0.shape[0], generator: gen) * 1.2 - 1.2);
                var z = torch.randn(x0.shape, generator: gen);
                using (torch.no_grad())
                {
                    var f = trainer.Function.Forward(x0 + z * sigma.reshape(-1, 1, 1, 1), sigma);
                    sum += (f - x0).square().mean().item<float>();
                }
            }
            return sum / 4;
        }
        double before = Eval();
        var losses = new List<double>();
        for (int i = 0; i < 40; i++) losses.Add(trainer.TrainStep());
        double after = Eval();
        Assert.True(after < 0.7 * before, $"held-out denoising MSE should drop: before {before:G4}, after {after:G4}");
        Assert.True(losses.Skip(30).Average() < losses.Take(10).Average(), $"training loss should fall: {string.Join(", ", losses.Select(l => l.ToString("G3")))}");
    }

    [Fact]
    public void ConsistencyStageRunsAndResumeContinuesExactly()
    {
        using var dir = new TempDir();
        var options = ToyOptions(6) with { DenoiserFraction = 0.5, CurriculumStages = 2 };
        var data = ToyData();
        using var straight = new Trainer(options, data);
        straight.Run();
        Assert.Equal(6, straight.Step);
        Assert.Equal("consistency", straight.StageAt(5));

        string ckpt = dir["toy.ckpt.safetensors"];
        using (var first = new Trainer(options, data))
        {
            first.Run(maxSteps: 4, checkpointPath: ckpt, weightsPath: dir["toy.safetensors"]);
            Assert.Equal(4, first.Step);
        }
        Assert.True(File.Exists(dir["toy.ckpt.json"]));
        using var resumed = Trainer.Resume(ckpt, data);
        Assert.Equal(4, resumed.Step);
        resumed.Run();
        Assert.Equal(6, resumed.Step);
        var a = straight.Ema.state_dict();
        var b = resumed.Ema.state_dict();
        foreach (var (k, t) in a) Assert.True(Bits.Same(t, b[k]), $"EMA '{k}' differs after resume");
        var ma = straight.Model.state_dict();
        var mb = resumed.Model.state_dict();
        foreach (var (k, t) in ma) Assert.True(Bits.Same(t, mb[k]), $"weights '{k}' differ after resume");
        // The EMA weights file written at the checkpoint loads as a consistency function.
        var (f, meta) = ModelIO.Load(dir["toy.safetensors"]);
        f.Dispose();
        Assert.Equal(4, meta.Steps);
    }

    [Fact]
    public void SamplingWeightsSetHowOftenAVolumeIsDrawn()
    {
        // Two constant volumes (−0.5 and +0.5, three slices each, the last held out): a patch's sign names its source.
        TrainingVolume Constant(string name, float value, double weight) =>
            new(name, torch.full(new long[] { 3, 24, 24 }, value), new[] { 2 }, "toy", weight);
        double ShareOfB(double weightA, double weightB, out List<Tensor> batches)
        {
            var data = new TrainingData(new[] { Constant("a", -0.5f, weightA), Constant("b", 0.5f, weightB) });
            using var trainer = new Trainer(ToyOptions(1) with { IntensityJitter = 0 }, data);
            batches = Enumerable.Range(0, 100).Select(k => trainer.MakeBatch(k)).ToList();
            return batches.Average(b => (b.flatten(1).mean(new long[] { 1 }) > 0).to(ScalarType.Float32).mean().item<float>());
        }
        // Weight 3 against 1 with equal slice counts: 3/4 of the patches (800 draws, standard error 0.015).
        Assert.InRange(ShareOfB(1, 3, out _), 0.69, 0.81);
        Assert.InRange(ShareOfB(1, 1, out _), 0.44, 0.56);
        // Equal weights of any size keep the unweighted draw, so runs recorded before weights existed resume identically.
        ShareOfB(1, 1, out var ones);
        ShareOfB(2.5, 2.5, out var equal);
        for (int k = 0; k < ones.Count; k++) Assert.True(Bits.Same(ones[k], equal[k]), $"batch {k} differs");
        Assert.Throws<ArgumentException>(() => new TrainingData(new[] { Constant("a", 0f, 0) }));
    }

    [Fact]
    public void FineTuningStartsFromTheWeightsFileAndContinuesItsStepCount()
    {
        using var dir = new TempDir();
        var data = ToyData();
        using (var first = new Trainer(ToyOptions(3), data))
        {
            first.Run(checkpointPath: dir["a.ckpt.safetensors"], weightsPath: dir["a.safetensors"]);
        }
        // Options with another architecture and a higher step plan: the file's architecture wins, Adam restarts.
        var options = ToyOptions(2) with { Architecture = new UNetConfig { Widths = new[] { 16, 32 } } };
        using var tuned = Trainer.FromWeights(dir["a.safetensors"], options, data);
        Assert.Equal(UNetConfig.Tiny.Widths, tuned.Options.Architecture.Widths);
        Assert.Equal(3, tuned.Options.InitSteps);
        Assert.Equal(Path.GetFullPath(dir["a.safetensors"]), tuned.Options.InitWeights);
        Assert.Equal(0, tuned.Step);
        var (file, _) = ModelIO.Load(dir["a.safetensors"]);
        using (file)
        {
            var want = file.Network.state_dict();
            foreach (var (k, t) in tuned.Model.state_dict()) Assert.True(Bits.Same(t, want[k]), $"model '{k}' is not the file's");
            foreach (var (k, t) in tuned.Ema.state_dict()) Assert.True(Bits.Same(t, want[k]), $"EMA '{k}' is not the file's");
        }
        tuned.Run(checkpointPath: dir["b.ckpt.safetensors"], weightsPath: dir["b.safetensors"]);
        Assert.Equal(2, tuned.Step);
        Assert.Equal(5, ModelIO.ReadMetadata(dir["b.safetensors"]).Steps);
        // A resumed fine-tuning run keeps counting from the file's steps.
        using var resumed = Trainer.Resume(dir["b.ckpt.safetensors"], data);
        Assert.Equal(3, resumed.Options.InitSteps);
        Assert.Equal(5, resumed.Metadata("ema").Steps);
        // A prior of another modality is refused.
        var e = Assert.Throws<InvalidInputFileException>(() => Trainer.FromWeights(dir["a.safetensors"], options with { Modality = "ct" }, data));
        Assert.Contains("'mr' prior", e.Message);
    }

    [Fact]
    public void SyntheticImagesAreCachedAcrossStepsAndMixedIn()
    {
        int calls = 0;
        Tensor Synth(int i) { calls++; return torch.full(new long[] { 24, 24 }, 0.25f * (i % 3)); }
        var data = new TrainingData(ToyData().Volumes, Synth, syntheticFraction: 0.5, syntheticPool: 3, syntheticName: "const");
        using var trainer = new Trainer(ToyOptions(4), data);
        for (int k = 0; k < 4; k++)
        {
            using var scope = NewDisposeScope();
            var b = trainer.MakeBatch(k);
            Assert.Equal(new long[] { 8, 1, 16, 16 }, b.shape);
        }
        trainer.Run(); // uses the cache inside the training step's dispose scopes
        Assert.InRange(calls, 1, 3);
    }

    [Fact]
    public void NormalisationMapsAreAsDocumented()
    {
        using var hu = torch.tensor(new float[] { -1024, 3071, 1023.5f });
        var x = Normalization.CtFromHu(hu);
        Assert.Equal(-1f, x[0].item<float>(), 5);
        Assert.Equal(1f, x[1].item<float>(), 5);
        Assert.Equal(0f, x[2].item<float>(), 5);
        using var back = Normalization.CtToHu(x);
        Assert.True(torch.allclose(back, hu, atol: 1e-3));
        using var v = torch.arange(0, 1000, dtype: ScalarType.Float32);
        var (mr, p) = Normalization.MrVolume(v);
        Assert.Equal(994, p, 0);
        Assert.Equal(-1f, mr[0].item<float>(), 5);
    }
}

public class VolumeReaderTests
{
    [SkippableFact]
    public void ReadsTheSharedBrainNrrd()
    {
        Skip.If(ExternalTools.SharedData == null, "needs ../shared/data (shared data folder absent)");
        var vol = Nrrd.Read(Path.Combine(ExternalTools.SharedData!, "mr", "brain1-t1.nrrd"));
        Assert.Equal(new long[] { 25, 256, 256 }, vol.Data.shape);
        Assert.Equal(ScalarType.Int16, vol.Data.dtype);
        Assert.Equal(new long[] { 256, 256, 25 }, vol.Sizes);
        Assert.Equal(0.78125, vol.Spacings[0], 4);
        Assert.Equal(6.5, vol.Spacings[2], 4);
        Assert.True(vol.Data.max().item<short>() > 100);
    }

    [SkippableFact]
    public void ReadsTheSharedStentNpz()
    {
        Skip.If(ExternalTools.SharedData == null, "needs ../shared/data (shared data folder absent)");
        var arrays = Npz.Read(Path.Combine(ExternalTools.SharedData!, "ct", "stent-abdomen-ct.npz"));
        var a = arrays.Values.Single();
        Assert.Equal(new long[] { 256, 128, 128 }, a.shape);
        Assert.Equal(ScalarType.Int16, a.dtype);
    }

    [Fact]
    public void ReadsRawAndGzipNrrdAndRejectsBadOnes()
    {
        using var dir = new TempDir();
        short[] values = { 1, -2, 300, 4, 5, 6 };
        var bytes = values.SelectMany(BitConverter.GetBytes).ToArray();
        string head = "NRRD0004\ntype: short\ndimension: 2\nsizes: 3 2\nspacings: 0.5 2\nendian: little\nencoding: ENC\n\n";
        File.WriteAllBytes(dir["raw.nrrd"], System.Text.Encoding.ASCII.GetBytes(head.Replace("ENC", "raw")).Concat(bytes).ToArray());
        using (var ms = new MemoryStream())
        {
            using (var gz = new System.IO.Compression.GZipStream(ms, System.IO.Compression.CompressionLevel.Fastest, leaveOpen: true)) gz.Write(bytes);
            File.WriteAllBytes(dir["gz.nrrd"], System.Text.Encoding.ASCII.GetBytes(head.Replace("ENC", "gzip")).Concat(ms.ToArray()).ToArray());
        }
        foreach (var name in new[] { "raw.nrrd", "gz.nrrd" })
        {
            var v = Nrrd.Read(dir[name]);
            Assert.Equal(new long[] { 2, 3 }, v.Data.shape);
            Assert.Equal(300, v.Data[0, 2].item<short>());
            Assert.Equal(-2, v.Data[0, 1].item<short>());
            Assert.Equal(2.0, v.Spacings[1]);
        }
        File.WriteAllBytes(dir["short.nrrd"], System.Text.Encoding.ASCII.GetBytes(head.Replace("ENC", "raw")).Concat(bytes.Take(5)).ToArray());
        var e = Assert.Throws<InvalidInputFileException>(() => Nrrd.Read(dir["short.nrrd"]));
        Assert.Contains("truncated", e.Message);
        File.WriteAllText(dir["huge.nrrd"], "NRRD0004\ntype: float\ndimension: 3\nsizes: 100000 100000 100000\nencoding: raw\n\n");
        Assert.Throws<InvalidInputFileException>(() => Nrrd.Read(dir["huge.nrrd"]));
        File.WriteAllText(dir["bad.nrrd"], "P6\n");
        Assert.Throws<InvalidInputFileException>(() => Nrrd.Read(dir["bad.nrrd"]));
        File.WriteAllText(dir["bz.nrrd"], head.Replace("ENC", "bzip2"));
        Assert.Contains("encoding", Assert.Throws<InvalidInputFileException>(() => Nrrd.Read(dir["bz.nrrd"])).Message);
    }

    [Fact]
    public void NpzRoundTripAndGarbage()
    {
        using var dir = new TempDir();
        string path = dir["a.npz"];
        using (var zip = System.IO.Compression.ZipFile.Open(path, System.IO.Compression.ZipArchiveMode.Create))
        {
            foreach (var (name, t) in new[] { ("x", torch.arange(6, dtype: ScalarType.Float32).reshape(2, 3)), ("y", torch.ones(4, dtype: ScalarType.Int16)) })
            {
                using var s = zip.CreateEntry(name + ".npy").Open();
                Npy.Write(s, t);
            }
        }
        var arrays = Npz.Read(path);
        Assert.Equal(new[] { "x", "y" }, arrays.Keys);
        Assert.Equal(5f, arrays["x"][1, 2].item<float>());
        File.WriteAllText(dir["bad.npz"], "not a zip");
        Assert.Throws<InvalidInputFileException>(() => Npz.Read(dir["bad.npz"]));
    }
}
