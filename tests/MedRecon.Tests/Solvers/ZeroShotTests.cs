using MedRecon.Core;
using MedRecon.Model;
using MedRecon.Operators;
using MedRecon.Operators.Ct;
using MedRecon.Operators.Mri;
using MedRecon.Phantoms;
using MedRecon.Solvers;
using MedRecon.Solvers.Ct;
using MedRecon.Solvers.ZeroShot;
using MedRecon.Tests.Infrastructure;
using TorchSharp;
using static TorchSharp.torch;

namespace MedRecon.Tests.Solvers;

/// <summary>The zero-shot solver: data-consistency steps, normalisation, determinism, samples, and an end-to-end
/// reconstruction with the shipped MR prior.</summary>
public class ZeroShotTests
{
    readonly Xunit.Abstractions.ITestOutputHelper output;
    public ZeroShotTests(Xunit.Abstractions.ITestOutputHelper output) => this.output = output;

    static Tensor RandomComplex(long ny, long nx, ulong seed)
    {
        var g = new torch.Generator(seed);
        return torch.complex(torch.randn(ny, nx, generator: g), torch.randn(ny, nx, generator: g));
    }

    static double RelativeResidual(LinearOperator a, Tensor x, Tensor y)
    {
        using var scope = NewDisposeScope();
        return Tensors.Norm(a.Forward(x) - y) / Tensors.Norm(y);
    }

    static string PriorPath => Path.Combine(ExternalTools.RepositoryRoot, "models", "mr-prior.safetensors");

    [Fact]
    public void ReplacementMakesAxEqualYExactlyForMaskOperators()
    {
        using var scope = NewDisposeScope();
        var mask = SamplingMasks.Create(MaskKind.Random, 32, 32, 4, 0.08, 1).Mask;
        var truth = RandomComplex(32, 32, 1);
        var guess = RandomComplex(32, 32, 2);
        foreach (LinearOperator a in new LinearOperator[] { SenseOperator.SingleCoil(mask), new MaskOperator(mask) })
        {
            Assert.True(DataConsistency.HasOrthonormalRows(a), a.Name);
            var y = a.Forward(truth);
            double before = RelativeResidual(a, guess, y);
            var dc = DataConsistency.Create(DataConsistencyMode.Auto, a, y, 5, 0.0);
            Assert.IsType<ReplacementConsistency>(dc);
            var x = dc.Apply(guess);
            Assert.True(before > 0.5, $"{a.Name}: the guess must start far from the data ({before})");
            Assert.True(RelativeResidual(a, x, y) < 1e-6, $"{a.Name}: ‖Ax − y‖/‖y‖ = {RelativeResidual(a, x, y):E2} after replacement");
            // A projection: the unmeasured part of the guess is kept, so applying it again changes nothing.
            var twice = dc.Apply(x);
            Assert.True(Tensors.Norm(twice - x) <= 1e-5 * Tensors.Norm(x));
            // ... and it moved the guess no further than needed: x − guess lies in the range of Aᴴ (measured part only).
            Assert.True(Tensors.Norm(a.Normal(x - guess) - (x - guess)) <= 1e-4 * Tensors.Norm(x - guess));
        }
    }

    [Fact]
    public void SoftReplacementShrinksTheResidualByOneOverOnePlusLambda()
    {
        using var scope = NewDisposeScope();
        var mask = SamplingMasks.Create(MaskKind.Equispaced, 32, 32, 4, 0.08, 0).Mask;
        using var a = SenseOperator.SingleCoil(mask);
        var y = a.Forward(RandomComplex(32, 32, 3));
        var guess = RandomComplex(32, 32, 4);
        var x = new SoftConsistency(a, y, 0.25).Apply(guess);
        double r0 = Tensors.Norm(a.Forward(guess) - y), r1 = Tensors.Norm(a.Forward(x) - y);
        Assert.Equal(0.25 / 1.25, r1 / r0, 4);
    }

    /// <summary>The noise-aware step: λ_i = σ_y²/(κ σ_i u)², so the residual shrinks by λ/(1+λ) for orthonormal rows —
    /// almost exact at large σ, mostly the estimate at small σ; exact without a σ or with no noise.</summary>
    [Fact]
    public void NoiseAwareConsistencyWeighsTheDataByTheNoiseAndTheStepsSigma()
    {
        using var scope = NewDisposeScope();
        var mask = SamplingMasks.Create(MaskKind.Equispaced, 32, 32, 4, 0.08, 0).Mask;
        using var a = SenseOperator.SingleCoil(mask);
        var y = a.Forward(RandomComplex(32, 32, 3));
        var guess = RandomComplex(32, 32, 4);
        var dc = new NoiseAwareConsistency(a, y, noiseSigma: 0.3, physicalPerPriorUnit: 2.0, cgIterations: 5);
        double r0 = Tensors.Norm(a.Forward(guess) - y);
        foreach (double sigma in new[] { 1.0, 0.1, 0.01 })
        {
            double lambda = Math.Pow(0.3 / (ZeroShotDefaults.NoiseErrorScale * sigma * 2.0), 2);
            Assert.Equal(lambda, dc.LambdaFor(sigma), 12);
            double r = Tensors.Norm(a.Forward(dc.Apply(guess, sigma)) - y);
            Assert.Equal(lambda / (1 + lambda), r / r0, 4);
        }
        Assert.True(Tensors.Norm(a.Forward(dc.Apply(guess)) - y) < 1e-5 * r0, "no σ: exact");
        var silent = new NoiseAwareConsistency(a, y, 0, 2.0, 5);
        Assert.True(Tensors.Norm(a.Forward(silent.Apply(guess, 0.01)) - y) < 1e-5 * r0, "no noise: exact");
        // SENSE: the same weights through CG (a larger λ keeps more of the estimate).
        using var sense = new SenseOperator(CoilMaps.Birdcage(4, 32, 32), mask);
        var ys = sense.Forward(RandomComplex(32, 32, 5));
        var senseDc = new NoiseAwareConsistency(sense, ys, 0.3, 2.0, 20);
        double early = Tensors.Norm(senseDc.Apply(guess, 1.0) - guess), late = Tensors.Norm(senseDc.Apply(guess, 0.01) - guess);
        Assert.True(late < 0.2 * early, $"at small σ the step stays near the estimate ({late:E2} vs {early:E2} at large σ)");
    }

    /// <summary>CT from photon counts: each step is penalised weighted least squares, rays weighted by their counts
    /// N = I0·e^(−y) (inverse post-log variance), the estimate by λ_i = 1/(κ σ_i u)²: after enough CG steps the gradient
    /// Aᵀ W (Ax − y) + λ_i (x − x̂) vanishes.</summary>
    [Fact]
    public void PhotonCountConsistencyIsPenalisedWeightedLeastSquares()
    {
        using var scope = NewDisposeScope();
        var (truth, _, a, sino, fbp) = SheppLoganCt64();
        const double i0 = 1000, unit = 1.0, sigma = 0.05;
        var noisy = CtSimulation.AddPoissonNoise(sino, i0, new torch.Generator(5));
        var dc = NoiseAwareConsistency.ForPhotonCounts(a, noisy, i0, unit, cgIterations: 300);
        Assert.Equal(1.0, dc.NoiseSigma);
        double lambda = 1 / Math.Pow(ZeroShotDefaults.CtNoiseErrorScale * sigma * unit, 2);
        Assert.Equal(lambda, dc.LambdaFor(sigma), 9);
        Assert.Contains("counts", dc.Description);
        var x = dc.Apply(fbp, sigma);
        var w = (noisy.neg().exp() * i0).clamp_min(1.0);
        Tensor Gradient(Tensor v) => a.Adjoint(w * (a.Forward(v) - noisy)) + (v - fbp) * lambda;
        double g0 = Tensors.Norm(Gradient(truth)), g = Tensors.Norm(Gradient(x));
        Assert.True(g < 1e-3 * g0, $"‖gradient‖ at the step's result {g:E2} vs at the truth {g0:E2}");
        // Unweighted, the same λ gives another image: the weights matter.
        var plain = new ConjugateGradientConsistency(a, noisy, 300, lambda / i0).Apply(fbp);
        Assert.True(Tensors.Norm(plain - x) > 1e-3 * Tensors.Norm(x), "weighted and unweighted steps differ");
        Assert.Throws<ArgumentException>(() => NoiseAwareConsistency.ForPhotonCounts(a, noisy, 0, unit, 10));
    }

