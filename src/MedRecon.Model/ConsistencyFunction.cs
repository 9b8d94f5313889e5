using TorchSharp;
using static TorchSharp.torch;

namespace MedRecon.Model;

/// <summary>Noise-level constants of the consistency function (DESIGN.md "Zero-shot reconstruction").</summary>
public sealed record NoiseParameters
{
    public double SigmaMin { get; init; } = 0.002;
    public double SigmaMax { get; init; } = 80.0;
    /// <summary>Standard deviation of the (normalised) data; ~0.5 for data mapped to roughly [−1, 1].</summary>
    public double SigmaData { get; init; } = 0.5;
    /// <summary>Karras schedule exponent.</summary>
    public double Rho { get; init; } = 7.0;
}

/// <summary>
/// The consistency function with EDM preconditioning,
/// <c>f(x, σ) = c_skip(σ) x + c_out(σ) F_θ(c_in(σ) x, c_noise(σ))</c>, with
/// <c>c_skip = σ_d² / ((σ−σ_min)² + σ_d²)</c>, <c>c_out = σ_d (σ−σ_min) / sqrt(σ² + σ_d²)</c>,
/// <c>c_in = 1 / sqrt(σ² + σ_d²)</c>, <c>c_noise = 250 ln σ</c>. At σ = σ_min, c_skip = 1 and c_out = 0 exactly, and
/// <see cref="forward"/> returns the input itself without evaluating the network: f(x, σ_min) = x bit for bit.
/// The same function serves as the EDM denoiser D(x, σ) of the diffusion baseline (it differs from EDM's own
/// preconditioning only by the σ_min shift).
/// </summary>
public sealed class ConsistencyFunction : IDisposable
{
    public ConsistencyFunction(UNet network, NoiseParameters? noise = null)
    {
        Network = network;
        Noise = noise ?? new NoiseParameters();
    }

    public UNet Network { get; }
    public NoiseParameters Noise { get; }

    public (double Skip, double Out, double In, double NoiseCond) Coefficients(double sigma)
    {
        double sd = Noise.SigmaData, smin = Noise.SigmaMin;
        double skip = sd * sd / ((sigma - smin) * (sigma - smin) + sd * sd);
        double cout = sd * (sigma - smin) / Math.Sqrt(sigma * sigma + sd * sd);
        double cin = 1.0 / Math.Sqrt(sigma * sigma + sd * sd);
        return (skip, cout, cin, 250.0 * Math.Log(sigma));
    }

    /// <summary>f(x, σ) for one σ shared by the batch; x is [B, C, H, W] (or [C, H, W] / [H, W], shape kept).</summary>
    public Tensor Forward(Tensor x, double sigma)
    {
        if (sigma < Noise.SigmaMin) throw new ArgumentOutOfRangeException(nameof(sigma), $"σ = {sigma} is below σ_min = {Noise.SigmaMin}");
        if (sigma == Noise.SigmaMin) return x.alias();
        using var scope = NewDisposeScope();
        var (skip, cout, cin, cnoise) = Coefficients(sigma);
        var (x4, restore) = To4D(x);
        var cn = torch.full(new[] { x4.shape[0] }, cnoise, dtype: ScalarType.Float32, device: x.device);
        var f = x4 * skip + Network.forward(x4 * cin, cn) * cout;
        return restore(f).MoveToOuterDisposeScope();
    }

    /// <summary>f(x, σ) with a per-sample σ (shape [B]); entries equal to σ_min return their input exactly.</summary>
    public Tensor Forward(Tensor x, Tensor sigma)
    {
        using var scope = NewDisposeScope();
        double sd = Noise.SigmaData, smin = Noise.SigmaMin;
        var s = sigma.to(ScalarType.Float32).reshape(-1, 1, 1, 1);
        var d = s - smin;
        var skip = sd * sd / (d * d + sd * sd);
        var cout = sd * d / (s * s + sd * sd).sqrt();
        var cin = 1.0 / (s * s + sd * sd).sqrt();
        var cn = 250.0 * torch.log(sigma.to(ScalarType.Float32).reshape(-1));
        var f = skip * x + cout * Network.forward(cin * x, cn);
        // Exact boundary condition where σ = σ_min (float rounding could otherwise leave c_skip ≠ 1 there).
        var atMin = (sigma.reshape(-1, 1, 1, 1) <= smin);
        f = torch.where(atMin, x, f);
        return f.MoveToOuterDisposeScope();
    }

    static (Tensor, Func<Tensor, Tensor>) To4D(Tensor x) => x.dim() switch
    {
        4 => (x, t => t),
        3 => (x.unsqueeze(0), t => t.squeeze(0)),
        2 => (x.unsqueeze(0).unsqueeze(0), t => t.squeeze(0).squeeze(0)),
        _ => throw new ArgumentException($"expected an image [H,W], [C,H,W] or [B,C,H,W], got {x.dim()} dimensions"),
    };

    public void Dispose() => Network.Dispose();
}
