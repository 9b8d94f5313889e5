using System.Text.Json;
using System.Text.Json.Serialization;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace MedRecon.Model;

/// <summary>
/// Architecture of <see cref="UNet"/>; stored with the weights so a file is only ever loaded into the network it was
/// trained as. Serialised as JSON (camelCase).
/// </summary>
public sealed record UNetConfig
{
    /// <summary>Input image channels (1 for magnitude/real medical images).</summary>
    public int InChannels { get; init; } = 1;
    /// <summary>Output channels (normally = InChannels).</summary>
    public int OutChannels { get; init; } = 1;
    /// <summary>Feature widths per resolution level, finest first; each further level halves the resolution.</summary>
    public int[] Widths { get; init; } = { 32, 64, 128 };
    /// <summary>Residual blocks per level on the way down (the way up has one more, for the skip of the down-sampler).</summary>
    public int ResBlocksPerLevel { get; init; } = 2;
    /// <summary>Noise-embedding width (the MLP output); 0 means 4 × Widths[0].</summary>
    public int EmbeddingDim { get; init; }
    /// <summary>Largest GroupNorm group count.</summary>
    public int MaxGroups { get; init; } = 32;

    [JsonIgnore] public int EffectiveEmbeddingDim => EmbeddingDim > 0 ? EmbeddingDim : 4 * Widths[0];
    /// <summary>Inputs are padded (reflect) to a multiple of this and cropped back.</summary>
    [JsonIgnore] public int SizeMultiple => 1 << (Widths.Length - 1);

    static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.CamelCase };
    public string ToJson() => JsonSerializer.Serialize(this, Json);
    public static UNetConfig FromJson(string json) =>
        JsonSerializer.Deserialize<UNetConfig>(json, Json) ?? throw new JsonException("empty UNet config");

    /// <summary>Structural equality (records compare arrays by reference).</summary>
    public bool SameArchitecture(UNetConfig other) => ToJson() == other.ToJson();

    public void Validate()
    {
        if (Widths.Length < 1 || Widths.Any(w => w < 1)) throw new ArgumentException("UNet widths must be positive and non-empty");
        if (InChannels < 1 || OutChannels < 1 || ResBlocksPerLevel < 1) throw new ArgumentException("UNet channels and block counts must be positive");
    }

    /// <summary>Tiny network for tests (widths 8/16).</summary>
    public static UNetConfig Tiny => new() { Widths = new[] { 8, 16 }, ResBlocksPerLevel = 1 };
}

/// <summary>Largest divisor of <paramref name="channels"/> not above min(maxGroups, channels/4) (at least 1).</summary>
static class Groups
{
    public static GroupNorm Make(long channels, int maxGroups)
    {
        long limit = Math.Max(1, Math.Min(maxGroups, channels / 4));
        long g = limit;
        while (channels % g != 0) g--;
        var gn = nn.GroupNorm(g, channels);
        // TorchSharp 0.107 leaves GroupNorm's affine parameters uninitialised.
        using (torch.no_grad())
        {
            gn.weight!.fill_(1.0);
            gn.bias!.zero_();
        }
        return gn;
    }

    /// <summary>Modules whose weights start at zero (the last conv of each residual branch and the output conv).</summary>
    public static readonly System.Runtime.CompilerServices.ConditionalWeakTable<Conv2d, object> Zeroed = new();

    public static void ZeroInit(Conv2d conv)
    {
        using (torch.no_grad())
        {
            conv.weight!.zero_();
            conv.bias?.zero_();
        }
        Zeroed.AddOrUpdate(conv, Zeroed);
    }
}

/// <summary>GroupNorm → SiLU → conv3x3 → + noise embedding → GroupNorm → SiLU → conv3x3 (zero-initialised), plus skip.</summary>
sealed class ResBlock : Module<Tensor, Tensor, Tensor>
{
    readonly GroupNorm norm1, norm2;
    readonly Conv2d conv1, conv2;
    readonly Linear emb;
    readonly Conv2d? skip;