    /// <summary>Low-dose CT: keeping the noisy sinogram exactly puts its noise into the image; weighing each step by the
    /// photon counts does not (the shipped CT prior, 64² Shepp–Logan at 0.02/pixel, 30 views, I0 = 300); nor, for Gaussian
    /// sinogram noise, weighing it by the noise σ.</summary>
    [Fact]
    public void PhotonCountConsistencyBeatsExactOnLowDoseCt()
    {
        using var scope = NewDisposeScope();
        var (prior, _) = ModelIO.Load(Path.Combine(ExternalTools.RepositoryRoot, "models", "ct-prior.safetensors"));
        using var _p = prior;
        var (truth, angles, a, sino, _) = SheppLoganCt64();
        const double i0 = 300;
        var noisy = CtSimulation.AddPoissonNoise(sino, i0, new torch.Generator(11));
        var fbp = FilteredBackProjection.Reconstruct(noisy, CtGeometry.ParallelBeam(64) with { Views = angles.Length }, angles);
        var o = new ZeroShotOptions { TvFinish = 0, Nfe = 4 };
        var exact = ZeroShotSolver.ReconstructCt(prior, a, noisy, fbp, null, o, anglesRadians: angles);
        var aware = ZeroShotSolver.ReconstructCt(prior, a, noisy, fbp, null, o with { Photons = i0 }, anglesRadians: angles);
        double pExact = Metrics.Psnr(truth, exact.Mean), pAware = Metrics.Psnr(truth, aware.Mean);
        Assert.True(pAware > pExact + 1.0, $"photon-weighted {pAware:F2} dB vs exact {pExact:F2} dB");
        // Gaussian sinogram noise: the same noise-aware step with the sinogram's σ (σ 0.05, about 5 % of the line integrals).
        var gaussian = sino + torch.randn(sino.shape, generator: new torch.Generator(12)) * 0.05;
        var gaussianFbp = FilteredBackProjection.Reconstruct(gaussian, CtGeometry.ParallelBeam(64) with { Views = angles.Length }, angles);
        var gExact = ZeroShotSolver.ReconstructCt(prior, a, gaussian, gaussianFbp, null, o, anglesRadians: angles);
        var gAware = ZeroShotSolver.ReconstructCt(prior, a, gaussian, gaussianFbp, null, o with { NoiseSigma = 0.05 }, anglesRadians: angles);
        double pgExact = Metrics.Psnr(truth, gExact.Mean), pgAware = Metrics.Psnr(truth, gAware.Mean);
        Assert.True(pgAware > pgExact + 1.0, $"Gaussian: noise-aware {pgAware:F2} dB vs exact {pgExact:F2} dB");
        // Photons 0 is the unweighted, exact step, bit for bit.
        var zero = ZeroShotSolver.ReconstructCt(prior, a, noisy, fbp, null, o with { Photons = 0 }, anglesRadians: angles);
        Assert.True((zero.Mean == exact.Mean).all().item<bool>(), "Photons 0 = exact");
        // A dose is CT's; not with a weight or another step; not negative.
        Assert.Throws<ArgumentException>(() => ZeroShotSolver.ReconstructCt(prior, a, noisy, fbp, null, o with { Photons = i0, ConsistencyWeight = 0.1 }));
        Assert.Throws<ArgumentException>(() => ZeroShotSolver.ReconstructCt(prior, a, noisy, fbp, null, o with { Photons = i0, DataConsistency = DataConsistencyMode.ConjugateGradient }));
        Assert.Throws<ArgumentException>(() => ZeroShotSolver.ReconstructCt(prior, a, noisy, fbp, null, o with { Photons = -1 }));
        using var mri = SenseOperator.SingleCoil(torch.ones(16, 16));
        Assert.Throws<ArgumentException>(() => ZeroShotSolver.ReconstructMri(prior, mri, mri.Forward(torch.ones(16, 16)), o with { Photons = i0 }));
    }

    [Fact]
    public void ReplacementIsRefusedForSenseAndAutoPicksConjugateGradient()
    {
        using var scope = NewDisposeScope();
        var mask = SamplingMasks.Create(MaskKind.Equispaced, 32, 32, 4, 0.08, 0).Mask;
        using var a = new SenseOperator(CoilMaps.Birdcage(4, 32, 32), mask);
        var y = a.Forward(RandomComplex(32, 32, 5));
        Assert.False(DataConsistency.HasOrthonormalRows(a));
        Assert.IsType<ConjugateGradientConsistency>(DataConsistency.Create(DataConsistencyMode.Auto, a, y, 5, 0));
        var e = Assert.Throws<ArgumentException>(() => DataConsistency.Create(DataConsistencyMode.Replace, a, y, 5, 0));
        Assert.Contains("orthonormal rows", e.Message);
        // A weighted (non-binary) mask has no orthonormal rows either.
        using var weighted = SenseOperator.SingleCoil(mask * 0.5);
        Assert.False(DataConsistency.HasOrthonormalRows(weighted));
    }

    [Fact]
    public void ConjugateGradientConsistencyReducesTheResidualToTolerance()
    {
        using var scope = NewDisposeScope();
        // SENSE, 8 coils, 4x.
        var mask = SamplingMasks.Create(MaskKind.Equispaced, 48, 48, 4, 0.08, 0).Mask;
        using var sense = new SenseOperator(CoilMaps.Birdcage(8, 48, 48), mask);
        var y = sense.Forward(RandomComplex(48, 48, 6));
        var guess = RandomComplex(48, 48, 7);
        double r0 = RelativeResidual(sense, guess, y);
        double r3 = RelativeResidual(sense, new ConjugateGradientConsistency(sense, y, 3, 0).Apply(guess), y);
        double r60 = RelativeResidual(sense, new ConjugateGradientConsistency(sense, y, 60, 0).Apply(guess), y);
        Assert.True(r3 < 0.5 * r0, $"SENSE: 3 CG steps {r3:E2} vs start {r0:E2}");
        Assert.True(r60 < 2e-2 && r60 < 0.2 * r3, $"SENSE: 60 CG steps leave ‖Ax − y‖/‖y‖ = {r60:E2} (3 steps: {r3:E2})");

        // CT, 30 parallel views of a 32² image (underdetermined, consistent data).
        var ct = CtProjector.Create(CtGeometry.ParallelBeam(32) with { Views = 30 }, CtAngles.Uniform(30));
        var truth = EllipsePhantom.SheppLogan().Rasterize(32).to(ScalarType.Float32);
        var sino = ct.Forward(truth);
        var start = torch.zeros(32, 32);
        double c0 = RelativeResidual(ct, start, sino);
        var x = new ConjugateGradientConsistency(ct, sino, 100, 0).Apply(start);
        Assert.False(x.is_complex());
        double c100 = RelativeResidual(ct, x, sino);
        Assert.True(c100 < 1e-3 * c0, $"CT: 100 CG steps leave {c100:E2} (start {c0:E2})");
    }

