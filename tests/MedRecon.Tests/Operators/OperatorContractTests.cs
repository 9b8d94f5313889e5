using System.Reflection;
using MedRecon.Operators;
using MedRecon.Operators.Mri;
using TorchSharp;
using static TorchSharp.torch;

namespace MedRecon.Tests.Operators;

/// <summary>One contract-test case: how to build an operator and which dtypes to feed it.</summary>
public sealed record ContractCase(string Name, Func<LinearOperator> Create, bool ComplexInput, bool ComplexOutput, double Tolerance = 1e-5);

/// <summary>
/// The registry of contract-test factories, one per concrete <see cref="LinearOperator"/> type in MedRecon.Operators.
/// A new operator must be registered here: <see cref="OperatorContractTests.EveryOperatorTypeHasAContractFactory"/>
/// fails otherwise.
/// </summary>
public static class OperatorContractRegistry
{
    static Tensor RandomMask(long ny, long nx, ulong seed, double keep = 0.4) =>
        (torch.rand(new[] { ny, nx }, generator: new torch.Generator(seed)) < keep).to(ScalarType.Float32);

    static Tensor RandomMaps(long coils, long ny, long nx, ulong seed)
    {
        var gen = new torch.Generator(seed);
        return torch.complex(torch.randn(new[] { coils, ny, nx }, generator: gen), torch.randn(new[] { coils, ny, nx }, generator: gen));
    }

    public static readonly IReadOnlyDictionary<Type, Func<IEnumerable<ContractCase>>> Factories =
        new Dictionary<Type, Func<IEnumerable<ContractCase>>>
        {
            [typeof(MedRecon.Operators.Ct.ParallelBeamProjector)] = () => new[]
            {
                new ContractCase("Parallel beam", () => new MedRecon.Operators.Ct.ParallelBeamProjector(32,
                    MedRecon.Operators.Ct.CtAngles.Uniform(17, 180), detectors: 40, detectorSpacing: 1.3), false, false),
            },
            [typeof(MedRecon.Operators.Ct.FanBeamProjector)] = () => new[]
            {
                new ContractCase("Fan beam, flat detector", () => new MedRecon.Operators.Ct.FanBeamProjector(
                    MedRecon.Operators.Ct.CtGeometry.FanBeam(32, flatDetector: true), MedRecon.Operators.Ct.CtAngles.Uniform(19, 360)), false, false),
                new ContractCase("Fan beam, equiangular", () => new MedRecon.Operators.Ct.FanBeamProjector(
                    MedRecon.Operators.Ct.CtGeometry.FanBeam(28, flatDetector: false, detectors: 45), MedRecon.Operators.Ct.CtAngles.Uniform(13, 250)), false, false),
            },
            [typeof(IdentityOperator)] = () => new[]
            {
                new ContractCase("Identity real", () => new IdentityOperator(new long[] { 5, 6 }), false, false),
                new ContractCase("Identity complex", () => new IdentityOperator(new long[] { 5, 6 }), true, true),
            },
            [typeof(SenseOperator)] = () => new[]
            {
                new ContractCase("MaskedFFT even", () => SenseOperator.SingleCoil(RandomMask(24, 20, 1)), true, true),
                new ContractCase("MaskedFFT odd", () => SenseOperator.SingleCoil(RandomMask(15, 17, 11)), true, true),
                new ContractCase("MaskedFFT real input", () => SenseOperator.SingleCoil(RandomMask(16, 16, 12)), false, true),
                new ContractCase("SENSE 4 coils", () => new SenseOperator(RandomMaps(4, 16, 18, 7), RandomMask(16, 18, 2)), true, true),
                new ContractCase("SENSE with a Poisson mask", () => new SenseOperator(RandomMaps(3, 32, 32, 8),
                    SamplingMasks.Create(MaskKind.Poisson, 32, 32, 3, 0.1, 5).Mask), true, true),
            },
            [typeof(AdjointOperator)] = () => new[]
            {
                new ContractCase("Sense^H", () => SenseOperator.SingleCoil(RandomMask(12, 12, 3)).H, true, true),
                new ContractCase("Grad^H", () => new FiniteDifferenceOperator(9, 7).H, false, false),
            },
            [typeof(NormalOperator)] = () => new[]
            {
                new ContractCase("Sense^H Sense", () => SenseOperator.SingleCoil(RandomMask(12, 12, 3)).N, true, true),
                new ContractCase("Grad^H Grad", () => new FiniteDifferenceOperator(9, 7).N, true, true),
            },
            [typeof(CompositeOperator)] = () => new[]
            {
                new ContractCase("Sense^H * Sense", () => { var a = SenseOperator.SingleCoil(RandomMask(12, 12, 3)); return a.H * a; }, true, true),
                new ContractCase("Grad * Wavelet^H", () => new FiniteDifferenceOperator(16, 16) * new Wavelet2DOperator(16, 16, 2).H, false, false),
                new ContractCase("Mask * Wavelet^H complex", () => new MaskOperator(RandomMask(16, 8, 4)) * new Wavelet2DOperator(16, 8, 1, WaveletKind.Haar).H, true, true),
            },
            [typeof(ScaledOperator)] = () => new[]
            {
                new ContractCase("2.5 Sense", () => 2.5 * SenseOperator.SingleCoil(RandomMask(12, 12, 3)), true, true),
                new ContractCase("Grad * -0.5", () => new FiniteDifferenceOperator(6, 9) * -0.5, false, false),
            },
            [typeof(MaskOperator)] = () => new[]
            {
                new ContractCase("Mask real", () => new MaskOperator(RandomMask(13, 11, 21)), false, false),
                new ContractCase("Mask complex", () => new MaskOperator(RandomMask(13, 11, 22)), true, true),
                new ContractCase("Mask weights", () => new MaskOperator(torch.rand(new long[] { 10, 12 }, generator: new torch.Generator(23))), false, false),
                new ContractCase("Mask broadcast over 3 channels", () => new MaskOperator(RandomMask(10, 12, 24), new long[] { 3, 10, 12 }), false, false),
            },
            [typeof(FiniteDifferenceOperator)] = () => new[]
            {
                new ContractCase("Grad Neumann real", () => new FiniteDifferenceOperator(17, 12), false, false),
                new ContractCase("Grad Neumann complex", () => new FiniteDifferenceOperator(12, 17), true, true),
                new ContractCase("Grad periodic real", () => new FiniteDifferenceOperator(10, 13, periodic: true), false, false),
                new ContractCase("Grad periodic complex", () => new FiniteDifferenceOperator(13, 10, periodic: true), true, true),
                new ContractCase("Grad batch", () => new FiniteDifferenceOperator(new long[] { 2, 8, 9 }), false, false),
                new ContractCase("Grad 1 row", () => new FiniteDifferenceOperator(1, 9), false, false),
            },
            [typeof(Wavelet2DOperator)] = () => new[]
            {
                new ContractCase("Haar 3 levels real", () => new Wavelet2DOperator(32, 24, 3, WaveletKind.Haar), false, false),
                new ContractCase("Haar 1 level complex", () => new Wavelet2DOperator(8, 6, 1, WaveletKind.Haar), true, true),
                new ContractCase("Db4 3 levels real", () => new Wavelet2DOperator(32, 48, 3, WaveletKind.Daubechies4), false, false),
                new ContractCase("Db4 4 levels complex", () => new Wavelet2DOperator(64, 32, 4, WaveletKind.Daubechies4), true, true),
                new ContractCase("Db4 to 2x2 (periodised wrap)", () => new Wavelet2DOperator(16, 16, 3, WaveletKind.Daubechies4), false, false),
                new ContractCase("Db4 batch", () => new Wavelet2DOperator(new long[] { 2, 16, 8 }, 2), true, true),
            },
        };

