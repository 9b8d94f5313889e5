using MedRecon.Core.IO;
using MedRecon.Operators.Ct;
using MedRecon.Phantoms;
using MedRecon.Solvers.Ct;
using MedRecon.Tests.Infrastructure;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace MedRecon.Tests.Ct;

/// <summary>
/// MedRecon's parallel projector and FBP against scikit-image (radon/iradon) and ASTRA (when python3-astra-toolbox is
/// installed) on the same arrays, through benchmarks/ct_peers.py. Odd N, so that scikit-image's rotation centre
/// (N//2) coincides with ours ((N−1)/2) — for even N it is half a pixel off.
/// </summary>
public class PeerComparisonTests(ITestOutputHelper output)
{
    const int N = 127;
    static string Script => Path.Combine(ExternalTools.RepositoryRoot, "benchmarks", "ct_peers.py");

    [SkippableFact]
    public void ParallelProjectorAgreesWithSkimageRadonAndAstra()
    {
        ExternalTools.RequirePython("numpy", "skimage");
        using var dir = new TempDir();
        var img = CtTestData.Rasterize(EllipseProjections.ModifiedSheppLogan, N);
        var angles = CtAngles.Uniform(90);
        Npy.Write(dir["img.npy"], img);
        Npy.Write(dir["angles.npy"], torch.tensor(angles, ScalarType.Float64));
        var (code, _, err) = ExternalTools.Run(ExternalTools.DebianPython, new[] { Script, "project", dir["img.npy"], dir["angles.npy"], N.ToString(), dir.Path });
        Assert.True(code == 0, err);
        var ours = new ParallelBeamProjector(N, angles, detectors: N).Forward(img);
        double eSk = CtTestData.RelativeError(Npy.Read(dir["sino_skimage.npy"]), ours);
        output.WriteLine($"relative L2 difference vs scikit-image radon: {eSk:E3}");
        Assert.True(eSk < 0.01, $"vs skimage {eSk}");
        if (File.Exists(dir["sino_astra.npy"]))
        {
            double eA = CtTestData.RelativeError(Npy.Read(dir["sino_astra.npy"]), ours);
            output.WriteLine($"relative L2 difference vs ASTRA 'linear' (Joseph): {eA:E3}");
            Assert.True(eA < 1e-4, $"vs ASTRA {eA}");
        }
        else output.WriteLine("ASTRA not installed (python3-astra-toolbox, Debian contrib): skipped that comparison");
    }

    [SkippableFact]
    public void FbpAtLeastAsAccurateAsSkimageIradon()
    {
        ExternalTools.RequirePython("numpy", "skimage");
        using var dir = new TempDir();
        var angles = CtAngles.Uniform(180);
        // Analytic line integrals (no inverse crime), the same sinogram for every method.
        var sino = torch.tensor(EllipseProjections.ModifiedSheppLogan.ParallelProjection(angles, N, 1.0, N), new long[] { 180, N });
        Npy.Write(dir["sino.npy"], sino);
        Npy.Write(dir["angles.npy"], torch.tensor(angles, ScalarType.Float64));
        var (code, _, err) = ExternalTools.Run(ExternalTools.DebianPython, new[] { Script, "fbp", dir["sino.npy"], dir["angles.npy"], N.ToString(), dir.Path });
        Assert.True(code == 0, err);
        var gt = CtTestData.Rasterize(EllipseProjections.ModifiedSheppLogan, N);
        var ours = FilteredBackProjection.Reconstruct(sino, CtGeometry.ParallelBeam(N, N), angles);
        // skimage's iradon zeroes everything outside the inscribed circle; compare inside it for all methods.
        var c = torch.arange(N, ScalarType.Float32).sub((N - 1) / 2.0);
        var inside = ((c.unsqueeze(0).square() + c.unsqueeze(1).square()) <= (N / 2.0 - 1) * (N / 2.0 - 1)).to(ScalarType.Float32);
        double pOurs = CtTestData.Psnr(gt * inside, ours * inside);
        double pSk = CtTestData.Psnr(gt * inside, Npy.Read(dir["fbp_skimage.npy"]) * inside);
        output.WriteLine($"FBP (ramp, 180 views, {N}²) PSNR: MedRecon {pOurs:F3} dB, scikit-image iradon {pSk:F3} dB");
        Assert.True(pOurs >= pSk - 0.05, $"ours {pOurs:F2} dB < skimage {pSk:F2} dB");
        if (File.Exists(dir["fbp_astra.npy"]))
        {
            double pA = CtTestData.Psnr(gt * inside, Npy.Read(dir["fbp_astra.npy"]) * inside);
            output.WriteLine($"ASTRA FBP (Ram-Lak, CPU) PSNR: {pA:F2} dB");
        }
    }
}