    [Fact]
    public void PriorDomainsRoundTripAndFollowTheTrainingNormalisation()
    {
        using var scope = NewDisposeScope();
        var x = RandomComplex(16, 16, 8);
        var d = new MagnitudePhaseDomain(2.0);
        var n = d.ToPrior(x);
        Assert.False(n.is_complex());
        Assert.True(torch.allclose(n, x.abs() - 1.0, atol: 1e-6)); // 2|x|/2 − 1
        Assert.True(torch.allclose(d.FromPrior(n, x), x, atol: 1e-5));

        // Phase-constrained: with the image's phase φ fixed, the prior sees the part in phase with it (2a/p − 1 for
        // x = e^(iφ)(a + ib)), not the magnitude; the quadrature part b is left out, and the way back gives phase φ.
        var g = new torch.Generator(5);
        var inPhase = torch.randn(new long[] { 16, 16 }, generator: g).abs() + 0.1;
        var quadrature = torch.randn(new long[] { 16, 16 }, generator: g) * 0.5;
        var angle = torch.linspace(-3, 3, 16).unsqueeze(0).expand(16, 16) + torch.linspace(0, 1, 16).unsqueeze(1);
        var phasor = torch.polar(torch.ones(16, 16), angle);
        var image = phasor * torch.complex(inPhase, quadrature);
        var c = new MagnitudePhaseDomain(2.0, angle, inPhase: true);
        var seen = c.ToPrior(image);
        Assert.False(seen.is_complex());
        Assert.True(torch.allclose(seen, inPhase - 1.0, atol: 1e-5), "the prior sees the in-phase part");
        Assert.False(torch.allclose(seen, image.abs() - 1.0, atol: 1e-2), "not the magnitude");
        Assert.True(torch.allclose(c.FromPrior(seen, image), phasor * inPhase, atol: 1e-5));
        Assert.Contains("in-phase", c.Description);
        Assert.Throws<ArgumentException>(() => new MagnitudePhaseDomain(2.0, inPhase: true)); // needs the fixed phase

        // CT with μ_water: water → 0 HU, air (μ = 0) → −1000 HU, through the fixed map [−1024, 3071] → [−1, 1].
        var ct = ZeroShotSolver.CtDomain(torch.ones(4, 4), muWater: 0.02);
        var water = ct.ToPrior(torch.full(1, 1, 0.02)).item<float>();
        var air = ct.ToPrior(torch.zeros(1, 1)).item<float>();
        Assert.Equal(2 * (0 + 1024) / 4095.0 - 1, water, 5);
        Assert.Equal(2 * (-1000 + 1024) / 4095.0 - 1, air, 5);
        // Without μ_water the 99.5th percentile of the initial estimate is water.
        var est = ZeroShotSolver.CtDomain(torch.full(10, 10, 0.5), muWater: null);
        Assert.Equal(2 * 1024 / 4095.0 - 1, est.ToPrior(torch.full(1, 1, 0.5)).item<float>(), 5);
        Assert.Equal(-1.0, est.ToPrior(torch.zeros(1, 1)).item<float>(), 5);
    }

    /// <summary>Shepp–Logan 64² in attenuation-like units, 30 parallel views over 180° projected on a 2x finer grid
    /// (no inverse crime), its projector and FBP.</summary>
    static (Tensor Truth, double[] Angles, LinearOperator A, Tensor Sinogram, Tensor Fbp) SheppLoganCt64()
    {
        const int n = 64, views = 30;
        var g = CtGeometry.ParallelBeam(n) with { Views = views };
        var angles = CtAngles.Uniform(views);
        var truth = EllipsePhantom.SheppLogan().Rasterize(n).to(ScalarType.Float32) * 0.02;
        var sino = CtSimulation.ProjectFine(truth, g, angles, 2);
        return (truth, angles, CtProjector.Create(g, angles), sino, FilteredBackProjection.Reconstruct(sino, g, angles));
    }

    /// <summary>Single-coil 4x random mask on a 64² raster Shepp–Logan, k-space = A(truth): for tests of determinism and
    /// data consistency, not of quality.</summary>
    static (Tensor Truth, Tensor Mask, SenseOperator A, Tensor KSpace) SheppLogan64()
    {
        const int n = 64;
        var truth = EllipsePhantom.SheppLogan().Rasterize(n).to(ScalarType.ComplexFloat32);
        var mask = SamplingMasks.Create(MaskKind.Random, n, n, 4, 0.08, 0).Mask;
        var a = SenseOperator.SingleCoil(mask);
        return (truth, mask, a, a.Forward(truth));
    }

    /// <summary>Single-coil 4x random mask, 128² Shepp–Logan from analytic k-space (no inverse crime).</summary>
    static (Tensor Truth, SenseOperator A, Tensor KSpace) Phantom128(double accel = 4)
    {
        int n = 128;
        var ph = EllipsePhantom.SheppLogan();
        var mask = SamplingMasks.Create(MaskKind.Random, n, n, accel, 0.08, 0).Mask;
        var k = (ph.KSpace(n, n) * mask).unsqueeze(0).to(ScalarType.ComplexFloat32);
        return (ph.Rasterize(n).to(ScalarType.Float32), SenseOperator.SingleCoil(mask), k);
    }

    [Fact]
    public void EstimatedNoiseBeatsExactReplacement_OnAnAnalyticPhantom()
    {
        // Which runs estimate the k-space noise when none is named: no record (acquired data) and a recorded 0 with one
        // coil; a recorded σ is used as it is, and noise-free coil data stay exact.
        Assert.True(ZeroShotDefaults.MriEstimatesNoise(null, coils: 8));
        Assert.True(ZeroShotDefaults.MriEstimatesNoise(0, coils: 1));
        Assert.False(ZeroShotDefaults.MriEstimatesNoise(0, coils: 8));
        Assert.False(ZeroShotDefaults.MriEstimatesNoise(20, coils: 1));
        using var scope = NewDisposeScope();
        var (prior, _) = ModelIO.Load(PriorPath);
        using var _p = prior;
        // The phantom's k-space is its analytic Fourier transform, not the DFT of the rasterised reference: exact
        // replacement writes the difference into the image; weighting the samples by the estimated noise does not.
        // At the suite's size (256²; on a 128² Shepp–Logan the rasterisation, not the data, limits both: +0.06 dB).
        const int n = 256;
        var ph = EllipsePhantom.Random(7);
        var mask = SamplingMasks.Create(MaskKind.Random, n, n, 4, 0.08, 11).Mask;
        var k = (ph.KSpace(n, n) * mask).unsqueeze(0).to(ScalarType.ComplexFloat32);
        var truth = ph.Rasterize(n).to(ScalarType.Float32);
        using var a = SenseOperator.SingleCoil(mask);
        var o = new ZeroShotOptions { Nfe = 4 };
        var exact = ZeroShotSolver.ReconstructMri(prior, a, k, o);
        var estimated = ZeroShotSolver.ReconstructMri(prior, a, k, o with { EstimateNoise = true });
        Assert.Null(exact.NoiseSigma);
        Assert.True(estimated.NoiseSigma > 0);
        Assert.True(estimated.Settings!.TvFinish > 0, "the finish follows the estimated noise");
        double pExact = Metrics.Psnr(truth, exact.Mean.abs()), pEstimated = Metrics.Psnr(truth, estimated.Mean.abs());
        output.WriteLine($"256² ellipse phantom 7, 4x, TV start + 4 NFE: exact {pExact:F2} dB, σ {estimated.NoiseSigma:G3} estimated {pEstimated:F2} dB");
        // Measured 40.95 → 44.21 dB.
        Assert.True(pEstimated > pExact + 1.5, $"estimated noise {pEstimated:F2} dB vs exact {pExact:F2} dB");
    }

    [Fact]
    public void ConsistencyModelReconstructionBeatsZeroFilledOnAPhantom()
    {
        using var scope = NewDisposeScope();
        var (prior, meta) = ModelIO.Load(PriorPath);
        using var _ = prior;
        Assert.Equal("mr", meta.Modality);
        var (truth, a, k) = Phantom128();
        using var __ = a;
        var zf = ZeroFilled.Reconstruct(a, k).abs();
        var r = ZeroShotSolver.ReconstructMri(prior, a, k, new ZeroShotOptions { TvFinish = 0, Nfe = 4, Start = ZeroShotStart.Direct });
        Assert.Equal(4, r.NfePerSample);
        Assert.Null(r.StandardDeviation);
        Assert.True(r.Mean.is_complex());
        double pZf = Metrics.Psnr(truth, zf), pCm = Metrics.Psnr(truth, r.Mean.abs());
        // Measured 19.5 vs 17.8 dB with the step-472 snapshot (a 128² phantom is off the 256² training distribution).
        Assert.True(pCm > pZf + 1.0, $"CM 4 NFE {pCm:F2} dB vs zero-filled {pZf:F2} dB");
        // Exact replacement after the last network evaluation: the measured k-space is reproduced.
        Assert.True(RelativeResidual(a, r.Mean, k) < 1e-5);
    }

