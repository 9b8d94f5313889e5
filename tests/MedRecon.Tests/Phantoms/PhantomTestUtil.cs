using TorchSharp;
using static TorchSharp.torch;

namespace MedRecon.Tests.Phantoms;

static class PhantomTestUtil
{
    /// <summary>‖a − b‖² / ‖a‖² in double precision (complex or real).</summary>
    public static double Nmse(Tensor reference, Tensor test)
    {
        using var scope = NewDisposeScope();
        var r = reference.is_complex() ? reference.to(ScalarType.ComplexFloat64) : reference.to(ScalarType.Float64);
        var t = test.is_complex() ? test.to(ScalarType.ComplexFloat64) : test.to(ScalarType.Float64);
        var d = (r - t).abs().square().sum().item<double>();
        return d / r.abs().square().sum().item<double>();
    }

    public static double RelErr(Tensor reference, Tensor test) => Math.Sqrt(Nmse(reference, test));

    /// <summary>Mask (ny, nx) of the centred frequencies with |q_x| ≤ fraction·nx/2 and |q_y| ≤ fraction·ny/2.</summary>
    public static Tensor CentralMask(long ny, long nx, double fraction)
    {
        var qx = (torch.arange(nx, ScalarType.Float64) - nx / 2).abs().view(1, -1);
        var qy = (torch.arange(ny, ScalarType.Float64) - ny / 2).abs().view(-1, 1);
        return (qx <= fraction * nx / 2.0).logical_and(qy <= fraction * ny / 2.0);
    }

    /// <summary>Per-axis pixel averaging filter of s evenly spread samples: sin(πq/n)/(s·sin(πq/(s n))).</summary>
    public static Tensor BoxFilter(long ny, long nx, int s)
    {
        Tensor Axis(long n)
        {
            var q = torch.arange(n, ScalarType.Float64) - n / 2;
            var a = q * (Math.PI / n);
            var den = (a / s).sin() * s;
            return torch.where(q == 0, torch.ones_like(q), a.sin() / torch.where(q == 0, torch.ones_like(q), den));
        }
        return Axis(ny).view(-1, 1) * Axis(nx).view(1, -1);
    }
}
