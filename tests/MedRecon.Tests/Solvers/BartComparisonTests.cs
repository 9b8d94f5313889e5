using System.Diagnostics;
using System.Globalization;
using MedRecon.Core;
using MedRecon.Core.IO;
using MedRecon.Operators.Mri;
using MedRecon.Phantoms;
using MedRecon.Solvers;
using MedRecon.Tests.Infrastructure;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace MedRecon.Tests.Solvers;

/// <summary>
/// Our TV and wavelet-ℓ1 against BART <c>pics</c> on the same k-space files. k-space comes from the analytic phantom
/// transform (no inverse crime), undersampled 4x with a 1-D random mask. λ (and BART's ADMM ρ) are chosen for each
/// method by a small sweep on a tuning phantom (random ellipses), then both are compared on a different test image
/// (Shepp–Logan). Both run single-threaded (torch threads = 1, OMP_NUM_THREADS = 1); BART's seconds include process
/// start and file I/O.
/// </summary>
public sealed class BartComparisonTests
{
    const int N = 128;
    const int TvIterations = 300, WaveletIterations = 100, BartTvIterations = 300, BartWaveletIterations = 100;
    readonly ITestOutputHelper output;
    public BartComparisonTests(ITestOutputHelper output) => this.output = output;

    sealed record Case(string Name, Tensor Truth, Tensor KSpace, SenseOperator Op, string Dir);

    Case MakeCase(string name, EllipsePhantom phantom, Tensor mask, TempDir tmp)
    {
        var truth = phantom.Rasterize(N);
        var y = SolverTestData.SingleCoilKSpace(phantom, N, mask);
        var dir = Directory.CreateDirectory(tmp[name]).FullName;
        // (coils, 1, ky, kx) C order = BART dims [kx, ky, 1, coils] = (X, Y, Z, COIL) as pics expects.
        Cfl.Write(Path.Combine(dir, "k"), y.reshape(1, 1, N, N));
        Cfl.Write(Path.Combine(dir, "s"), torch.ones(1, 1, N, N, ScalarType.ComplexFloat32));
        return new Case(name, truth, y, SenseOperator.SingleCoil(mask), dir);
    }

    /// <summary>Runs <c>bart pics</c> (output rescaled to the data's units with -S); returns the image (ky, kx) and seconds.</summary>
    static (Tensor Image, double Seconds) Pics(Case c, params string[] options)
    {
        var args = new List<string> { "OMP_NUM_THREADS=1", "bart", "pics", "-S" };
        args.AddRange(options);
        args.AddRange(new[] { Path.Combine(c.Dir, "k"), Path.Combine(c.Dir, "s"), Path.Combine(c.Dir, "out") });
        var sw = Stopwatch.StartNew();
        var (code, _, err) = ExternalTools.Run("/usr/bin/env", args, timeoutMs: 300_000);
        sw.Stop();
        Assert.True(code == 0, $"bart pics {string.Join(' ', options)} failed ({code}): {err}");
        var img = Cfl.Read(Path.Combine(c.Dir, "out"));
        return (img.reshape(N, N), sw.Elapsed.TotalSeconds);
    }

    static (Tensor Image, double Seconds) Ours(Func<Tensor> solve)
    {
        var sw = Stopwatch.StartNew();
        var x = solve();
        return (x, sw.Elapsed.TotalSeconds);
    }

    static string F(double v) => v.ToString("0.####", CultureInfo.InvariantCulture);