    [Fact]
    public void FastPriorIsTheSmallNetworkAndReconstructs()
    {
        using var scope = NewDisposeScope();
        var (fast, meta) = ModelIO.Load(Path.Combine(ExternalTools.RepositoryRoot, "models", "mr-prior-fast.safetensors"));
        using var _f = fast;
        Assert.Equal("mr", meta.Modality);
        Assert.Equal(new[] { 16, 32, 64 }, meta.Architecture.Widths);
        var (full, _) = ModelIO.Load(PriorPath);
        using var _p = full;
        long Parameters(ConsistencyFunction f) => f.Network.parameters().Sum(t => t.numel());
        // A quarter of the widths: about 1/4 of the convolution work and of the parameters.
        Assert.InRange(Parameters(fast) / (double)Parameters(full), 0.2, 0.3);
        var (truth, a, k) = Phantom128();
        using var __ = a;
        var zf = ZeroFilled.Reconstruct(a, k).abs();
        var r = ZeroShotSolver.ReconstructMri(fast, a, k, new ZeroShotOptions { TvFinish = 0, Nfe = 4, StartIterations = 100 });
        Assert.True(RelativeResidual(a, r.Mean, k) < 1e-5);
        double pZf = Metrics.Psnr(truth, zf), pCm = Metrics.Psnr(truth, r.Mean.abs());
        Assert.True(pCm > pZf + 3.0, $"fast prior, TV start + 4 NFE: {pCm:F2} dB vs zero-filled {pZf:F2} dB");
    }

    [Fact]
    public void TotalVariationStartKeepsTheDataExactAndBeatsZeroFilled()
    {
        using var scope = NewDisposeScope();
        var (prior, _) = ModelIO.Load(PriorPath);
        using var _p = prior;
        var (truth, a, k) = Phantom128();
        using var __ = a;
        var zf = ZeroFilled.Reconstruct(a, k).abs();
        var r = ZeroShotSolver.ReconstructMri(prior, a, k, new ZeroShotOptions { TvFinish = 0, Nfe = 2, Start = ZeroShotStart.TotalVariation });
        Assert.Equal(2, r.NfePerSample);
        // Replacement after the last evaluation: the measured k-space is reproduced whatever the start.
        Assert.True(RelativeResidual(a, r.Mean, k) < 1e-5);
        double pZf = Metrics.Psnr(truth, zf), pCm = Metrics.Psnr(truth, r.Mean.abs());
        Assert.True(pCm > pZf + 3.0, $"CM from TV {pCm:F2} dB vs zero-filled {pZf:F2} dB");
        // TV is the consistency model's default start (with σ₀ from the mask): no Start gives the same image bit for bit.
        var byDefault = ZeroShotSolver.ReconstructMri(prior, a, k, new ZeroShotOptions { TvFinish = 0, Nfe = 2 });
        Assert.True((byDefault.Mean == r.Mean).all().item<bool>());
        Assert.Equal(ZeroShotStart.Direct, ZeroShotDefaults.StartFor(new ZeroShotOptions { Method = ZeroShotMethod.Diffusion }));
        // A cheaper TV start (fewer PDHG iterations) is another start, and the data stay exact.
        var cheap = ZeroShotSolver.ReconstructMri(prior, a, k, new ZeroShotOptions { TvFinish = 0, Nfe = 2, StartIterations = 5 });
        Assert.True(Tensors.Norm(cheap.Mean - r.Mean) > 1e-3 * Tensors.Norm(r.Mean), "5 TV iterations must give another start than 300");
        Assert.True(RelativeResidual(a, cheap.Mean, k) < 1e-5);
        // The start's λ: the default is recorded and repeats the run; another λ is another start, the data still exact.
        Assert.Equal(ZeroShotDefaults.MriTvStartLambda, r.Settings!.StartLambda);
        var explicitLambda = ZeroShotSolver.ReconstructMri(prior, a, k, new ZeroShotOptions { TvFinish = 0, Nfe = 2, StartLambda = ZeroShotDefaults.MriTvStartLambda });
        Assert.True((explicitLambda.Mean == r.Mean).all().item<bool>());
        var smooth = ZeroShotSolver.ReconstructMri(prior, a, k, new ZeroShotOptions { TvFinish = 0, Nfe = 2, StartLambda = 0.05 });
        Assert.Equal(0.05, smooth.Settings!.StartLambda);
        Assert.True(Tensors.Norm(smooth.Mean - r.Mean) > 1e-3 * Tensors.Norm(r.Mean), "λ 0.05 must give another start than 0.004");
        Assert.True(RelativeResidual(a, smooth.Mean, k) < 1e-5);
        Assert.Throws<ArgumentOutOfRangeException>(() => ZeroShotSolver.ReconstructMri(prior, a, k, new ZeroShotOptions { Nfe = 2, StartLambda = 0 }));
        // A direct start has no TV λ to record.
        var direct = ZeroShotSolver.ReconstructMri(prior, a, k, new ZeroShotOptions { TvFinish = 0, Nfe = 2, Start = ZeroShotStart.Direct });
        Assert.Null(direct.Settings!.StartLambda);
        Assert.Null(direct.Settings.StartIterations);
    }

    /// <summary>An MRI loop default on the 128² phantom: leaving the option unset equals setting it to
    /// <paramref name="explicitDefault"/> bit for bit, turning it off changes the image, the data stay exact, and the
    /// result still beats zero-filled by 3 dB.</summary>
    static void AssertMriLoopDefault(ZeroShotOptions o, ZeroShotOptions explicitDefault, ZeroShotOptions off, string what)
    {
        using var scope = NewDisposeScope();
        var (prior, _) = ModelIO.Load(PriorPath);
        using var _p = prior;
        var (truth, a, k) = Phantom128();
        using var __ = a;
        var byDefault = ZeroShotSolver.ReconstructMri(prior, a, k, o);
        var explicitRun = ZeroShotSolver.ReconstructMri(prior, a, k, explicitDefault);
        var none = ZeroShotSolver.ReconstructMri(prior, a, k, off);
        Assert.True((byDefault.Mean == explicitRun.Mean).all().item<bool>(), $"no {what} → the MRI default, bit for bit");
        // The result records the default as the value it resolved to, so the run can be repeated with explicit options.
        Assert.Equal(explicitRun.Settings, byDefault.Settings);
        Assert.NotEqual(none.Settings, byDefault.Settings);
        Assert.Equal(ZeroShotStart.TotalVariation, byDefault.Settings!.Start);
        Assert.Equal(o.StartIterations ?? TotalVariationOptions.DefaultIterations, byDefault.Settings.StartIterations);
        Assert.Equal(ZeroShotDefaults.MriTvSigmaStartFor(a.Mask), byDefault.Settings.SigmaStart);
        Assert.True(Tensors.Norm(byDefault.Mean - none.Mean) > 1e-4 * Tensors.Norm(none.Mean), $"the default {what} must change the image");
        Assert.True(RelativeResidual(a, byDefault.Mean, k) < 1e-5, "replacement still makes A x = y");
        double pZf = Metrics.Psnr(truth, ZeroFilled.Reconstruct(a, k).abs()), pCm = Metrics.Psnr(truth, byDefault.Mean.abs());
        Assert.True(pCm > pZf + 3.0, $"CM with the default {what} {pCm:F2} dB vs zero-filled {pZf:F2} dB");
    }

