using MedRecon.Core;
using MedRecon.Operators.Mri;
using MedRecon.Phantoms;
using MedRecon.Model;
using MedRecon.Solvers;
using MedRecon.Solvers.ZeroShot;
using TorchSharp;
using static TorchSharp.torch;

namespace MedRecon.Cli.Pipelines;

public sealed record MriSimulationOptions(
    MaskKind Mask = MaskKind.Equispaced,
    double Acceleration = 4,
    double CenterFraction = 0.08,
    int Coils = 1,
    double Noise = 0,
    int Seed = 0);

/// <summary>Simulated MRI measurement: k-space (coils, ky, kx) already masked, mask (ky, kx), maps, ground truth.</summary>
public sealed record MriMeasurement(Tensor KSpace, SamplingMask Mask, Tensor? Maps, Tensor GroundTruth, string Source);

public enum MriMethod { Zf, Cg, Tv, Wavelet, Cm, Diffusion }

/// <summary>Simulation and classical reconstruction of Cartesian MRI, shared by the CLI commands, the demo and the benchmark.</summary>
public static class MriPipeline
{
    /// <summary>
    /// From an ellipse phantom: k-space is the analytic Fourier transform (single coil) or a 4x finer grid
    /// (multi coil), never the reconstruction operator itself, which avoids the inverse crime.
    /// </summary>
    public static MriMeasurement SimulatePhantom(EllipsePhantom phantom, int size, MriSimulationOptions o)
    {
        using var scope = NewDisposeScope();
        var mask = SamplingMasks.Create(o.Mask, size, size, o.Acceleration, o.CenterFraction, o.Seed);
        Tensor? maps = null;
        Tensor full;
        if (o.Coils > 1)
        {
            maps = CoilMaps.Birdcage(o.Coils, size, size);
            full = phantom.KSpace(maps);
        }
        else full = phantom.KSpace(size, size).unsqueeze(0);
        var ksp = AddNoiseAndMask(full, mask.Mask, o.Noise, o.Seed);
        var gt = phantom.Rasterize(size);
        var result = new MriMeasurement(ksp.MoveToOuterDisposeScope(), mask with { Mask = mask.Mask.MoveToOuterDisposeScope() },
            maps?.MoveToOuterDisposeScope(), gt.MoveToOuterDisposeScope(), $"phantom:{phantom.Name}");
        return result;
    }

    /// <summary>From an image (ky, kx), real or complex: k-space is the discrete centred FFT of the image (documented).</summary>
    /// <param name="noiseSeed">Seed of the noise only (default: the options' seed), so slices of a stack share the mask
    /// but get independent noise.</param>
    public static MriMeasurement SimulateImage(Tensor image, MriSimulationOptions o, string source, int? noiseSeed = null)
    {
        if (image.dim() != 2) throw new ArgumentException($"image must be 2-D (rows, cols), got {Tensors.ShapeString(image.shape)}");
        using var scope = NewDisposeScope();
        int ny = (int)image.shape[0], nx = (int)image.shape[1];
        var mask = SamplingMasks.Create(o.Mask, ny, nx, o.Acceleration, o.CenterFraction, o.Seed);
        var x = image.is_complex() ? image.to(ScalarType.ComplexFloat32) : image.to(ScalarType.Float32).to(ScalarType.ComplexFloat32);
        Tensor? maps = null;
        Tensor full;
        if (o.Coils > 1)
        {
            maps = CoilMaps.Birdcage(o.Coils, ny, nx);
            full = Fft.Centered2D(maps * x.unsqueeze(0));
        }
        else full = Fft.Centered2D(x).unsqueeze(0);
        var ksp = AddNoiseAndMask(full, mask.Mask, o.Noise, noiseSeed ?? o.Seed);
        var gt = image.is_complex() ? image.to(ScalarType.ComplexFloat32) : image.to(ScalarType.Float32);
        return new MriMeasurement(ksp.MoveToOuterDisposeScope(), mask with { Mask = mask.Mask.MoveToOuterDisposeScope() },
            maps?.MoveToOuterDisposeScope(), gt.MoveToOuterDisposeScope(), source);
    }

