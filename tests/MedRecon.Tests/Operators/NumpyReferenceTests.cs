using System.Text.Json;
using MedRecon.Core;
using MedRecon.Core.IO;
using MedRecon.Operators.Mri;
using MedRecon.Tests.Infrastructure;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace MedRecon.Tests.Operators;

/// <summary>Checks against numpy (Debian's /usr/bin/python3): the FFT convention and the fastMRI mask formulas.</summary>
public class NumpyReferenceTests
{
    readonly ITestOutputHelper output;
    public NumpyReferenceTests(ITestOutputHelper output) => this.output = output;

    [SkippableFact]
    public void CenteredFftMatchesNumpyForOddAndEvenSizes()
    {
        ExternalTools.RequirePython("numpy");
        using var dir = new TempDir();
        using var scope = NewDisposeScope();
        var shapes = new[] { new long[] { 16, 20 }, new long[] { 15, 17 }, new long[] { 16, 17 }, new long[] { 3, 9, 8 }, new long[] { 2, 33, 31 } };
        var gen = new torch.Generator(2024);
        for (int i = 0; i < shapes.Length; i++)
        {
            var x = torch.complex(torch.randn(shapes[i], generator: gen), torch.randn(shapes[i], generator: gen));
            Npy.Write(dir[$"x{i}.npy"], x);
        }
        ExternalTools.RunPython($$"""
            import numpy as np
            for i in range({{shapes.Length}}):
                x = np.load('{{dir.Path}}/x%d.npy' % i).astype(np.complex128)
                k = np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(x, axes=(-2, -1)), norm='ortho'), axes=(-2, -1))
                np.save('{{dir.Path}}/k%d.npy' % i, np.ascontiguousarray(k.astype(np.complex64)))
            """);
        for (int i = 0; i < shapes.Length; i++)
        {
            var x = Npy.Read(dir[$"x{i}.npy"]);
            var expected = Npy.Read(dir[$"k{i}.npy"]);
            var k = Fft.Centered2D(x);
            double rel = Tensors.Norm(k - expected) / Tensors.Norm(expected);
            double relInv = Tensors.Norm(Fft.InverseCentered2D(expected) - x) / Tensors.Norm(x);
            output.WriteLine($"{Tensors.ShapeString(shapes[i])}: forward rel. error {rel:E2}, inverse rel. error {relInv:E2}");
            Assert.True(rel < 1e-5, $"{Tensors.ShapeString(shapes[i])}: forward differs from numpy by {rel:E3}");
            Assert.True(relInv < 1e-5, $"{Tensors.ShapeString(shapes[i])}: inverse differs from numpy by {relInv:E3}");
        }
    }

    sealed record MaskFile(string File, string Kind, int Ny, int Nx, double Accel, double Cf, int Seed);

    [SkippableFact]
    public void MasksMatchFastMriFormulasInNumpy()
    {
        ExternalTools.RequirePython("numpy");
        using var dir = new TempDir();
        var files = new List<MaskFile>();
        void Add(MaskKind kind, int ny, int nx, double accel, double cf, int seed, string tag = "")
        {
            var m = SamplingMasks.Create(kind, ny, nx, accel, cf, seed);
            string name = $"{kind}_{ny}x{nx}_R{accel}_cf{cf}_s{seed}{tag}.npy";
            Npy.Write(dir[name], m.Mask);
            files.Add(new MaskFile(name, kind.ToString(), ny, nx, accel, cf, seed));
        }
        foreach (var kind in new[] { MaskKind.Random, MaskKind.Equispaced })
            foreach (var (nx, accel, cf) in new[] { (320, 4.0, 0.08), (368, 8.0, 0.04), (97, 4.0, 0.08), (128, 6.0, 0.1), (256, 3.0, 0.0) })
                for (int seed = 0; seed < 3; seed++) Add(kind, 24, nx, accel, cf, seed);
        foreach (var kind in new[] { MaskKind.Poisson, MaskKind.Radial })
            foreach (var (ny, nx, accel, cf) in new[] { (128, 128, 4.0, 0.08), (96, 128, 8.0, 0.06), (127, 101, 5.0, 0.1), (160, 160, 12.0, 0.04) })
                for (int seed = 0; seed < 2; seed++) Add(kind, ny, nx, accel, cf, seed);
        // Reproducibility: the same parameters and seed again, under another name.
        Add(MaskKind.Random, 24, 320, 4, 0.08, 0, "_again");
        Add(MaskKind.Equispaced, 24, 320, 4, 0.08, 0, "_again");
        Add(MaskKind.Poisson, 128, 128, 4, 0.08, 0, "_again");
        Add(MaskKind.Radial, 128, 128, 4, 0.08, 0, "_again");
        File.WriteAllText(dir["manifest.json"], JsonSerializer.Serialize(files));

        string report = ExternalTools.RunPython(MaskCheckScript.Replace("@DIR@", dir.Path), timeoutMs: 300_000);
        output.WriteLine(report);
        Assert.Contains("ALL OK", report);
    }

