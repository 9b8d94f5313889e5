using System.Diagnostics;
using MedRecon.Core;
using MedRecon.Operators;
using MedRecon.Operators.Mri;
using MedRecon.Phantoms;
using MedRecon.Solvers;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace MedRecon.Tests.Solvers;

public sealed class SolverTests
{
    readonly ITestOutputHelper output;
    public SolverTests(ITestOutputHelper output) => this.output = output;

    sealed class Recorder : IProgress<SolverProgress>
    {
        public readonly List<SolverProgress> Items = new();
        public void Report(SolverProgress value) => Items.Add(value);
    }

    /// <summary>A dense matrix as an operator on vectors (real or complex).</summary>
    sealed class MatrixOperator : LinearOperator
    {
        readonly Tensor m;
        public MatrixOperator(Tensor m) : base(new[] { m.shape[1] }, new[] { m.shape[0] }) => this.m = m;
        public override Tensor Forward(Tensor x) { CheckInput(x); return m.matmul(x); }
        public override Tensor Adjoint(Tensor y) { CheckOutput(y); return m.is_complex() ? m.conj().t().matmul(y).resolve_conj() : m.t().matmul(y); }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Cg_SolvesSmallSpdSystem_MatchesDirectSolve(bool complex)
    {
        using var scope = NewDisposeScope();
        var gen = new Generator(7);
        int n = 40;
        Tensor Rand(params long[] s) => complex
            ? torch.complex(torch.randn(s, ScalarType.Float64, generator: gen), torch.randn(s, ScalarType.Float64, generator: gen))
            : torch.randn(s, ScalarType.Float64, generator: gen);
        var b = Rand(n, n);
        var bh = complex ? b.conj().t().resolve_conj() : b.t();
        var spd = bh.matmul(b) + torch.eye(n, dtype: b.dtype) * 5; // condition number ~ 10–100
        var rhs = Rand(n);
        var direct = torch.linalg.solve(spd, rhs);
        var rec = new Recorder();
        var x = ConjugateGradient.Solve(v => spd.matmul(v), rhs, torch.zeros_like(rhs), iterations: 200, tolerance: 1e-10, progress: rec);
        double err = Tensors.Norm(x - direct) / Tensors.Norm(direct);
        output.WriteLine($"complex={complex}: {rec.Items.Count} iterations, final residual {rec.Items[^1].Value:E2}, error vs direct {err:E2}");
        Assert.True(err < 1e-7, $"relative error {err:E2}");
        Assert.True(rec.Items.Count < 200, "tolerance did not stop CG early");
        Assert.True(rec.Items[^1].Value <= 1e-10);
    }

    [Fact]
    public void Cg_Reconstruct_Tikhonov_MatchesDirectSolveOfNormalEquations()
    {
        using var scope = NewDisposeScope();
        var gen = new Generator(3);
        var m = torch.randn(new long[] { 30, 20 }, ScalarType.Float64, generator: gen);
        var a = new MatrixOperator(m);
        var y = torch.randn(new long[] { 30 }, ScalarType.Float64, generator: gen);
        double lambda = 0.5;
        var direct = torch.linalg.solve(m.t().matmul(m) + torch.eye(20, dtype: ScalarType.Float64) * lambda, m.t().matmul(y));
        var x = ConjugateGradient.Reconstruct(a, y, iterations: 100, lambda: lambda, tolerance: 1e-12);
        Assert.True(Tensors.Norm(x - direct) / Tensors.Norm(direct) < 1e-8);
    }