    [Fact]
    public void TvFinish_RemovesTextureOnAPhantom_KeepsTheDataClose_AndIsOffForMriByDefault()
    {
        using var scope = NewDisposeScope();
        var (prior, _) = ModelIO.Load(PriorPath);
        using var _p = prior;
        var (truth, a, k) = Phantom128();
        using var __ = a;
        var o = new ZeroShotOptions { Nfe = 4, Samples = 2 };
        var byDefault = ZeroShotSolver.ReconstructMri(prior, a, k, o);
        var off = ZeroShotSolver.ReconstructMri(prior, a, k, o with { TvFinish = 0 });
        var finished = ZeroShotSolver.ReconstructMri(prior, a, k, o with { TvFinish = ZeroShotDefaults.MriTvFinishMeasured });
        // MRI: off by default (held out it lost 0.10 dB at Poisson 6x), bit for bit, and recorded as 0.
        Assert.True((byDefault.Mean == off.Mean).all().item<bool>(), "no TvFinish → none for MRI, bit for bit");
        Assert.Equal(off.Settings, byDefault.Settings);
        Assert.Equal(0.0, byDefault.Settings!.TvFinish);
        Assert.Equal(ZeroShotDefaults.MriTvFinishMeasured, finished.Settings!.TvFinish);
        // The finish acts on the mean; the spread stays the loop samples'.
        Assert.True((finished.StandardDeviation! == off.StandardDeviation!).all().item<bool>());
        double pOff = Metrics.Psnr(truth, off.Mean.abs()), pOn = Metrics.Psnr(truth, finished.Mean.abs());
        double sOff = Metrics.Ssim(truth, off.Mean.abs()), sOn = Metrics.Ssim(truth, finished.Mean.abs());
        double residual = RelativeResidual(a, finished.Mean, k);
        output.WriteLine($"TV finish: {pOff:F2} → {pOn:F2} dB, SSIM {sOff:F4} → {sOn:F4}, ‖Ax − y‖/‖y‖ {residual:E2}");
        // Measured 30.83 → 31.18 dB, SSIM 0.777 → 0.856 (128² Shepp–Logan, 4 NFE, 2 samples).
        Assert.True(pOn > pOff + 0.2, $"the TV finish on a piecewise-constant phantom: {pOn:F2} dB vs {pOff:F2} dB without");
        Assert.True(sOn > sOff + 0.03, $"SSIM {sOn:F4} vs {sOff:F4}");
        // A soft data term: the measurements are kept to within a few per cent, no longer exactly.
        Assert.InRange(residual, 1e-5, 0.03);
        // The diffusion baseline has none unless asked; CT has one by default; out of range is refused before any work.
        Assert.Equal(0.0, ZeroShotDefaults.TvFinishFor(new ZeroShotOptions { Method = ZeroShotMethod.Diffusion }, mri: false));
        Assert.Equal(0.001, ZeroShotDefaults.TvFinishFor(new ZeroShotOptions { Method = ZeroShotMethod.Diffusion, TvFinish = 0.001 }, mri: true));
        Assert.Equal(ZeroShotDefaults.CtTvFinish, ZeroShotDefaults.TvFinishFor(new ZeroShotOptions(), mri: false));
        Assert.True(ZeroShotDefaults.CtTvFinish > 0);
        Assert.Throws<ArgumentOutOfRangeException>(() => ZeroShotSolver.ReconstructMri(prior, a, k, o with { TvFinish = -0.1 }));
    }

    [Fact]
    public void MriTvFinishFollowsTheNoise_AndGainsOnNoisyData()
    {
        using var scope = NewDisposeScope();
        var (prior, _) = ModelIO.Load(PriorPath);
        using var _p = prior;
        var (truth, a, k) = Phantom128();
        using var __ = a;
        const double sigma = 0.03; // k-space noise per real and imaginary part (unitary FFT: the same per image pixel)
        var g = new torch.Generator(5);
        var noisy = (k + torch.complex(torch.randn(k.shape, generator: g), torch.randn(k.shape, generator: g)) * sigma) * a.Mask;
        var o = new ZeroShotOptions { Nfe = 4, NoiseSigma = sigma };
        var byDefault = ZeroShotSolver.ReconstructMri(prior, a, noisy, o);
        var off = ZeroShotSolver.ReconstructMri(prior, a, noisy, o with { TvFinish = 0 });
        // λ·max|Aᴴy| = 0.7σ: TV weighted by the noise it removes; none for exact data.
        double maxAdjoint = a.Adjoint(noisy).abs().max().item<float>();
        Assert.Equal(ZeroShotDefaults.MriNoiseTvFinishScale * sigma / maxAdjoint, byDefault.Settings!.TvFinish!.Value, 6);
        Assert.Equal(0.0, ZeroShotDefaults.MriTvFinishFor(null, maxAdjoint));
        Assert.Equal(0.0, ZeroShotDefaults.MriTvFinishFor(0, maxAdjoint));
        Assert.Equal(1.0, ZeroShotDefaults.MriTvFinishFor(10 * maxAdjoint, maxAdjoint)); // mostly noise: capped at the option's range
        // Noise-free data on a 2-D mask (Poisson disc) take half the scale (their σ is an estimate of the reference's own
        // floor and edges); noisy data keep it on either mask.
        Assert.Equal(ZeroShotDefaults.MriPointNoiseTvFinishScale * sigma / maxAdjoint,
            ZeroShotDefaults.MriTvFinishFor(sigma, maxAdjoint, lineMask: false, noiseFreeData: true), 9);
        Assert.Equal(0.5 * ZeroShotDefaults.MriNoiseTvFinishScale, ZeroShotDefaults.MriPointNoiseTvFinishScale, 9);
        Assert.Equal(byDefault.Settings.TvFinish!.Value, ZeroShotDefaults.MriTvFinishFor(sigma, maxAdjoint, lineMask: false), 6);
        Assert.Equal(byDefault.Settings.TvFinish!.Value, ZeroShotDefaults.MriTvFinishFor(sigma, maxAdjoint, lineMask: true, noiseFreeData: true), 6);
        // Noise-free data describe an estimated σ: refused without the estimate.
        Assert.Throws<ArgumentException>(() => ZeroShotSolver.ReconstructMri(prior, a, noisy, o with { NoiseSigma = null, NoiseFreeData = true }));
        double pOff = Metrics.Psnr(truth, off.Mean.abs()), pOn = Metrics.Psnr(truth, byDefault.Mean.abs());
        output.WriteLine($"noisy k-space (σ {sigma}): TV finish λ {byDefault.Settings.TvFinish:G3}, {pOff:F2} → {pOn:F2} dB");
        // Measured 26.14 → 26.37 dB (128² Shepp–Logan, 4x, σ 0.03, 4 NFE).
        Assert.True(pOn > pOff + 0.1, $"the noise-weighted finish {pOn:F2} dB vs {pOff:F2} dB without");
    }

    [Fact]
    public void CtTvFinishIsTheConsistencyDefaultAndGainsOnAPhantom()
    {
        using var scope = NewDisposeScope();
        var (prior, _) = ModelIO.Load(PriorPath);
        using var _p = prior;
        var (truth, angles, a, sino, fbp) = SheppLoganCt64();
        var o = new ZeroShotOptions { Nfe = 2 };
        var byDefault = ZeroShotSolver.ReconstructCt(prior, a, sino, fbp, null, o, anglesRadians: angles);
        var explicitRun = ZeroShotSolver.ReconstructCt(prior, a, sino, fbp, null, o with { TvFinish = ZeroShotDefaults.CtTvFinish }, anglesRadians: angles);
        var off = ZeroShotSolver.ReconstructCt(prior, a, sino, fbp, null, o with { TvFinish = 0 }, anglesRadians: angles);
        Assert.True((byDefault.Mean == explicitRun.Mean).all().item<bool>(), "no TvFinish → the CT default, bit for bit");
        Assert.Equal(ZeroShotDefaults.CtTvFinish, byDefault.Settings!.TvFinish);
        Assert.Equal(0.0, off.Settings!.TvFinish);
        // The TV start's λ is recorded; giving the default explicitly repeats the run, another λ is another start.
        Assert.Equal(ZeroShotDefaults.CtTvStartLambda, byDefault.Settings.StartLambda);
        var sameStart = ZeroShotSolver.ReconstructCt(prior, a, sino, fbp, null, o with { StartLambda = ZeroShotDefaults.CtTvStartLambda }, anglesRadians: angles);
        Assert.True((sameStart.Mean == byDefault.Mean).all().item<bool>(), "no StartLambda → the CT default, bit for bit");
        var otherStart = ZeroShotSolver.ReconstructCt(prior, a, sino, fbp, null, o with { StartLambda = 4 * ZeroShotDefaults.CtTvStartLambda }, anglesRadians: angles);
        Assert.True(Tensors.Norm(otherStart.Mean - byDefault.Mean) > 1e-4 * Tensors.Norm(byDefault.Mean), "another start λ must change the image");
        // With a noise model the start stays smoother (TV's λ tuned on the low-dose training slice); MRI keeps TV's default.
        Assert.Equal(ZeroShotDefaults.CtNoisyTvStartLambda, ZeroShotDefaults.StartLambdaFor(new ZeroShotOptions { Photons = 1e4 }, mri: false));
        Assert.Equal(ZeroShotDefaults.CtNoisyTvStartLambda, ZeroShotDefaults.StartLambdaFor(new ZeroShotOptions { NoiseSigma = 0.1 }, mri: false));
        Assert.Equal(TotalVariationOptions.DefaultLambda, ZeroShotDefaults.StartLambdaFor(new ZeroShotOptions(), mri: true));
        Assert.True(ZeroShotDefaults.CtTvStartLambda < ZeroShotDefaults.CtNoisyTvStartLambda);
        // A limited arc (under 170°, as σ₀) starts from a nearly unregularised TV; a full arc and a noise model do not.
        Assert.Equal(ZeroShotDefaults.CtLimitedArcTvStartLambda, ZeroShotDefaults.StartLambdaFor(new ZeroShotOptions(), mri: false, CtAngles.Uniform(90, 120)));
        Assert.Equal(ZeroShotDefaults.CtTvStartLambda, ZeroShotDefaults.StartLambdaFor(new ZeroShotOptions(), mri: false, CtAngles.Uniform(60)));
        Assert.Equal(ZeroShotDefaults.CtNoisyTvStartLambda, ZeroShotDefaults.StartLambdaFor(new ZeroShotOptions { Photons = 1e4 }, mri: false, CtAngles.Uniform(90, 120)));
        Assert.Equal(0.01, ZeroShotDefaults.StartLambdaFor(new ZeroShotOptions { StartLambda = 0.01 }, mri: false, CtAngles.Uniform(90, 120)));
        // The finish's λ: 0.004 for every CT task since session 16, with a noise model too; an explicit λ wins.
        Assert.Equal(0.004, ZeroShotDefaults.CtTvFinish);
        Assert.Equal(ZeroShotDefaults.CtTvFinish, ZeroShotDefaults.TvFinishFor(new ZeroShotOptions { Photons = 1e4 }, mri: false));
        Assert.Equal(ZeroShotDefaults.CtTvFinish, ZeroShotDefaults.TvFinishFor(new ZeroShotOptions { NoiseSigma = 0.1 }, mri: false));
        Assert.Equal(0.003, ZeroShotDefaults.TvFinishFor(new ZeroShotOptions { TvFinish = 0.003, Photons = 1e4 }, mri: false));
        Assert.True(byDefault.Mean.min().item<float>() >= 0, "the CT finish keeps x ≥ 0 as the TV start does");
        double pOff = Metrics.Psnr(truth, off.Mean), pOn = Metrics.Psnr(truth, byDefault.Mean);
        output.WriteLine($"CT TV finish: {pOff:F2} → {pOn:F2} dB");
        Assert.True(pOn > pOff, $"CT finish {pOn:F2} dB vs {pOff:F2} dB without");
    }

