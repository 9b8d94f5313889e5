using System.Text.Json;
using MedRecon.Cli.Pipelines;
using MedRecon.Core.IO;
using TorchSharp;
using static TorchSharp.torch;

namespace MedRecon.Cli.Validation;

/// <summary>
/// BART <c>pics</c> on the same k-space and maps (written as .cfl; axis mapping as in <see cref="Bart"/>), with
/// <c>-S</c> so the output is in the data's units. λ is tuned on the tuning images, never on a test image. Seconds
/// are BART's wall time including process start and file I/O; memory is the BART process's peak RSS.
/// </summary>
public sealed class BartPicsMethod(string id, string label, string regularizer, int iterations, string extra, double defaultLambda,
    IReadOnlyList<double> grid) : IValidationMethod
{
    public string Id => id;
    public string Label => label;
    public Modality Modality => Modality.Mri;
    public string Kind => "peer";
    public bool Quick => true;
    public IReadOnlyList<double>? LambdaGrid => grid;

    public string? Unavailable(ValidationContext context) => Bart.IsAvailable ? null : "not installed (apt-get install bart)";

    public MethodOutput Run(ValidationCase c, double? lambda, ValidationContext context)
    {
        var m = c.Mri!;
        double l = lambda ?? defaultLambda;
        int it = context.Quick ? Math.Min(iterations, 60) : iterations;
        string dir = Path.Combine(context.WorkDirectory, "bart-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        try
        {
            long coils = m.KSpace.shape[0], ny = m.KSpace.shape[1], nx = m.KSpace.shape[2];
            var maps = m.Maps ?? ones(new long[] { 1, ny, nx }, ScalarType.ComplexFloat32);
            Cfl.Write(Path.Combine(dir, "ksp"), m.KSpace.reshape(coils, 1, ny, nx));
            Cfl.Write(Path.Combine(dir, "sens"), maps.reshape(coils, 1, ny, nx));
            var args = new List<string> { "pics", "-S", "-i", it.ToString(), "-R", FormattableString.Invariant($"{regularizer}:3:0:{l}") };
            args.AddRange(extra.Split(' ', StringSplitOptions.RemoveEmptyEntries));
            args.AddRange(new[] { "ksp", "sens", "out" });
            // The same thread count as MedRecon's torch (OpenMP threads spinning on a loaded VM cost BART up to 50x).
            var r = PeakMemory.RunProcess(Bart.Executable!, args, dir, new Dictionary<string, string> { ["OMP_NUM_THREADS"] = TorchSharp.torch.get_num_threads().ToString() });
            if (r.Code != 0) throw new InvalidOperationException($"bart {string.Join(' ', args)} failed ({r.Code}): {r.StdErr.Trim()}");
            var img = Cfl.Read(Path.Combine(dir, "out")).reshape(ny, nx);
            return new MethodOutput(img, 0, it, r.Seconds, r.PeakMiB > 0 ? r.PeakMiB : null,
                $"bart pics -S -i {it} -R {regularizer}:3:0:{Inv.S(l)} {extra}".Trim());
        }
        finally
        {
            try { Directory.Delete(dir, true); } catch (IOException) { }
        }
    }

    public static IEnumerable<IValidationMethod> All() => new IValidationMethod[]
    {
        // Grids about 1.5-2x apart with the session-15 three points kept: the optima of several tasks sat at an end
        // of those (Poisson, noisy), so a peer's best could lie outside what was tried.
        new BartPicsMethod("bart-tv", "BART pics TV", "T", 300, "-u 0.05", 0.01, new[] { 0.001, 0.002, 0.003, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1 }),
        new BartPicsMethod("bart-wavelet", "BART pics wavelet", "W", 100, "", 0.003, new[] { 0.0002, 0.0005, 0.001, 0.002, 0.003, 0.005, 0.01, 0.02 }),
    };
}

/// <summary>
/// ASTRA Toolbox (CPU) FBP, SIRT and CGLS on the same sinogram, with the 'linear' (Joseph) projector on ASTRA's
/// 'parallel' geometry, which is MedRecon's convention (docs/ct.md). One Python process per case runs the three
/// algorithms; each algorithm's seconds (algorithm only, not the interpreter start) and memory (its peak RSS rise,
/// VmHWM after clear_refs, as for MedRecon's rows) are measured inside that process.
/// </summary>
public sealed class AstraMethod(string id, string label, string algorithm, int iterations) : IValidationMethod
{
    /// <summary>Debian's interpreter (the python3 on PATH may be another build without Debian's modules);
    /// $MEDRECON_PYTHON overrides it.</summary>
    public static string Python => Environment.GetEnvironmentVariable("MEDRECON_PYTHON") is { Length: > 0 } p ? p : "/usr/bin/python3";
    public string Id => id;
    public string Label => label;
    public Modality Modality => Modality.Ct;
    public string Kind => "peer";
    public bool Quick => true;
    public IReadOnlyList<double>? LambdaGrid => null;

    static bool? available;
    public string? Unavailable(ValidationContext context)
    {
        if (available is null)
        {
            try { available = File.Exists(Python) && PeakMemory.RunProcess(Python, new[] { "-c", "import astra, numpy" }, context.WorkDirectory, timeoutMs: 60_000).Code == 0; }
            catch (Exception e) when (e is IOException or InvalidOperationException or TimeoutException or System.ComponentModel.Win32Exception) { available = false; }
        }
        return available == true ? null : "not installed (python3-astra-toolbox, Debian contrib, for /usr/bin/python3)";
    }

    static readonly (string Id, string Algorithm, int Iterations)[] Algorithms = { ("astra-fbp", "FBP", 0), ("astra-sirt", "SIRT", 200), ("astra-cgls", "CGLS", 30) };

    public MethodOutput Run(ValidationCase c, double? lambda, ValidationContext context)
    {
        string key = $"astra:{c.Task.Id}:{c.Image.Label}:{c.Tuning}";
        if (!context.Cache.TryGetValue(key, out var cached))
        {
            cached = RunAll(c, context);
            context.Cache[key] = cached;
        }
        var all = (Dictionary<string, MethodOutput>)cached;
        var o = all[id];
        if (id == Algorithms[^1].Id) context.Cache.Remove(key); // the last of the three: free the cache
        return o;
    }

    Dictionary<string, MethodOutput> RunAll(ValidationCase c, ValidationContext context)
    {
        var m = c.Ct!;
        string dir = Path.Combine(context.WorkDirectory, "astra-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        try
        {
            Npy.Write(Path.Combine(dir, "sino.npy"), m.Sinogram);
            Npy.Write(Path.Combine(dir, "angles.npy"), torch.tensor(m.Angles, ScalarType.Float64));
            File.WriteAllText(Path.Combine(dir, "astra_validate.py"), Script);
            var jobs = Algorithms.Select(a => $"{a.Algorithm}:{(context.Quick ? Math.Min(a.Iterations, 60) : a.Iterations)}");
            var args = new List<string> { Path.Combine(dir, "astra_validate.py"), dir, m.Geometry.ImageSize.ToString(),
                FormattableString.Invariant($"{m.Geometry.DetectorSpacing}") };
            args.AddRange(jobs);
            var r = PeakMemory.RunProcess(Python, args, dir, new Dictionary<string, string> { ["OMP_NUM_THREADS"] = TorchSharp.torch.get_num_threads().ToString() });
            if (r.Code != 0) throw new InvalidOperationException($"ASTRA script failed ({r.Code}): {r.StdErr.Trim()}");
            var result = new Dictionary<string, MethodOutput>();
            using var doc = JsonDocument.Parse(r.StdOut.Trim().Split('\n')[^1]);
            foreach (var (aid, alg, _) in Algorithms)
            {
                var e = doc.RootElement.GetProperty(alg);
                int it = e.GetProperty("iterations").GetInt32();
                // cached across the three methods' dispose scopes
                var img = Npy.Read(Path.Combine(dir, alg + ".npy")).to(ScalarType.Float32).DetachFromDisposeScope();
                result[aid] = new MethodOutput(img, 0, it, e.GetProperty("seconds").GetDouble(), e.GetProperty("peak_mib").GetDouble(),
                    alg == "FBP" ? "astra FBP (Ram-Lak), 'linear' projector, CPU" : $"astra {alg}, {it} iterations, 'linear' projector, CPU");
            }
            return result;
        }
        finally
        {
            try { Directory.Delete(dir, true); } catch (IOException) { }
        }
    }

    public static IEnumerable<IValidationMethod> All() => Algorithms.Select(a =>
        (IValidationMethod)new AstraMethod(a.Id, $"ASTRA {a.Algorithm}", a.Algorithm, a.Iterations));

    /// <summary>Runs ASTRA algorithms on DIR/sino.npy and DIR/angles.npy; writes DIR/ALG.npy, prints one JSON line.</summary>
    const string Script = """
import json, sys, time
import numpy as np
import astra

def vmhwm():
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmHWM:'):
                return int(line.split()[1]) / 1024.0
    return -1.0

def vmrss():
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) / 1024.0
    return -1.0

d, n, spacing = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
sino = np.load(d + '/sino.npy').astype(np.float32)
angles = np.load(d + '/angles.npy')
out = {}
for job in sys.argv[4:]:
    alg, iters = job.split(':')
    iters = int(iters)
    before = vmrss()
    try:
        open('/proc/self/clear_refs', 'w').write('5')
    except OSError:
        pass
    t0 = time.perf_counter()
    vg = astra.create_vol_geom(n, n)
    pg = astra.create_proj_geom('parallel', spacing, sino.shape[1], angles)
    pid = astra.create_projector('linear', pg, vg)
    sid = astra.data2d.create('-sino', pg, sino)
    rid = astra.data2d.create('-vol', vg, 0)
    cfg = astra.astra_dict(alg)
    cfg['ProjectorId'], cfg['ProjectionDataId'], cfg['ReconstructionDataId'] = pid, sid, rid
    if alg == 'FBP':
        cfg['FilterType'] = 'Ram-Lak'
    aid = astra.algorithm.create(cfg)
    astra.algorithm.run(aid, max(iters, 1))
    rec = astra.data2d.get(rid)
    seconds = time.perf_counter() - t0
    astra.algorithm.delete(aid)
    astra.data2d.delete([sid, rid])
    astra.projector.delete(pid)
    np.save(d + '/' + alg + '.npy', rec.astype(np.float32))
    out[alg] = {'seconds': seconds, 'iterations': iters, 'peak_mib': max(0.0, vmhwm() - before)}
print(json.dumps(out))
""";
}