    [Fact]
    public void CgSense_4Coils_4x_ReducesErrorVsZeroFilled()
    {
        using var scope = NewDisposeScope();
        int n = 96;
        var truth = SolverTestData.Shepp.Rasterize(n);
        var maps = CoilMaps.Birdcage(4, n, n);
        var mask = SolverTestData.Mask(MaskKind.Equispaced, n, 4, 0.08, seed: 11);
        using var a = new SenseOperator(maps, mask);
        var y = SolverTestData.Shepp.KSpaceBirdcage(4, n, n) * mask;
        var zf = ZeroFilled.Reconstruct(a, y);
        var rec = new Recorder();
        var sw = Stopwatch.StartNew();
        var cg = ConjugateGradient.Reconstruct(a, y, iterations: 30, progress: rec);
        sw.Stop();
        double ezf = Tensors.Norm(zf.abs() - truth) / Tensors.Norm(truth);
        double ecg = Tensors.Norm(cg.abs() - truth) / Tensors.Norm(truth);
        output.WriteLine($"relative error: zero-filled {ezf:F4}, CG-SENSE {ecg:F4} ({rec.Items.Count} it, {sw.Elapsed.TotalSeconds:F2} s); " +
                         $"PSNR {Metrics.Psnr(truth, zf):F2} → {Metrics.Psnr(truth, cg):F2} dB");
        Assert.Equal(a.InputShape, cg.shape);
        Assert.True(cg.is_complex());
        Assert.True(ecg < 0.7 * ezf, $"CG-SENSE error {ecg:F4} not below 0.7 × the zero-filled error {ezf:F4}");
        Assert.True(Metrics.Psnr(truth, cg) > Metrics.Psnr(truth, zf) + 3);
        for (int i = 1; i < rec.Items.Count; i++) Assert.Equal(i + 1, rec.Items[i].Iteration);
    }

    [Fact]
    public void Tv_PiecewiseConstant_4x1D_GainsOverZeroFilled()
    {
        using var scope = NewDisposeScope();
        int n = 128;
        var truth = SolverTestData.Shepp.Rasterize(n);
        var mask = SolverTestData.Mask(MaskKind.Random, n, 4, 0.08, seed: 5);
        using var a = SenseOperator.SingleCoil(mask);
        var y = SolverTestData.SingleCoilKSpace(SolverTestData.Shepp, n, mask);
        var zf = ZeroFilled.Reconstruct(a, y);
        var sw = Stopwatch.StartNew();
        var tv = TotalVariation.Reconstruct(a, y); // defaults: λ = 0.01 relative, 200 iterations
        double tvSeconds = sw.Elapsed.TotalSeconds;
        sw.Restart();
        var wl = WaveletL1.Reconstruct(a, y);      // defaults: λ = 0.005 relative, 100 iterations
        double wlSeconds = sw.Elapsed.TotalSeconds;
        double pzf = Metrics.Psnr(truth, zf), ptv = Metrics.Psnr(truth, tv), pwl = Metrics.Psnr(truth, wl);
        output.WriteLine($"PSNR zero-filled {pzf:F2} dB, TV {ptv:F2} dB ({tvSeconds:F2} s), wavelet-l1 {pwl:F2} dB ({wlSeconds:F2} s)");
        Assert.True(ptv > pzf + 5, $"TV {ptv:F2} dB does not beat zero-filled {pzf:F2} dB by 5 dB");
        Assert.True(ptv > pwl, "TV should beat wavelet-l1 on a piecewise-constant image");
        Assert.True(pwl > pzf + 1, $"wavelet-l1 {pwl:F2} dB does not beat zero-filled {pzf:F2} dB by 1 dB");
    }

    [Fact]
    public void Tv_MultiCoilSense_BeatsCgSense()
    {
        using var scope = NewDisposeScope();
        int n = 96;
        var truth = SolverTestData.Shepp.Rasterize(n);
        var maps = CoilMaps.Birdcage(4, n, n);
        var mask = SolverTestData.Mask(MaskKind.Random, n, 4, 0.08, seed: 4);
        using var a = new SenseOperator(maps, mask);
        var y = SolverTestData.Shepp.KSpaceBirdcage(4, n, n) * mask;
        var cg = ConjugateGradient.Reconstruct(a, y, iterations: 30);
        var rec = new Recorder();
        var tv = TotalVariation.Reconstruct(a, y, lambda: 0.005, iterations: 150, progress: rec);
        double pcg = Metrics.Psnr(truth, cg), ptv = Metrics.Psnr(truth, tv);
        output.WriteLine($"4-coil SENSE, random 4x: CG-SENSE {pcg:F2} dB, TV {ptv:F2} dB; last relative change {rec.Items[^1].Value:E2}");
        Assert.Equal(150, rec.Items.Count);
        Assert.True(rec.Items[^1].Value < rec.Items[0].Value);
        Assert.True(ptv > pcg + 2, $"TV {ptv:F2} dB does not beat CG-SENSE {pcg:F2} dB by 2 dB");
    }