    [Fact]
    public void SigmaInflationIsTheMriConsistencyDefaultAndKeepsTheDataExact()
    {
        var o = new ZeroShotOptions { TvFinish = 0, Nfe = 2, StartIterations = 30 };
        Assert.Equal(1.25, ZeroShotDefaults.MriSigmaInflation);
        AssertMriLoopDefault(o, o with { SigmaInflation = ZeroShotDefaults.MriSigmaInflation }, o with { SigmaInflation = 1 }, "SigmaInflation");
        // CT: none by default; the diffusion baseline refuses an explicit one and otherwise uses 1.
        Assert.Equal(1.0, ZeroShotDefaults.SigmaInflationFor(new ZeroShotOptions(), mri: false));
        Assert.Equal(1.0, ZeroShotDefaults.SigmaInflationFor(new ZeroShotOptions { Method = ZeroShotMethod.Diffusion }, mri: true));
        Assert.Throws<ArgumentException>(() => ZeroShotDefaults.SigmaInflationFor(new ZeroShotOptions { Method = ZeroShotMethod.Diffusion, SigmaInflation = 1.25 }, mri: true));
    }

    [Fact]
    public void PhaseConstrainedOption_ChangesThePriorInput_IsRecorded_AndKeepsTheDataExact()
    {
        using var scope = NewDisposeScope();
        var (prior, _) = ModelIO.Load(PriorPath);
        using var _p = prior;
        var (truth, a, k) = Phantom128();
        using var __ = a;
        var o = new ZeroShotOptions { TvFinish = 0, Nfe = 2, StartIterations = 30 };
        var byDefault = ZeroShotSolver.ReconstructMri(prior, a, k, o);
        var magnitude = ZeroShotSolver.ReconstructMri(prior, a, k, o with { Phase = MriPhase.KSpaceCentre });
        var constrained = ZeroShotSolver.ReconstructMri(prior, a, k, o with { Phase = MriPhase.Constrained });
        // The default is the magnitude with the k-space centre's phase, bit for bit, and is recorded as such.
        Assert.True((byDefault.Mean == magnitude.Mean).all().item<bool>());
        Assert.Equal(MriPhase.KSpaceCentre, byDefault.Settings!.Phase);
        Assert.Equal(MriPhase.Constrained, constrained.Settings!.Phase);
        Assert.True(Tensors.Norm(constrained.Mean - magnitude.Mean) > 1e-4 * Tensors.Norm(magnitude.Mean), "another prior input, another image");
        Assert.True(RelativeResidual(a, constrained.Mean, k) < 1e-5, "replacement still makes A x = y");
        double pZf = Metrics.Psnr(truth, ZeroFilled.Reconstruct(a, k).abs()), pCm = Metrics.Psnr(truth, constrained.Mean.abs());
        Assert.True(pCm > pZf + 3.0, $"phase-constrained CM {pCm:F2} dB vs zero-filled {pZf:F2} dB");
    }

    [Fact]
    public void MomentumIsTheConsistencyDefaultFollowsTheMaskAndKeepsTheDataExact()
    {
        // The phantom's mask is 1-D (random lines): the line default.
        var o = new ZeroShotOptions { TvFinish = 0, Nfe = 3, StartIterations = 30 };
        AssertMriLoopDefault(o, o with { Momentum = ZeroShotDefaults.MriLineMomentum }, o with { Momentum = 0 }, "Momentum");
        // The default follows the mask: 1-D lines or 2-D points; the diffusion baseline refuses one and otherwise uses 0.
        using var lines = SamplingMasks.Create(MaskKind.Random, 64, 64, 4, 0.08, 0).Mask;
        using var points = SamplingMasks.Create(MaskKind.Poisson, 64, 64, 6, 0.08, 0).Mask;
        Assert.Equal(ZeroShotDefaults.MriLineMomentum, ZeroShotDefaults.MriMomentumFor(lines));
        Assert.Equal(ZeroShotDefaults.MriPointMomentum, ZeroShotDefaults.MriMomentumFor(points));
        Assert.Equal(ZeroShotDefaults.MriLineMomentum, ZeroShotDefaults.MriMomentumFor(lines.t()));
        Assert.Equal(0.0, ZeroShotDefaults.MriMomentumFor(lines, coilsWithNoise: true));
        Assert.Equal(0.0, ZeroShotDefaults.MomentumFor(new ZeroShotOptions { Method = ZeroShotMethod.Diffusion }, 0.6));
        Assert.Throws<ArgumentException>(() => ZeroShotDefaults.MomentumFor(new ZeroShotOptions { Method = ZeroShotMethod.Diffusion, Momentum = 0.3 }, 0.6));
        var (prior, _) = ModelIO.Load(PriorPath);
        using (prior)
        {
            var (_, a, k) = Phantom128();
            using (a) Assert.Throws<ArgumentOutOfRangeException>(() => ZeroShotSolver.ReconstructMri(prior, a, k, o with { Momentum = 2 }));
        }
        // CT: from the angular sampling — sparse views and limited arcs get it, dense full arcs and unknown angles none.
        static double[] Angles(int views, double arcDegrees) => Enumerable.Range(0, views).Select(i => i * arcDegrees / views * Math.PI / 180).ToArray();
        Assert.Equal(ZeroShotDefaults.CtMomentum, ZeroShotDefaults.CtMomentumFor(Angles(30, 180)));
        Assert.Equal(ZeroShotDefaults.CtMomentum, ZeroShotDefaults.CtMomentumFor(Angles(20, 180)));
        Assert.Equal(ZeroShotDefaults.CtMomentum / 3, ZeroShotDefaults.CtMomentumFor(Angles(45, 180)), 12);
        Assert.Equal(0.0, ZeroShotDefaults.CtMomentumFor(Angles(60, 180)));
        Assert.Equal(ZeroShotDefaults.CtMomentum, ZeroShotDefaults.CtMomentumFor(Angles(90, 120)));
        Assert.Equal(0.0, ZeroShotDefaults.CtMomentumFor(null));
        Assert.Equal(0.0, ZeroShotDefaults.CtMomentumFor(Angles(30, 180), weightedByNoise: true));
    }

