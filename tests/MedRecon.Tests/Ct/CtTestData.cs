using MedRecon.Phantoms;
using TorchSharp;
using static TorchSharp.torch;

namespace MedRecon.Tests.Ct;

/// <summary>Test-side ground truth: ellipses rasterised with supersampling (pixel-area average), DESIGN.md convention.</summary>
static class CtTestData
{
    public static Tensor Rasterize(IEnumerable<Ellipse> ellipses, int n, int supersample = 4)
    {
        var list = ellipses.ToArray();
        var img = new float[n * n];
        for (int row = 0; row < n; row++)
        for (int col = 0; col < n; col++)
        {
            double acc = 0;
            for (int sy = 0; sy < supersample; sy++)
            for (int sx = 0; sx < supersample; sx++)
            {
                double x = (col + (sx + 0.5) / supersample - n / 2.0) / (n / 2.0);
                double y = -(row + (sy + 0.5) / supersample - n / 2.0) / (n / 2.0);
                foreach (var e in list)
                {
                    double phi = e.ThetaDegrees * Math.PI / 180, c = Math.Cos(phi), s = Math.Sin(phi);
                    double dx = x - e.X0, dy = y - e.Y0;
                    double u = dx * c + dy * s, v = -dx * s + dy * c;
                    if (u * u / (e.A * e.A) + v * v / (e.B * e.B) <= 1) acc += e.Intensity;
                }
            }
            img[row * n + col] = (float)(acc / (supersample * supersample));
        }
        return torch.tensor(img, new long[] { n, n });
    }

    public static double RelativeError(Tensor reference, Tensor test)
    {
        using var scope = NewDisposeScope();
        var r = reference.to(ScalarType.Float64);
        var t = test.to(ScalarType.Float64);
        return (t - r).norm().item<double>() / r.norm().item<double>();
    }

    /// <summary>PSNR with data range max(ref) − min(ref): the one definition in <see cref="MedRecon.Core.Metrics"/>.</summary>
    public static double Psnr(Tensor reference, Tensor test) => MedRecon.Core.Metrics.Psnr(reference, test);
}