    [Fact]
    public void Tv_LambdaZero_IsLeastSquares()
    {
        using var scope = NewDisposeScope();
        int n = 32;
        var mask = SolverTestData.Mask(MaskKind.Random, n, 4, 0.1, seed: 1);
        using var a = SenseOperator.SingleCoil(mask);
        var y = SolverTestData.SingleCoilKSpace(SolverTestData.Other, n, mask);
        var tv = TotalVariation.Reconstruct(a, y, lambda: 0, iterations: 50);
        var zf = ZeroFilled.Reconstruct(a, y); // for a masked unitary FFT, zero-filled is the minimum-norm least-squares solution
        Assert.True(Tensors.AllFinite(tv));
        Assert.True(Tensors.Norm(tv - zf) / Tensors.Norm(zf) < 1e-4);
    }

    [Fact]
    public void Tv_Anchor_LambdaZero_IsSoftReplacementTowardsTheAnchor()
    {
        // min ½‖Ax − y‖² + (w/2)‖x − x̂‖² for a masked unitary FFT: x = x̂ − Aᴴ(Ax̂ − y)/(1 + w), the soft replacement.
        using var scope = NewDisposeScope();
        int n = 32;
        var mask = SolverTestData.Mask(MaskKind.Random, n, 4, 0.1, seed: 1);
        using var a = SenseOperator.SingleCoil(mask);
        var y = SolverTestData.SingleCoilKSpace(SolverTestData.Other, n, mask);
        var anchor = SolverTestData.Shepp.Rasterize(n).to(ScalarType.ComplexFloat32);
        foreach (double w in new[] { 0.5, 2.0 })
        {
            var tv = TotalVariation.Reconstruct(a, y, new TotalVariationOptions { Lambda = 0, Iterations = 300, Anchor = anchor, AnchorWeight = w });
            var expected = new MedRecon.Solvers.ZeroShot.SoftConsistency(a, y, w).Apply(anchor);
            double rel = Tensors.Norm(tv - expected) / Tensors.Norm(expected);
            output.WriteLine($"w {w}: relative difference from the closed form {rel:E2}");
            Assert.True(rel < 1e-3, $"w {w}: {rel:E2}");
        }
    }

    /// <summary>The zero-shot TV finish's situation: an estimate with the measured k-space right and noise-like texture
    /// elsewhere (96², 4x). The caller disposes the operator.</summary>
    static (SenseOperator A, Tensor Y, Tensor Truth, Tensor Estimate) NearlyConsistentEstimate()
    {
        int n = 96;
        var truth = SolverTestData.Other.Rasterize(n);
        var mask = SolverTestData.Mask(MaskKind.Random, n, 4, 0.08, seed: 2);
        var a = SenseOperator.SingleCoil(mask);
        var y = a.Forward(truth.to(ScalarType.ComplexFloat32));
        var gen = new Generator(7);
        var textured = truth + torch.randn(new long[] { n, n }, generator: gen) * 0.02f;
        return (a, y, truth, new MedRecon.Solvers.ZeroShot.ReplacementConsistency(a, y).Apply(textured));
    }

    [Fact]
    public void Tv_Anchor_RemovesNoiseFromANearlyConsistentEstimate()
    {
        using var scope = NewDisposeScope();
        var c = NearlyConsistentEstimate();
        using var a = c.A;
        var (y, truth, estimate) = (c.Y, c.Truth, c.Estimate);
        var finished = TotalVariation.Reconstruct(a, y, new TotalVariationOptions { Lambda = 0.004, Iterations = 100, Anchor = estimate });
        var plainTv = TotalVariation.Reconstruct(a, y, lambda: 0.004, iterations: 100);
        double before = Metrics.Psnr(truth, estimate), after = Metrics.Psnr(truth, finished), tv = Metrics.Psnr(truth, plainTv);
        double residual = Tensors.Norm(a.Forward(finished) - y) / Tensors.Norm(y);
        output.WriteLine($"estimate {before:F2} dB → finished {after:F2} dB (TV from Aᴴy {tv:F2} dB), data residual {residual:E2}");
        Assert.True(after > before + 2, $"the finish gained {after - before:F2} dB, expected > 2");
        Assert.True(residual < 0.02, $"the finish left the data by {residual:E2}");
    }

