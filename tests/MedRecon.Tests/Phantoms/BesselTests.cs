using System.Globalization;
using MedRecon.Phantoms;
using MedRecon.Tests.Infrastructure;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace MedRecon.Tests.Phantoms;

public class BesselTests(ITestOutputHelper output)
{
    [Fact]
    public void KnownValuesAndLimits()
    {
        Assert.Equal(0.0, Bessel.J1(0.0));
        Assert.Equal(0.5, Bessel.J1OverX(0.0));
        Assert.Equal(0.44005058574493355, Bessel.J1(1.0), 14);          // A&S table 9.1
        Assert.Equal(-Bessel.J1(2.5), Bessel.J1(-2.5), 15);              // odd
        Assert.Equal(0.0, Bessel.J1(3.8317059702075123), 12);             // first zero j_{1,1}
        Assert.Equal(0.0, Bessel.J1(7.0155866698156187), 12);             // second zero
    }

    [SkippableFact]
    public void MatchesScipySpecialJ1()
    {
        ExternalTools.RequirePython("numpy", "scipy");
        var text = ExternalTools.RunPython(@"
import numpy as np
from scipy.special import j1
x = np.concatenate([np.linspace(-40, 40, 4001), np.linspace(11.5, 12.5, 101), np.linspace(40, 2000, 2000)])
for v in x: print(repr(float(v)), repr(float(j1(v))))
");
        var xs = new List<double>();
        var ys = new List<double>();
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var p = line.Split(' ');
            xs.Add(double.Parse(p[0], CultureInfo.InvariantCulture));
            ys.Add(double.Parse(p[1], CultureInfo.InvariantCulture));
        }
        double maxScalar = 0;
        for (int i = 0; i < xs.Count; i++) maxScalar = Math.Max(maxScalar, Math.Abs(Bessel.J1(xs[i]) - ys[i]));
        using var scope = NewDisposeScope();
        var t = Bessel.J1(torch.tensor(xs.ToArray(), ScalarType.Float64));
        double maxTensor = (t - torch.tensor(ys.ToArray(), ScalarType.Float64)).abs().max().item<double>();
        output.WriteLine($"J1 vs scipy.special.j1 on {xs.Count} points in [-40, 2000]: max |err| scalar {maxScalar:E2}, tensor {maxTensor:E2}");
        Assert.True(maxScalar < 1e-7, $"scalar J1 max error {maxScalar}");
        Assert.True(maxTensor < 1e-7, $"tensor J1 max error {maxTensor}");
    }
}