    [SkippableFact]
    public void TvAndWavelet_MatchBartPics_OnSameKSpace()
    {
        ExternalTools.RequireTool("bart", "bart");
        using var scope = NewDisposeScope();
        using var tmp = new TempDir();
        var mask = SolverTestData.Mask(MaskKind.Random, N, 4, 0.08, seed: 4); // a draw with acceleration exactly 4
        double acceleration = N * N / mask.sum().item<float>();
        Assert.InRange(acceleration, 3.9, 4.1);
        var tune = MakeCase("tune", EllipsePhantom.Random(seed: 7), mask, tmp);
        var test = MakeCase("test", EllipsePhantom.SheppLogan(), mask, tmp);
        output.WriteLine($"{N}x{N}, 1-D random mask, acceleration {acceleration:F2}, analytic k-space");

        // Same FFT convention and scale: BART's l2 solution (tiny Tikhonov) equals our CG with the same λ.
        var (bartL2, _) = Pics(test, "-l2", "-r", "0.001", "-i", "50");
        var oursL2 = ConjugateGradient.Reconstruct(test.Op, test.KSpace, iterations: 50, lambda: 0.001);
        double alignment = Tensors.Norm(bartL2 - oursL2) / Tensors.Norm(oursL2);
        output.WriteLine($"alignment: ‖BART l2 − our CG‖/‖our CG‖ = {alignment:E2}");
        Assert.True(alignment < 1e-2, $"BART and our CG disagree ({alignment:E2}): axis order or FFT scaling differs");

        double zfTest = Metrics.Psnr(test.Truth, ZeroFilled.Reconstruct(test.Op, test.KSpace));
        output.WriteLine($"zero-filled: test PSNR {zfTest:F2} dB");

        // --- TV: sweep on the tuning image, compare on the test image.
        double ourTvLambda = Best("ours TV", new[] { 0.002, 0.004, 0.008, 0.016 },
            l => Ours(() => TotalVariation.Reconstruct(tune.Op, tune.KSpace, l, TvIterations)), tune);
        var bartTvGrid = new[] { "0.003:0.05", "0.01:0.05", "0.03:0.05", "0.01:0.02", "0.01:0.5" };
        string bartTv = BestBart("BART TV λ:ρ", bartTvGrid, g =>
        {
            var p = g.Split(':');
            return Pics(tune, "-i", BartTvIterations.ToString(), "-u", p[1], "-R", $"T:3:0:{p[0]}");
        }, tune);
        var ourTv = Ours(() => TotalVariation.Reconstruct(test.Op, test.KSpace, ourTvLambda, TvIterations));
        var bp = bartTv.Split(':');
        var bartTvTest = Pics(test, "-i", BartTvIterations.ToString(), "-u", bp[1], "-R", $"T:3:0:{bp[0]}");
        double ourTvPsnr = Metrics.Psnr(test.Truth, ourTv.Image), bartTvPsnr = Metrics.Psnr(test.Truth, bartTvTest.Image);
        output.WriteLine($"TEST TV: ours λ={F(ourTvLambda)} (relative, {TvIterations} it) {ourTvPsnr:F2} dB SSIM {Metrics.Ssim(test.Truth, ourTv.Image):F4} {ourTv.Seconds:F2} s | " +
                         $"BART -R T:3:0:{bp[0]} -u {bp[1]} -i {BartTvIterations} {bartTvPsnr:F2} dB SSIM {Metrics.Ssim(test.Truth, bartTvTest.Image):F4} {bartTvTest.Seconds:F2} s");

        // --- Wavelet-ℓ1.
        double ourWlLambda = Best("ours wavelet", new[] { 0.001, 0.002, 0.004, 0.008 },
            l => Ours(() => WaveletL1.Reconstruct(tune.Op, tune.KSpace, l, WaveletIterations)), tune);
        string bartWl = BestBart("BART wavelet λ", new[] { "0.001", "0.003", "0.01" },
            g => Pics(tune, "-i", BartWaveletIterations.ToString(), "-R", $"W:3:0:{g}"), tune);
        var ourWl = Ours(() => WaveletL1.Reconstruct(test.Op, test.KSpace, ourWlLambda, WaveletIterations));
        var bartWlTest = Pics(test, "-i", BartWaveletIterations.ToString(), "-R", $"W:3:0:{bartWl}");
        double ourWlPsnr = Metrics.Psnr(test.Truth, ourWl.Image), bartWlPsnr = Metrics.Psnr(test.Truth, bartWlTest.Image);
        output.WriteLine($"TEST wavelet: ours λ={F(ourWlLambda)} (relative, {WaveletIterations} it) {ourWlPsnr:F2} dB SSIM {Metrics.Ssim(test.Truth, ourWl.Image):F4} {ourWl.Seconds:F2} s | " +
                         $"BART -R W:3:0:{bartWl} -i {BartWaveletIterations} {bartWlPsnr:F2} dB SSIM {Metrics.Ssim(test.Truth, bartWlTest.Image):F4} {bartWlTest.Seconds:F2} s");

        Assert.True(ourTvPsnr >= bartTvPsnr - 0.5, $"our TV {ourTvPsnr:F2} dB is more than 0.5 dB below BART's {bartTvPsnr:F2} dB");
        Assert.True(ourTvPsnr > zfTest + 3, $"our TV {ourTvPsnr:F2} dB does not beat zero-filled {zfTest:F2} dB by 3 dB");
        Assert.True(ourWlPsnr > zfTest + 1, $"our wavelet {ourWlPsnr:F2} dB does not beat zero-filled {zfTest:F2} dB by 1 dB");
    }

    double Best(string what, double[] grid, Func<double, (Tensor Image, double Seconds)> run, Case c)
    {
        double best = double.NegativeInfinity, bestLambda = grid[0];
        foreach (var l in grid)
        {
            using var s = NewDisposeScope();
            var (img, sec) = run(l);
            double p = Metrics.Psnr(c.Truth, img);
            output.WriteLine($"  tune {what} λ={F(l)}: {p:F2} dB, {sec:F2} s");
            if (p > best) (best, bestLambda) = (p, l);
        }
        return bestLambda;
    }

    string BestBart(string what, string[] grid, Func<string, (Tensor Image, double Seconds)> run, Case c)
    {
        double best = double.NegativeInfinity;
        string bestSetting = grid[0];
        foreach (var g in grid)
        {
            using var s = NewDisposeScope();
            var (img, sec) = run(g);
            double p = Metrics.Psnr(c.Truth, img);
            output.WriteLine($"  tune {what} {g}: {p:F2} dB, {sec:F2} s");
            if (p > best) (best, bestSetting) = (p, g);
        }
        return bestSetting;
    }
}