    /// <summary>
    /// A small numpy re-implementation of the fastMRI formulas (RandomMaskFunc, EquispacedMaskFractionFunc) and of
    /// the properties the 2-D masks promise. Prints one line per mask and "ALL OK" at the end; raises on the first
    /// violated property (the message names the file and the property).
    /// </summary>
    const string MaskCheckScript = """
        import json, math
        import numpy as np
        d = '@DIR@'
        files = json.load(open(d + '/manifest.json'))
        masks = {}
        def centre(n, cf):
            low = int(round(n * cf))          # Python's round, as fastMRI
            return (n - low + 1) // 2, low
        def fail(f, what):
            raise AssertionError('%s: %s' % (f['File'], what))
        for f in files:
            m = np.load(d + '/' + f['File'])
            ny, nx, R, cf = f['Ny'], f['Nx'], f['Accel'], f['Cf']
            masks[f['File']] = m
            if m.dtype != np.float32: fail(f, 'dtype %s' % m.dtype)
            if m.shape != (ny, nx): fail(f, 'shape %s' % (m.shape,))
            if not np.all((m == 0) | (m == 1)): fail(f, 'values other than 0/1')
            acc = m.size / m.sum()
            kind = f['Kind']
            if kind in ('Random', 'Equispaced'):
                if not np.all(m == m[:1]): fail(f, '1-D mask is not constant along ky')
                cols = m[0] > 0
                pad, low = centre(nx, cf)
                if not cols[pad:pad + low].all(): fail(f, 'centre of %d columns at %d not fully sampled' % (low, pad))
                if kind == 'Random':
                    prob = (nx / R - low) / (nx - low)
                    expected = low + prob * (nx - low)
                    std = math.sqrt((nx - low) * prob * (1 - prob))
                    if abs(cols.sum() - expected) > 4 * std + 1:
                        fail(f, '%d columns, expected %.1f +- %.1f' % (cols.sum(), expected, std))
                    extra = 'prob %.4f, columns %d (expected %.1f +- %.1f)' % (prob, cols.sum(), expected, std)
                else:
                    adj = R if low == 0 else R * (low - nx) / (low * R - nx)
                    found = None
                    for offset in range(max(1, int(round(adj)))):
                        ref = np.zeros(nx, bool)
                        ref[pad:pad + low] = True
                        ref[np.around(np.arange(offset, nx - 1, adj)).astype(np.int64)] = True
                        if np.array_equal(ref, cols): found = offset
                    if found is None: fail(f, 'columns are not centre + round(offset + k * %.4f) for any offset' % adj)
                    if abs(cols.sum() - nx / R) > 2: fail(f, '%d columns, expected %.1f' % (cols.sum(), nx / R))
                    extra = 'spacing %.4f, offset %d, columns %d (nx/R = %.1f)' % (adj, found, cols.sum(), nx / R)
            else:
                py, ly = centre(ny, cf)
                px, lx = centre(nx, cf)
                if not m[py:py + ly, px:px + lx].all(): fail(f, 'calibration block %dx%d not fully sampled' % (ly, lx))
                if abs(acc - R) / R > 0.05: fail(f, 'acceleration %.3f not within 5%% of %.3f' % (acc, R))
                yy, xx = np.meshgrid((np.arange(ny) - ny // 2) / (ny / 2), (np.arange(nx) - nx // 2) / (nx / 2), indexing='ij')
                r = np.sqrt(yy ** 2 + xx ** 2)
                outside = np.ones_like(m, bool)
                outside[py:py + ly, px:px + lx] = False
                edges = [max(0.2, 2 * cf), 0.4, 0.6, 0.8, 1.0]
                dens = [m[outside & (r >= a) & (r < b)].mean() for a, b in zip(edges[:-1], edges[1:])]
                if not all(a > b for a, b in zip(dens[:-1], dens[1:])):
                    fail(f, 'density does not decrease with radius: %s' % np.round(dens, 4))
                extra = 'density by radius ' + ' '.join('%.3f' % v for v in dens)
                if kind == 'Radial':
                    if m[ny // 2, nx // 2] != 1: fail(f, 'k-space centre not sampled')
                    # Lines through the centre: the mask is nearly point-symmetric about (ny/2, nx/2).
                    ys, xs = np.nonzero(m)
                    my, mx = 2 * (ny // 2) - ys, 2 * (nx // 2) - xs
                    ok = (my >= 0) & (my < ny) & (mx >= 0) & (mx < nx)
                    sym = m[my[ok], mx[ok]].mean()
                    if sym < 0.9: fail(f, 'only %.2f of the points have their mirror sampled' % sym)
                    extra += ', point symmetry %.3f' % sym
            print('%-40s acceleration %.3f (requested %g); %s' % (f['File'], acc, R, extra))
        # Reproducibility and seed dependence.
        for f in files:
            if '_again' in f['File']:
                if not np.array_equal(masks[f['File']], masks[f['File'].replace('_again', '')]): fail(f, 'same seed, different mask')
        seen = {}
        for f in files:
            # Equispaced masks have only round(spacing) possible offsets, so two seeds may legitimately agree.
            if '_again' in f['File'] or f['Kind'] == 'Equispaced': continue
            key = (f['Kind'], f['Ny'], f['Nx'], f['Accel'], f['Cf'])
            for other in seen.get(key, []):
                if np.array_equal(masks[other], masks[f['File']]): fail(f, 'same mask as %s with another seed' % other)
            seen.setdefault(key, []).append(f['File'])
        print('ALL OK')
        """;
}