    [Fact]
    public void Tv_Anchor_AcceleratedReachesTheSameSolutionInFewerIterations()
    {
        // The anchor makes the objective strongly convex: accelerated PDHG (Chambolle–Pock Algorithm 2) converges to the
        // same solution, and after 40 iterations it is nearer to it than 100 plain ones (the TV finish's old setting).
        using var scope = NewDisposeScope();
        var c = NearlyConsistentEstimate();
        using var a = c.A;
        var (y, estimate) = (c.Y, c.Estimate);
        Tensor Run(int iterations, bool accelerate) => TotalVariation.Reconstruct(a, y,
            new TotalVariationOptions { Lambda = 0.004, Iterations = iterations, Anchor = estimate, Accelerate = accelerate });
        var solution = Run(3000, accelerate: false);
        double Distance(Tensor x) => Tensors.Norm(x - solution) / Tensors.Norm(solution);
        double accelerated3000 = Distance(Run(3000, true)), accelerated40 = Distance(Run(40, true));
        double plain40 = Distance(Run(40, false)), plain100 = Distance(Run(100, false));
        output.WriteLine($"distance to the 3000-iteration solution: accelerated 3000 {accelerated3000:E2}, 40 {accelerated40:E2}; plain 40 {plain40:E2}, 100 {plain100:E2}");
        Assert.True(accelerated3000 < 1e-4, $"accelerated 3000: {accelerated3000:E2}");
        Assert.True(accelerated40 < 0.7 * plain40, $"accelerated 40 {accelerated40:E2} vs plain 40 {plain40:E2}");
        Assert.True(accelerated40 < 1.05 * plain100, $"accelerated 40 {accelerated40:E2} vs plain 100 {plain100:E2}");
        // Without an anchor there is no strong convexity to use: the option is ignored.
        var plain = TotalVariation.Reconstruct(a, y, new TotalVariationOptions { Lambda = 0.004, Iterations = 30, Accelerate = false });
        var ignored = TotalVariation.Reconstruct(a, y, new TotalVariationOptions { Lambda = 0.004, Iterations = 30, Accelerate = true });
        Assert.True(Tensors.Norm(plain - ignored) == 0);
    }

    [Fact]
    public void Tv_Anchor_BadInput_IsRefused()
    {
        using var scope = NewDisposeScope();
        int n = 16;
        var mask = SolverTestData.Mask(MaskKind.Random, n, 4, 0.1, seed: 1);
        using var a = SenseOperator.SingleCoil(mask);
        var y = SolverTestData.SingleCoilKSpace(SolverTestData.Other, n, mask);
        var good = torch.zeros(n, n, dtype: ScalarType.ComplexFloat32);
        Assert.Throws<ArgumentException>(() => TotalVariation.Reconstruct(a, y, new TotalVariationOptions { Anchor = torch.zeros(n, n + 1) }));
        Assert.Throws<ArgumentException>(() => TotalVariation.Reconstruct(a, y, new TotalVariationOptions { Anchor = torch.full(n, n, double.NaN) }));
        Assert.Throws<ArgumentOutOfRangeException>(() => TotalVariation.Reconstruct(a, y, new TotalVariationOptions { Anchor = good, AnchorWeight = 0 }));
        var real = new IdentityOperator(new long[] { n, n });
        Assert.Throws<ArgumentException>(() => TotalVariation.Reconstruct(real, torch.ones(n, n), new TotalVariationOptions { Anchor = good }));
    }

    [Fact]
    public void Tv_RealImage_NonNegative_DenoisesAndStaysReal()
    {
        using var scope = NewDisposeScope();
        int n = 64;
        var truth = SolverTestData.Other.Rasterize(n);
        var gen = new Generator(99);
        var noisy = truth + torch.randn(new long[] { n, n }, generator: gen) * 0.1f;
        var a = new IdentityOperator(new long[] { n, n });
        var tv = TotalVariation.Reconstruct(a, noisy, lambda: 0.05, iterations: 150, nonNegative: true);
        Assert.False(tv.is_complex());
        Assert.True(tv.min().item<float>() >= 0);
        double before = Metrics.Psnr(truth, noisy), after = Metrics.Psnr(truth, tv);
        output.WriteLine($"denoising PSNR {before:F2} → {after:F2} dB");
        Assert.True(after > before + 5);
    }

