using TorchSharp;
using static TorchSharp.torch;

namespace MedRecon.Model.Training;

/// <summary>
/// Fixed, documented intensity normalisations (DESIGN.md "Normalisation per modality"); the network sees values in
/// roughly [−1, 1].
/// <list type="bullet">
/// <item>CT: Hounsfield units, fixed linear map [−1024, 3071] → [−1, 1] (values outside keep the same line).</item>
/// <item>MR: per volume, divide by the 99.5th percentile p of all voxels, then ×2 − 1 (so 0 → −1, p → 1).
/// Values above p stay above 1; nothing is clipped.</item>
/// </list>
/// </summary>
public static class Normalization
{
    public const double HuLow = -1024, HuHigh = 3071;
    public const double MrPercentile = 99.5;

    public static string Describe(string modality) => modality switch
    {
        "ct" => $"CT: HU -> [-1,1] by the fixed linear map [{HuLow},{HuHigh}] -> [-1,1]: x = 2*(HU-({HuLow}))/({HuHigh}-({HuLow})) - 1",
        "mr" => $"MR: per volume, x = 2*v/p - 1 with p the {MrPercentile}th percentile of the volume's voxels (not clipped)",
        _ => throw new ArgumentException($"unknown modality '{modality}' (ct or mr)"),
    };

    public static Tensor CtFromHu(Tensor hu) => (hu.to(ScalarType.Float32) - HuLow) * (2.0 / (HuHigh - HuLow)) - 1.0;
    public static Tensor CtToHu(Tensor x) => (x + 1.0) * ((HuHigh - HuLow) / 2.0) + HuLow;

    /// <summary>Returns the normalised volume and the scale p used (x = 2 v / p − 1).</summary>
    public static (Tensor Normalised, double Scale) MrVolume(Tensor volume)
    {
        using var scope = NewDisposeScope();
        var v = volume.to(ScalarType.Float32);
        double p = Percentile(v, MrPercentile);
        if (!(p > 0)) p = v.max().item<float>();
        if (!(p > 0)) p = 1;
        return ((v * (2.0 / p) - 1.0).MoveToOuterDisposeScope(), p);
    }

    /// <summary>Percentile (0–100) of all elements, nearest-rank.</summary>
    public static double Percentile(Tensor t, double percent)
    {
        using var scope = NewDisposeScope();
        var flat = t.reshape(-1).to(ScalarType.Float32);
        long n = flat.shape[0];
        long k = Math.Clamp((long)Math.Ceiling(percent / 100.0 * n), 1, n);
        var (values, _) = flat.kthvalue(k, 0, false);
        return values.item<float>();
    }

    public static Tensor Normalise(string modality, Tensor volume) => modality switch
    {
        "ct" => CtFromHu(volume),
        "mr" => MrVolume(volume).Normalised,
        _ => throw new ArgumentException($"unknown modality '{modality}' (ct or mr)"),
    };
}