    public ResBlock(string name, long cin, long cout, long embDim, int maxGroups) : base(name)
    {
        norm1 = Groups.Make(cin, maxGroups);
        conv1 = nn.Conv2d(cin, cout, 3, 1, 1);
        emb = nn.Linear(embDim, cout);
        norm2 = Groups.Make(cout, maxGroups);
        conv2 = nn.Conv2d(cout, cout, 3, 1, 1);
        Groups.ZeroInit(conv2);
        if (cin != cout) skip = nn.Conv2d(cin, cout, 1, 1, 0);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x, Tensor e)
    {
        using var scope = NewDisposeScope();
        var h = conv1.forward(functional.silu(norm1.forward(x)));
        h = h + emb.forward(e).unsqueeze(-1).unsqueeze(-1);
        h = conv2.forward(functional.silu(norm2.forward(h)));
        var s = skip is null ? x : skip.forward(x);
        return (s + h).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// Noise-conditional UNet F_θ(x, c_noise): residual blocks with GroupNorm and SiLU, a sinusoidal embedding of the
/// noise level followed by an MLP, strided-conv down-sampling, nearest up-sampling + conv, concatenated skips, no
/// attention. Fully convolutional: any image size works (inputs are reflect-padded to a multiple of
/// 2^(levels−1) and cropped back).
/// </summary>
public sealed class UNet : Module<Tensor, Tensor, Tensor>
{
    readonly Conv2d input;
    readonly Linear embed1, embed2;
    readonly ModuleList<Module<Tensor, Tensor, Tensor>> down;
    readonly ModuleList<Conv2d> downsample;
    readonly ModuleList<Module<Tensor, Tensor, Tensor>> middle;
    readonly ModuleList<Module<Tensor, Tensor, Tensor>> up;
    readonly ModuleList<Conv2d> upsample;
    readonly GroupNorm outNorm;
    readonly Conv2d output;
    readonly int[] downCounts;

    public UNetConfig Config { get; }

    /// <summary>Builds the network; weights are drawn from <paramref name="init"/> (default: a generator seeded with 0),
    /// never from torch's global generator, so construction is reproducible and thread-safe.</summary>
    public UNet(UNetConfig config, torch.Generator? init = null) : base("unet")
    {
        config.Validate();
        Config = config;
        var w = config.Widths;
        int L = w.Length, R = config.ResBlocksPerLevel, G = config.MaxGroups;
        long E = config.EffectiveEmbeddingDim;

        input = nn.Conv2d(config.InChannels, w[0], 3, 1, 1);
        embed1 = nn.Linear(w[0], E);
        embed2 = nn.Linear(E, E);

        down = new ModuleList<Module<Tensor, Tensor, Tensor>>();
        downsample = new ModuleList<Conv2d>();
        var skipChannels = new List<long> { w[0] };
        long ch = w[0];
        downCounts = new int[L];
        for (int l = 0; l < L; l++)
        {
            for (int r = 0; r < R; r++)
            {
                down.Add(new ResBlock($"down{l}_{r}", ch, w[l], E, G));
                ch = w[l];
                skipChannels.Add(ch);
            }
            downCounts[l] = R;
            if (l < L - 1)
            {
                downsample.Add(nn.Conv2d(ch, ch, 3, 2, 1));
                skipChannels.Add(ch);
            }
        }
        middle = new ModuleList<Module<Tensor, Tensor, Tensor>>(
            new ResBlock("mid0", ch, ch, E, G), new ResBlock("mid1", ch, ch, E, G));
        up = new ModuleList<Module<Tensor, Tensor, Tensor>>();
        upsample = new ModuleList<Conv2d>();
        for (int l = L - 1; l >= 0; l--)
        {
            for (int r = 0; r < R + 1; r++)
            {
                long s = skipChannels[^1];
                skipChannels.RemoveAt(skipChannels.Count - 1);
                up.Add(new ResBlock($"up{l}_{r}", ch + s, w[l], E, G));
                ch = w[l];
            }
            if (l > 0) upsample.Add(nn.Conv2d(ch, ch, 3, 1, 1));
        }
        outNorm = Groups.Make(ch, G);
        output = nn.Conv2d(ch, config.OutChannels, 3, 1, 1);
        Groups.ZeroInit(output);
        RegisterComponents();
        ResetParameters(init ?? new torch.Generator(0));
    }

    /// <summary>
    /// PyTorch's default initialisation for Conv2d/Linear (weights and biases uniform in ±1/sqrt(fan_in)), drawn from
    /// an explicit generator; GroupNorm weight 1, bias 0; zero-initialised convolutions stay zero.
    /// </summary>
    public void ResetParameters(torch.Generator gen)
    {
        using var noGrad = torch.no_grad();
        foreach (var m in modules())
        {
            switch (m)
            {
                case Conv2d c when Groups.Zeroed.TryGetValue(c, out _):
                    c.weight!.zero_();
                    c.bias?.zero_();
                    break;
                case Conv2d c:
                    Uniform(c.weight!, c.bias, gen);
                    break;
                case Linear l:
                    Uniform(l.weight!, l.bias, gen);
                    break;
                case GroupNorm g:
                    g.weight!.fill_(1.0);
                    g.bias!.zero_();
                    break;
            }
        }
    }

    static void Uniform(Tensor weight, Tensor? bias, torch.Generator gen)
    {
        long fanIn = weight.numel() / weight.shape[0];
        double bound = 1.0 / Math.Sqrt(fanIn);
        using (var r = torch.rand(weight.shape, generator: gen)) weight.copy_(r * (2 * bound) - bound);
        if (bias is not null)
            using (var r = torch.rand(bias.shape, generator: gen)) bias.copy_(r * (2 * bound) - bound);
    }

    /// <summary>Sinusoidal embedding of c_noise (shape [B]) with <paramref name="dim"/> channels (cos | sin).</summary>
    public static Tensor SinusoidalEmbedding(Tensor cNoise, long dim)
    {
        using var scope = NewDisposeScope();
        long half = dim / 2;
        var freqs = torch.exp(torch.arange(half, dtype: ScalarType.Float32, device: cNoise.device) * (-Math.Log(10000.0) / half));
        var args = cNoise.to(ScalarType.Float32).unsqueeze(1) * freqs.unsqueeze(0);
        var e = torch.cat(new[] { torch.cos(args), torch.sin(args) }, 1);
        if (dim % 2 == 1) e = torch.nn.functional.pad(e, new long[] { 0, 1 });
        return e.MoveToOuterDisposeScope();
    }

    /// <summary>F_θ(x, c_noise): x is [B, C, H, W], c_noise is [B].</summary>
    public override Tensor forward(Tensor x, Tensor cNoise)
    {
        using var scope = NewDisposeScope();
        long H = x.shape[2], W = x.shape[3];
        int m = Config.SizeMultiple;
        long padH = (m - H % m) % m, padW = (m - W % m) % m;
        if (padH > 0 || padW > 0)
        {
            var mode = padH < H && padW < W ? PaddingModes.Reflect : PaddingModes.Replicate;
            x = functional.pad(x, new long[] { 0, padW, 0, padH }, mode);
        }

        // In the input's dtype, so a network cast to bfloat16 runs end to end in bfloat16.
        var e = SinusoidalEmbedding(cNoise, Config.Widths[0]).to(x.dtype);
        e = embed2.forward(functional.silu(embed1.forward(e)));
        var se = functional.silu(e);

        var h = input.forward(x);
        var skips = new List<Tensor> { h };
        int bi = 0;
        for (int l = 0; l < Config.Widths.Length; l++)
        {
            for (int r = 0; r < downCounts[l]; r++)
            {
                h = down[bi++].forward(h, se);
                skips.Add(h);
            }
            if (l < Config.Widths.Length - 1)
            {
                h = downsample[l].forward(h);
                skips.Add(h);
            }
        }
        foreach (var blk in middle) h = blk.forward(h, se);
        int ui = 0, usi = 0;
        for (int l = Config.Widths.Length - 1; l >= 0; l--)
        {
            for (int r = 0; r < Config.ResBlocksPerLevel + 1; r++)
            {
                var s = skips[^1];
                skips.RemoveAt(skips.Count - 1);
                h = up[ui++].forward(torch.cat(new[] { h, s }, 1), se);
            }
            if (l > 0)
            {
                h = functional.interpolate(h, scale_factor: new double[] { 2, 2 }, mode: InterpolationMode.Nearest);
                h = upsample[usi++].forward(h);
            }
        }
        h = output.forward(functional.silu(outNorm.forward(h)));
        if (padH > 0 || padW > 0) h = h[.., .., ..(int)H, ..(int)W];
        return h.MoveToOuterDisposeScope();
    }

    public long ParameterCount() => parameters().Sum(p => p.numel());
}