    [Fact]
    public void SameSeedGivesTheSameImageAndSamplesDifferOnlyWhereDataAreMissing()
    {
        using var scope = NewDisposeScope();
        var (prior, _) = ModelIO.Load(PriorPath);
        using var _p = prior;
        const int n = 64;
        var (truth, mask, a, k) = SheppLogan64();
        using var _a = a;
        var o = new ZeroShotOptions { TvFinish = 0, Nfe = 2, Seed = 11 };
        var x1 = ZeroShotSolver.ReconstructMri(prior, a, k, o).Mean;
        var x2 = ZeroShotSolver.ReconstructMri(prior, a, k, o).Mean;
        Assert.True((x1 == x2).all().item<bool>(), "same seed, same options → the same image bit for bit");
        var x3 = ZeroShotSolver.ReconstructMri(prior, a, k, o with { Seed = 12 }).Mean;
        double diff = Tensors.Norm(x3 - x1) / Tensors.Norm(x1);
        Assert.True(diff > 1e-3, $"another seed must give another sample (relative difference {diff:E2})");
        // The samples agree on the measured k-space and differ only on the unmeasured part.
        var dk = Fft.Centered2D(x3 - x1);
        double onMask = Tensors.Norm(dk * mask), offMask = Tensors.Norm(dk * (1 - mask));
        Assert.True(onMask < 1e-4 * offMask, $"difference on the mask {onMask:E2} vs off it {offMask:E2}");

        var r = ZeroShotSolver.ReconstructMri(prior, a, k, o with { Samples = 3 });
        Assert.Equal(3, r.Samples);
        Assert.NotNull(r.StandardDeviation);
        Assert.Equal(new long[] { n, n }, r.StandardDeviation!.shape);
        Assert.True(r.StandardDeviation.max().item<float>() > 1e-3f, "missing data → non-zero spread");

        // Fully sampled: replacement fixes every sample to the data, so the spread vanishes.
        using var full = SenseOperator.SingleCoil(torch.ones(n, n));
        var rf = ZeroShotSolver.ReconstructMri(prior, full, full.Forward(truth), o with { Samples = 3 });
        Assert.True(rf.StandardDeviation!.max().item<float>() < 1e-4f, $"complete data → std {rf.StandardDeviation.max().item<float>():E2}");
        Assert.True(Tensors.Norm(rf.Mean - truth) < 1e-4 * Tensors.Norm(truth));
    }

    [Fact]
    public void DiffusionBaselineUsesTheGivenNfeAndKeepsTheData()
    {
        using var scope = NewDisposeScope();
        var (prior, _) = ModelIO.Load(PriorPath);
        using var _p = prior;
        var (truth, _, a, k) = SheppLogan64();
        using var _a = a;
        int calls = 0;
        var progress = new Progress(() => calls++);
        var r = ZeroShotSolver.ReconstructMri(prior, a, k, new ZeroShotOptions { Method = ZeroShotMethod.Diffusion, Nfe = 6 }, progress);
        Assert.Equal(6, r.NfePerSample);
        Assert.Equal(6, calls);
        Assert.True(RelativeResidual(a, r.Mean, k) < 1e-5);
    }

    /// <summary>The relative data-consistency weight w is λ = w·‖A‖²: w itself for single-coil MRI (orthonormal rows),
    /// w times the power-iteration norm for CT (bit-identical to the absolute λ); a positive weight leaves a residual
    /// (soft), and giving both forms is refused.</summary>
    [Fact]
    public void ConsistencyWeightIsLambdaRelativeToTheOperatorNorm()
    {
        using var scope = NewDisposeScope();
        var (prior, _) = ModelIO.Load(PriorPath);
        using var _p = prior;
        var (_, a, k) = Phantom128();
        using var __ = a;
        var o = new ZeroShotOptions { TvFinish = 0, Nfe = 1, Start = ZeroShotStart.Direct };
        var relative = ZeroShotSolver.ReconstructMri(prior, a, k, o with { ConsistencyWeight = 0.5 });
        var absolute = ZeroShotSolver.ReconstructMri(prior, a, k, o with { Lambda = 0.5 });
        Assert.True((relative.Mean == absolute.Mean).all().item<bool>(), "MRI single coil: w = λ");
        Assert.True(RelativeResidual(a, relative.Mean, k) > 1e-3, "a soft step leaves part of the network's estimate at measured samples");
        Assert.True(RelativeResidual(a, ZeroShotSolver.ReconstructMri(prior, a, k, o with { ConsistencyWeight = 0 }).Mean, k) < 1e-5, "w = 0 is exact");
        Assert.Throws<ArgumentException>(() => ZeroShotSolver.ReconstructMri(prior, a, k, o with { ConsistencyWeight = 0.5, Lambda = 0.5 }));

        var (_, angles, ct, sino, fbp) = SheppLoganCt64();
        double norm = PowerIteration.NormalNorm(ct, complexInput: false);
        Assert.True(norm > 10, $"‖A‖² of the CT projector {norm:F1}: not 1, so the weight must be scaled");
        var ctRelative = ZeroShotSolver.ReconstructCt(prior, ct, sino, fbp, null, o with { ConsistencyWeight = 0.01 }, anglesRadians: angles);
        var ctAbsolute = ZeroShotSolver.ReconstructCt(prior, ct, sino, fbp, null, o with { Lambda = 0.01 * norm }, anglesRadians: angles);
        Assert.True((ctRelative.Mean == ctAbsolute.Mean).all().item<bool>(), "CT: λ = w·‖A‖²");
        // A noise σ: estimated for MRI only (CT's is given: the sinogram's Gaussian σ, not with a dose); not with a weight;
        // 0 is exact replacement, bit for bit.
        Assert.Throws<ArgumentException>(() => ZeroShotSolver.ReconstructCt(prior, ct, sino, fbp, null, o with { EstimateNoise = true }));
        Assert.Throws<ArgumentException>(() => ZeroShotSolver.ReconstructCt(prior, ct, sino, fbp, null, o with { NoiseSigma = 0.01, Photons = 1000 }));
        Assert.Throws<ArgumentException>(() => ZeroShotSolver.ReconstructMri(prior, a, k, o with { NoiseSigma = 1, ConsistencyWeight = 0.1 }));
        var silent = ZeroShotSolver.ReconstructMri(prior, a, k, o with { NoiseSigma = 0 });
        var exact = ZeroShotSolver.ReconstructMri(prior, a, k, o);
        Assert.True((silent.Mean == exact.Mean).all().item<bool>(), "noise σ 0 = exact replacement");
    }

    /// <summary>Progress covers the whole run: the TV start's iterations first (its own stage), then one report per network
    /// evaluation with σ as the value, decreasing.</summary>
    [Fact]
    public void ProgressReportsTheTvStartThenEachNetworkEvaluation()
    {
        using var scope = NewDisposeScope();
        var (prior, _) = ModelIO.Load(PriorPath);
        using var _p = prior;
        var (_, _, a, k) = SheppLogan64();
        using var _a = a;
        var items = new List<SolverProgress>();
        ZeroShotSolver.ReconstructMri(prior, a, k, new ZeroShotOptions { Nfe = 3, StartIterations = 20, TvFinish = ZeroShotDefaults.MriTvFinishMeasured }, new Progress(items.Add));
        var tv = items.TakeWhile(p => p.Stage == "TV start").ToList();
        var network = items.Skip(tv.Count).TakeWhile(p => p.Stage == "network evaluations").ToList();
        var finish = items.Skip(tv.Count + network.Count).ToList();
        // Then the TV finish when asked for (MRI: off by default), one report per PDHG iteration.
        Assert.Equal(ZeroShotDefaults.TvFinishIterations, finish.Count);
        Assert.All(finish, p => Assert.Equal(("TV finish", ZeroShotDefaults.TvFinishIterations), (p.Stage, p.Total)));
        Assert.NotEmpty(tv);
        Assert.Equal(20, tv[^1].Iteration);
        Assert.All(tv, p => Assert.Equal(20, p.Total));
        Assert.Equal(3, network.Count);
        Assert.All(network, p => Assert.Equal(("network evaluations", "σ", 3), (p.Stage, p.ValueName, p.Total)));
        Assert.Equal(new[] { 1, 2, 3 }, network.Select(p => p.Iteration));
        Assert.True(network[0].Value > network[1].Value && network[1].Value > network[2].Value, "σ decreases");
    }