    public static IEnumerable<ContractCase> AllCases => Factories.Values.SelectMany(f => f());
}

public class OperatorContractTests
{
    public static IEnumerable<object[]> CaseNames =>
        OperatorContractRegistry.AllCases.Select(c => new object[] { c.Name });

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void OperatorPassesContract(string name)
    {
        var c = OperatorContractRegistry.AllCases.Single(k => k.Name == name);
        var op = c.Create();
        try
        {
            OperatorContract.Check(op, c.ComplexInput, c.ComplexOutput, tolerance: c.Tolerance);
        }
        finally
        {
            (op as IDisposable)?.Dispose();
        }
    }

    [Fact]
    public void EveryOperatorTypeHasAContractFactory()
    {
        var concrete = typeof(LinearOperator).Assembly.GetTypes()
            .Where(t => t.IsClass && !t.IsAbstract && typeof(LinearOperator).IsAssignableFrom(t))
            .ToList();
        Assert.Contains(typeof(MaskOperator), concrete);
        var missing = concrete.Where(t => !OperatorContractRegistry.Factories.ContainsKey(t)).Select(t => t.FullName).ToList();
        Assert.True(missing.Count == 0,
            "operators without a contract-test factory (register them in OperatorContractRegistry.Factories): " + string.Join(", ", missing));
        foreach (var (type, factory) in OperatorContractRegistry.Factories)
        {
            var cases = factory().ToList();
            Assert.True(cases.Count > 0, $"{type.Name}: the factory yields no cases");
            foreach (var c in cases)
            {
                var op = c.Create();
                try { Assert.IsType(type, op); }
                finally { (op as IDisposable)?.Dispose(); }
            }
        }
    }

    [Fact]
    public void CaseNamesAreUnique()
    {
        var names = OperatorContractRegistry.AllCases.Select(c => c.Name).ToList();
        Assert.Equal(names.Count, names.Distinct().Count());
    }
}