    /// <summary>Complex white Gaussian noise with standard deviation σ in each of the real and imaginary parts; unsampled entries stay exactly 0.</summary>
    static Tensor AddNoiseAndMask(Tensor kspace, Tensor mask, double sigma, int seed)
    {
        using var scope = NewDisposeScope();
        var k = kspace;
        if (sigma > 0)
        {
            var gen = new torch.Generator((ulong)seed + 7919UL);
            var n = torch.complex(torch.randn(kspace.shape, generator: gen), torch.randn(kspace.shape, generator: gen)) * sigma;
            k = k + n;
        }
        return (k * mask).to(ScalarType.ComplexFloat32).MoveToOuterDisposeScope();
    }

    /// <summary>Checks k-space/mask/maps shapes and values; returns k-space as (coils, ky, kx) complex64.</summary>
    public static Tensor ValidateInputs(Tensor kspace, Tensor mask, Tensor? maps, string kspaceName = "k-space",
        string maskName = "mask", string mapsName = "maps")
    {
        if (kspace.dim() == 2) kspace = kspace.unsqueeze(0);
        if (kspace.dim() != 3)
            throw new ArgumentException($"{kspaceName}: expected (coils, ky, kx) or (ky, kx), got {Tensors.ShapeString(kspace.shape)}");
        if (kspace.numel() == 0) throw new ArgumentException($"{kspaceName}: empty array");
        if (mask.dim() != 2 || mask.shape[0] != kspace.shape[1] || mask.shape[1] != kspace.shape[2])
            throw new ArgumentException(
                $"{maskName}: shape {Tensors.ShapeString(mask.shape)} does not match k-space (ky, kx) = ({kspace.shape[1]}, {kspace.shape[2]})");
        if (maps is not null && !maps.shape.SequenceEqual(kspace.shape))
            throw new ArgumentException(
                $"{mapsName}: shape {Tensors.ShapeString(maps.shape)} does not match k-space {Tensors.ShapeString(kspace.shape)}");
        foreach (var (t, name) in new[] { (kspace, kspaceName), (mask, maskName) }.Concat(maps is null ? [] : new[] { (maps, mapsName) }))
            if ((t.is_floating_point() || t.is_complex()) && !Tensors.AllFinite(t))
                throw new ArgumentException($"{name}: contains NaN or Inf values");
        return kspace.is_complex() ? kspace.to(ScalarType.ComplexFloat32) : kspace.to(ScalarType.ComplexFloat32);
    }

    /// <summary>Builds the forward operator: single-coil masked FFT, or SENSE with given or estimated maps.</summary>
    public static SenseOperator BuildOperator(Tensor kspace, Tensor mask, Tensor? maps, out Tensor? usedMaps)
    {
        usedMaps = maps;
        var m = mask.to(ScalarType.Float32);
        if (kspace.shape[0] == 1 && maps is null) return SenseOperator.SingleCoil(m);
        usedMaps = maps ?? CoilMapEstimation.FromCalibration(kspace, m);
        return new SenseOperator(usedMaps, m);
    }

    /// <summary>True for the methods that need a prior (consistency model, diffusion baseline).</summary>
    public static bool IsZeroShot(MriMethod method) => method is MriMethod.Cm or MriMethod.Diffusion;

    /// <summary>The classical methods (no model needed).</summary>
    public static IEnumerable<MriMethod> ClassicalMethods => Enum.GetValues<MriMethod>().Where(m => !IsZeroShot(m));