    [Fact]
    public void Tv_And_Wavelet_LambdaIsRelative_SolutionScalesWithData()
    {
        using var scope = NewDisposeScope();
        int n = 64;
        var mask = SolverTestData.Mask(MaskKind.Random, n, 4, 0.08, seed: 2);
        using var a = SenseOperator.SingleCoil(mask);
        var y = SolverTestData.SingleCoilKSpace(SolverTestData.Other, n, mask);
        foreach (var solve in new Func<Tensor, Tensor>[]
                 {
                     v => TotalVariation.Reconstruct(a, v, iterations: 50),
                     v => WaveletL1.Reconstruct(a, v, iterations: 30),
                 })
        {
            var x1 = solve(y);
            var x2 = solve(y * 1000f);
            double rel = Tensors.Norm(x2 / 1000f - x1) / Tensors.Norm(x1);
            Assert.True(rel < 1e-4, $"not scale-equivariant: {rel:E2}");
        }
    }

    [Fact]
    public void PowerIteration_FindsNormalNorm()
    {
        using var scope = NewDisposeScope();
        var mask = SolverTestData.Mask(MaskKind.Random, 32, 4, 0.1, seed: 1);
        using var a = SenseOperator.SingleCoil(mask);
        Assert.Equal(1.0, PowerIteration.NormalNorm(a), 3);
        Assert.Equal(9.0, PowerIteration.NormalNorm(3.0 * a), 2);
        var diag = new MatrixOperator(torch.diag(torch.tensor(new[] { 1f, 2f, 5f, 0.5f })));
        Assert.Equal(25.0, PowerIteration.NormalNorm(diag, iterations: 60, complexInput: false), 3);
        Assert.Equal(PowerIteration.NormalNorm(diag, 5, false, seed: 4), PowerIteration.NormalNorm(diag, 5, false, seed: 4));
    }

    [Fact]
    public void Solvers_RejectBadMeasurements()
    {
        using var scope = NewDisposeScope();
        var mask = SolverTestData.Mask(MaskKind.Random, 32, 4, 0.1, seed: 1);
        using var a = SenseOperator.SingleCoil(mask);
        var wrong = torch.zeros(new long[] { 1, 32, 30 }, ScalarType.ComplexFloat32);
        var bad = torch.zeros(new long[] { 1, 32, 32 }, ScalarType.ComplexFloat32);
        bad[0, 3, 4] = torch.tensor(double.NaN).to(ScalarType.ComplexFloat32);
        var solvers = new Func<Tensor, Tensor>[]
        {
            y => ZeroFilled.Reconstruct(a, y),
            y => ConjugateGradient.Reconstruct(a, y),
            y => TotalVariation.Reconstruct(a, y),
            y => WaveletL1.Reconstruct(a, y),
        };
        foreach (var solve in solvers)
        {
            var e1 = Assert.Throws<ArgumentException>(() => solve(wrong));
            Assert.Contains("(1, 32, 30)", e1.Message);
            Assert.Contains("(1, 32, 32)", e1.Message);
            var e2 = Assert.Throws<ArgumentException>(() => solve(bad));
            Assert.Contains("measurements contain NaN/Inf", e2.Message);
        }
        Assert.Throws<ArgumentException>(() => ConjugateGradient.Reconstruct(a, bad.nan_to_num(), initial: torch.zeros(31, 32)));
    }

    [Fact]
    public void Solvers_ZeroMeasurements_GiveZeroImage()
    {
        using var scope = NewDisposeScope();
        var mask = SolverTestData.Mask(MaskKind.Random, 32, 4, 0.1, seed: 1);
        using var a = SenseOperator.SingleCoil(mask);
        var y = torch.zeros(new long[] { 1, 32, 32 }, ScalarType.ComplexFloat32);
        Assert.Equal(0.0, Tensors.Norm(ConjugateGradient.Reconstruct(a, y)));
        Assert.Equal(0.0, Tensors.Norm(TotalVariation.Reconstruct(a, y)));
        Assert.Equal(0.0, Tensors.Norm(WaveletL1.Reconstruct(a, y)));
    }
}
