using System.Diagnostics;
using MedRecon.Operators.Ct;
using TorchSharp;
using static TorchSharp.torch;

namespace MedRecon.Solvers.Ct;

/// <summary>One timed case of <see cref="CtBenchmarks.Run"/> (seconds, best of the repeats).</summary>
public sealed record CtBenchmarkResult(int Size, int Views, int Detectors, double ForwardSeconds, double AdjointSeconds,
    double FbpSeconds, double SirtIterationSeconds, int Threads);

/// <summary>
/// CT timings for <c>medrecon bench</c>: Joseph forward and back-projection, FBP (ramp), and one SIRT iteration at
/// 256² and 512² with 60 and 180 parallel-beam views (detectors ⌈N√2⌉+1). benchmarks/ct_peers.py times scikit-image
/// and ASTRA on the same sizes.
/// </summary>
public static class CtBenchmarks
{
    public static IReadOnlyList<CtBenchmarkResult> Run(TextWriter output, int[]? sizes = null, int[]? views = null, int repeats = 3)
    {
        sizes ??= new[] { 256, 512 };
        views ??= new[] { 60, 180 };
        var results = new List<CtBenchmarkResult>();
        output.WriteLine($"CT benchmark (threads: {torch.get_num_threads()}; best of {repeats}; seconds)");
        output.WriteLine("size  views  detectors  forward  adjoint   fbp    sirt/iter");
        foreach (int n in sizes)
        foreach (int v in views)
        {
            using var scope = NewDisposeScope();
            var img = TestImage(n);
            var angles = CtAngles.Uniform(v);
            var op = new ParallelBeamProjector(n, angles);
            Tensor sino = op.Forward(img);
            double fwd = Best(repeats, () => op.Forward(img).Dispose());
            double adj = Best(repeats, () => op.Adjoint(sino).Dispose());
            double fbp = Best(repeats, () => FilteredBackProjection.Reconstruct(sino, op.Geometry, angles).Dispose());
            double sirt = Best(1, () => Sirt.Reconstruct(op, sino, 5).Dispose()) / 5;
            var r = new CtBenchmarkResult(n, v, op.Detectors, fwd, adj, fbp, sirt, torch.get_num_threads());
            results.Add(r);
            output.WriteLine($"{n,4}  {v,5}  {op.Detectors,9}  {fwd,7:F3}  {adj,7:F3}  {fbp,6:F3}  {sirt,8:F3}");
        }
        return results;
    }

    static double Best(int repeats, Action a)
    {
        a(); // warm-up (JIT, allocator)
        double best = double.MaxValue;
        for (int i = 0; i < repeats; i++)
        {
            var sw = Stopwatch.StartNew();
            a();
            best = Math.Min(best, sw.Elapsed.TotalSeconds);
        }
        return best;
    }

    /// <summary>A disc with a few inserts (float32, values 0–1).</summary>
    static Tensor TestImage(int n)
    {
        using var scope = NewDisposeScope();
        var c = torch.arange(n, ScalarType.Float32).sub((n - 1) / 2.0).div(n / 2.0);
        var x = c.unsqueeze(0);
        var y = c.unsqueeze(1).neg();
        var img = ((x.square() + y.square()) < 0.8).to(ScalarType.Float32) * 0.5f;
        img += (((x - 0.3).square() + (y - 0.2).square()) < 0.02).to(ScalarType.Float32) * 0.5f;
        img += (((x + 0.3).square() / 0.04 + (y + 0.1).square() / 0.01) < 1).to(ScalarType.Float32) * 0.3f;
        return img.MoveToOuterDisposeScope();
    }
}