    /// <summary>
    /// Zero-shot reconstruction (consistency model or diffusion baseline) with mean and, for several samples, the
    /// per-pixel standard deviation. <paramref name="prior"/> defaults to models/mr-prior.safetensors.
    /// </summary>
    public static ZeroShotResult ReconstructZeroShot(Tensor kspace, Tensor mask, Tensor? maps, ZeroShotOptions options,
        ConsistencyFunction? prior = null, IProgress<SolverProgress>? progress = null)
    {
        using var scope = NewDisposeScope();
        var k = ValidateInputs(kspace, mask, maps);
        using var a = BuildOperator(k, mask, maps, out _);
        LoadedPrior? loaded = prior is null ? Priors.Load("mr", null) : null;
        try
        {
            var r = ZeroShotSolver.ReconstructMri(prior ?? loaded!.Function, a, k, options, progress);
            r.Mean.MoveToOuterDisposeScope();
            r.StandardDeviation?.MoveToOuterDisposeScope();
            return r;
        }
        finally { loaded?.Dispose(); }
    }

    /// <summary>
    /// Reconstructs with any method. For <see cref="MriMethod.Cm"/> and <see cref="MriMethod.Diffusion"/>,
    /// <paramref name="zeroShot"/> gives the options (method and NFE set from <paramref name="method"/> unless given;
    /// diffusion defaults to <see cref="ZeroShotDefaults.DiffusionNfe"/> NFE) and <paramref name="prior"/> the model
    /// (default: models/mr-prior.safetensors); the result is the mean image.
    /// </summary>
    public static Tensor Reconstruct(Tensor kspace, Tensor mask, Tensor? maps, MriMethod method,
        double? lambda = null, int? iterations = null, IProgress<SolverProgress>? progress = null,
        ZeroShotOptions? zeroShot = null, ConsistencyFunction? prior = null)
    {
        if (IsZeroShot(method))
        {
            var r = ReconstructZeroShot(kspace, mask, maps, ZeroShotOptionsFor(method, zeroShot), prior, progress);
            r.StandardDeviation?.Dispose();
            return r.Mean;
        }
        return ReconstructClassical(kspace, mask, maps, method, lambda, iterations, progress);
    }

    /// <summary>Options for a zero-shot method: the given ones with Method set; diffusion gets its own NFE default when
    /// the options are absent or still carry the CM default.</summary>
    public static ZeroShotOptions ZeroShotOptionsFor(MriMethod method, ZeroShotOptions? o)
    {
        var m = method == MriMethod.Diffusion ? ZeroShotMethod.Diffusion : ZeroShotMethod.Consistency;
        if (o is null) return new ZeroShotOptions { Method = m, Nfe = m == ZeroShotMethod.Diffusion ? ZeroShotDefaults.DiffusionNfe : 4 };
        return o with { Method = m };
    }

    static Tensor ReconstructClassical(Tensor kspace, Tensor mask, Tensor? maps, MriMethod method,
        double? lambda, int? iterations, IProgress<SolverProgress>? progress)
    {
        using var scope = NewDisposeScope();
        var k = ValidateInputs(kspace, mask, maps);
        using var a = BuildOperator(k, mask, maps, out _);
        var x = method switch
        {
            MriMethod.Zf => ZeroFilled.Reconstruct(a, k),
            MriMethod.Cg => ConjugateGradient.Reconstruct(a, k, iterations: iterations ?? 30, lambda: lambda ?? 0.0, progress: progress),
            MriMethod.Tv => TotalVariation.Reconstruct(a, k, lambda: lambda ?? TotalVariationOptions.DefaultLambda, iterations: iterations ?? TotalVariationOptions.DefaultIterations, progress: progress),
            MriMethod.Wavelet => WaveletL1.Reconstruct(a, k, lambda: lambda ?? WaveletL1Options.DefaultLambda, iterations: iterations ?? WaveletL1Options.DefaultIterations, progress: progress),
            _ => throw new ArgumentOutOfRangeException(nameof(method)),
        };
        return x.MoveToOuterDisposeScope();
    }
}