    [Fact]
    public void CtReconstructionIsInTheSinogramUnitsAndBeatsFbp()
    {
        using var scope = NewDisposeScope();
        // The solver does not check modality (the CLI does); the MR prior stands in for a CT prior here.
        var (prior, _) = ModelIO.Load(PriorPath);
        using var _p = prior;
        var (truth, angles, a, sino, fbp) = SheppLoganCt64();
        var r = ZeroShotSolver.ReconstructCt(prior, a, sino, fbp, muWater: null, new ZeroShotOptions { Nfe = 4, Start = ZeroShotStart.Direct });
        Assert.False(r.Mean.is_complex());
        double scale = r.Mean.mean().item<float>() / truth.mean().item<float>();
        Assert.InRange(scale, 0.8, 1.25);
        double pFbp = Metrics.Psnr(truth, fbp), pCm = Metrics.Psnr(truth, r.Mean);
        Assert.True(pCm > pFbp + 1.0, $"CM {pCm:F2} dB vs FBP {pFbp:F2} dB");
    }

    [Fact]
    public void CtTotalVariationStartIsTheConsistencyModelDefault()
    {
        using var scope = NewDisposeScope();
        var (prior, _) = ModelIO.Load(PriorPath);
        using var _p = prior;
        var (truth, angles, a, sino, fbp) = SheppLoganCt64();
        var o = new ZeroShotOptions { Nfe = 2 };
        var fromTv = ZeroShotSolver.ReconstructCt(prior, a, sino, fbp, null, o with { Start = ZeroShotStart.TotalVariation }, anglesRadians: angles);
        var byDefault = ZeroShotSolver.ReconstructCt(prior, a, sino, fbp, null, o, anglesRadians: angles);
        Assert.True((byDefault.Mean == fromTv.Mean).all().item<bool>(), "no Start → the TV start, bit for bit");
        var fromFbp = ZeroShotSolver.ReconstructCt(prior, a, sino, fbp, null, o with { Start = ZeroShotStart.Direct }, anglesRadians: angles);
        double pFbp = Metrics.Psnr(truth, fbp), pTv = Metrics.Psnr(truth, fromTv.Mean), pDirect = Metrics.Psnr(truth, fromFbp.Mean);
        // The start shows in the result: from TV the streaks are gone before the first network evaluation.
        Assert.True(pTv > pDirect + 1.0, $"CM from TV {pTv:F2} dB vs from FBP {pDirect:F2} dB");
        Assert.True(pTv > pFbp + 3.0, $"CM from TV {pTv:F2} dB vs FBP {pFbp:F2} dB");
        Assert.Equal(ZeroShotStart.Direct, ZeroShotDefaults.StartFor(new ZeroShotOptions { Method = ZeroShotMethod.Diffusion }));
    }

    [Fact]
    public void MriStartingSigmaFromTvFollowsTheMask()
    {
        using var scope = NewDisposeScope();
        // Tuned points (docs/zero-shot.md): 1-D 4x 0.2, 1-D 8x 0.7, 2-D Poisson 0.1 (the same mask transposed too).
        double S(MaskKind kind, double accel, double centre) =>
            ZeroShotDefaults.MriTvSigmaStartFor(SamplingMasks.Create(kind, 256, 256, accel, centre, 3).Mask);
        // Equispaced masks sample exactly 1/R (random ones only on average: the rule follows the actual fraction).
        Assert.InRange(S(MaskKind.Equispaced, 4, 0.08), 0.19, 0.21);
        Assert.InRange(S(MaskKind.Equispaced, 8, 0.04), 0.65, 0.75);
        Assert.True(S(MaskKind.Random, 8, 0.04) > S(MaskKind.Random, 4, 0.08));
        Assert.Equal(0.1, S(MaskKind.Poisson, 6, 0.08));
        var m = SamplingMasks.Create(MaskKind.Random, 256, 256, 8, 0.04, 3).Mask;
        Assert.Equal(ZeroShotDefaults.MriTvSigmaStartFor(m), ZeroShotDefaults.MriTvSigmaStartFor(m.t()), 9);
        Assert.Equal(0.1, ZeroShotDefaults.MriTvSigmaStartFor(torch.ones(32, 32)));
    }

    [Fact]
    public void CtStartingSigmaFollowsTheAngularSampling()
    {
        // Tuned points (docs/zero-shot.md): 60 views 0.2, 30 views 0.5, limited angle 0.5; sparser → never below dense.
        Assert.Equal(0.2, ZeroShotDefaults.CtSigmaStartFor(CtAngles.Uniform(60)), 6);
        Assert.InRange(ZeroShotDefaults.CtSigmaStartFor(CtAngles.Uniform(30)), 0.49, 0.5);
        Assert.Equal(0.5, ZeroShotDefaults.CtSigmaStartFor(CtAngles.Uniform(90, 120)));
        Assert.Equal(0.1, ZeroShotDefaults.CtSigmaStartFor(CtAngles.Uniform(720)));
        double previous = 0;
        foreach (int views in new[] { 360, 180, 90, 60, 45, 30, 20 })
        {
            double s = ZeroShotDefaults.CtSigmaStartFor(CtAngles.Uniform(views));
            Assert.True(s >= previous, $"σ₀ must not fall as views get sparser ({views} views: {s})");
            previous = s;
        }
        // Fan beam over 360° counts as a full arc.
        Assert.Equal(0.2, ZeroShotDefaults.CtSigmaStartFor(CtAngles.Uniform(60, 360)), 6);
        // From TV: small over a full arc whatever the views, large for the missing wedge of a limited arc.
        Assert.Equal(ZeroShotDefaults.CtTvSigmaStart, ZeroShotDefaults.CtSigmaStartFor(CtAngles.Uniform(60), ZeroShotStart.TotalVariation));
        Assert.Equal(ZeroShotDefaults.CtTvSigmaStart, ZeroShotDefaults.CtSigmaStartFor(CtAngles.Uniform(30), ZeroShotStart.TotalVariation));
        Assert.Equal(0.7, ZeroShotDefaults.CtSigmaStartFor(CtAngles.Uniform(90, 120), ZeroShotStart.TotalVariation));
        // Noisy data keep the smoother start and with it the σ₀ tuned for it.
        Assert.Equal(ZeroShotDefaults.CtNoisyTvSigmaStart, ZeroShotDefaults.CtSigmaStartFor(CtAngles.Uniform(60), ZeroShotStart.TotalVariation, noiseModel: true));
        Assert.Equal(0.7, ZeroShotDefaults.CtSigmaStartFor(CtAngles.Uniform(90, 120), ZeroShotStart.TotalVariation, noiseModel: true));
        Assert.True(ZeroShotDefaults.CtTvSigmaStart < ZeroShotDefaults.CtNoisyTvSigmaStart);
    }

    [Fact]
    public void InvalidOptionsAreRejected()
    {
        using var scope = NewDisposeScope();
        var (prior, _) = ModelIO.Load(PriorPath);
        using var _p = prior;
        var mask = torch.ones(16, 16);
        using var a = SenseOperator.SingleCoil(mask);
        var k = a.Forward(torch.ones(16, 16));
        Assert.Throws<ArgumentOutOfRangeException>(() => ZeroShotSolver.ReconstructMri(prior, a, k, new ZeroShotOptions { Nfe = 0 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => ZeroShotSolver.ReconstructMri(prior, a, k, new ZeroShotOptions { Samples = 0 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => ZeroShotSolver.ReconstructMri(prior, a, k, new ZeroShotOptions { SigmaStart = 500 }));
        Assert.Throws<ArgumentException>(() => ZeroShotSolver.ReconstructMri(prior, a, torch.zeros(1, 8, 8, ScalarType.ComplexFloat32), new ZeroShotOptions()));
    }

    sealed class Progress(Action<SolverProgress> onReport) : IProgress<SolverProgress>
    {
        public Progress(Action onReport) : this(_ => onReport()) { }
        public void Report(SolverProgress value) => onReport(value);
    }
}
