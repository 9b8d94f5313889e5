using MedRecon.Core.IO;
using MedRecon.Tests.Infrastructure;
using SkiaSharp;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace MedRecon.Tests.Core;

public class PngTests
{
    readonly ITestOutputHelper output;
    public PngTests(ITestOutputHelper output) => this.output = output;

    /// <summary>Rounding to 8 bits loses at most half a gray level.</summary>
    const double Tol = 0.5 / 255 + 1e-6;

    static (int BitDepth, int ColorType, int Width, int Height) Ihdr(string path)
    {
        var b = File.ReadAllBytes(path);
        Assert.Equal(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }, b[..8]);
        Assert.Equal("IHDR", System.Text.Encoding.ASCII.GetString(b, 12, 4));
        int w = b[16] << 24 | b[17] << 16 | b[18] << 8 | b[19];
        int h = b[20] << 24 | b[21] << 16 | b[22] << 8 | b[23];
        return (b[24], b[25], w, h);
    }

    static double MaxAbsDiff(Tensor a, Tensor b) => (a.to(ScalarType.Float64) - b.to(ScalarType.Float64)).abs().max().item<double>();

    [Fact]
    public void WriteThenReadMatchesTheDefaultWindow()
    {
        using var scope = NewDisposeScope();
        using var dir = new TempDir();
        var g = new torch.Generator(31);
        var x = torch.randn(new long[] { 37, 53 }, dtype: ScalarType.Float64, generator: g) * 40 + 300;
        Png.Write(dir["x.png"], x);
        Assert.Equal((8, 0, 53, 37), Ihdr(dir["x.png"]));   // 8-bit grayscale
        var back = Png.Read(dir["x.png"]);
        Assert.Equal(ScalarType.Float32, back.dtype);
        Assert.Equal(new long[] { 37, 53 }, back.shape);
        var expected = (x - x.min()) / (x.max() - x.min());
        double d = MaxAbsDiff(back, expected);
        output.WriteLine($"max |read − windowed| = {d * 255:F3}/255");
        Assert.True(d <= Tol, $"max difference {d * 255}/255");
        Assert.Equal(0.0, back.min().item<float>());
        Assert.Equal(1.0, back.max().item<float>());
        Assert.Single(Directory.GetFiles(dir.Path));
    }

    [Fact]
    public void ExplicitWindowClampsAndComplexUsesMagnitude()
    {
        using var scope = NewDisposeScope();
        using var dir = new TempDir();
        var g = new torch.Generator(32);
        var re = torch.randn(new long[] { 24, 20 }, generator: g);
        var im = torch.randn(new long[] { 24, 20 }, generator: g);
        var z = torch.complex(re, im);
        Png.Write(dir["z.png"], z, 0.5, 2.0);
        var expected = ((z.abs().to(ScalarType.Float64) - 0.5) / 1.5).clamp(0, 1);
        double d = MaxAbsDiff(Png.Read(dir["z.png"]), expected);
        Assert.True(d <= Tol, $"max difference {d * 255}/255");
    }

    [Fact]
    public void NaNIsBlackAndInfinitiesClampWithoutMovingTheWindow()
    {
        using var scope = NewDisposeScope();
        using var dir = new TempDir();
        var x = torch.tensor(new[] { 0.0, 1.0, 2.0, double.NaN, double.PositiveInfinity, double.NegativeInfinity }).reshape(2, 3);
        Png.Write(dir["n.png"], x);
        var back = Png.Read(dir["n.png"]).reshape(-1).data<float>().ToArray();
        Assert.Equal(new[] { 0f, 128f / 255, 1f, 0f, 1f, 0f }, back);
        // A constant image (zero-width window) is written black rather than failing.
        Png.Write(dir["c.png"], torch.full(new long[] { 4, 4 }, 7.0));
        Assert.Equal(0f, Png.Read(dir["c.png"]).max().item<float>());
    }

    [Fact]
    public void MontageHasPanelsGapsAndCaptions()
    {
        using var scope = NewDisposeScope();
        using var dir = new TempDir();
        var a = torch.linspace(0, 1, 20 * 30, dtype: ScalarType.Float64).reshape(20, 30);
        var images = new[] { a, 2 * a, torch.zeros(20, 30, dtype: ScalarType.Float64) };
        Png.WriteMontage(dir["m.png"], images, new[] { "Reference", "PSNR 31.2 dB", "" });
        int strip = Png.CaptionStripHeight(30);
        int width = 3 * 30 + 2 * Png.MontageGap, height = 20 + strip;
        Assert.Equal((8, 0, width, height), Ihdr(dir["m.png"]));
        var m = Png.Read(dir["m.png"]);
        Assert.Equal(new long[] { height, width }, m.shape);
        // One shared window [0, 2]: panel 1 is a/2, panel 2 is 2a/2.
        for (int i = 0; i < 3; i++)
        {
            var panel = m[TensorIndex.Slice(0, 20), TensorIndex.Slice(i * (30 + Png.MontageGap), i * (30 + Png.MontageGap) + 30)];
            double d = MaxAbsDiff(panel, images[i] / 2);
            Assert.True(d <= Tol, $"panel {i}: {d * 255}/255");
        }
        var gap = m[TensorIndex.Colon, TensorIndex.Slice(30, 30 + Png.MontageGap)];
        Assert.True(MaxAbsDiff(gap, torch.full_like(gap, Png.GapLevel / 255.0)) < 1e-6);
        // Captions: white text on black in the strip; an empty caption leaves its strip black.
        var captions = m[TensorIndex.Slice(20, height)];
        Assert.True(captions[.., TensorIndex.Slice(0, 30)].max().item<float>() == 1f);
        Assert.True(captions[.., TensorIndex.Slice(34, 64)].max().item<float>() == 1f);
        Assert.True(captions[.., TensorIndex.Slice(68, 98)].max().item<float>() == 0f);

        Png.WriteMontage(dir["n.png"], images);
        Assert.Equal((8, 0, width, 20), Ihdr(dir["n.png"]));
        Png.WriteMontage(dir["big.png"], new[] { torch.rand(300, 260), torch.rand(300, 260) }, new[] { "Zero-filled ×4, NFE 8 (σ=0.3)", "a very long caption that certainly does not fit in the panel" }, 0, 1);
        Assert.Equal((8, 0, 2 * 260 + Png.MontageGap, 300 + Png.CaptionStripHeight(260)), Ihdr(dir["big.png"]));
        Assert.Equal(3, Directory.GetFiles(dir.Path).Length);
    }

    [SkippableFact]
    public void ScikitImageReadsTheSameGrayLevels()
    {
        ExternalTools.RequirePython("numpy", "skimage");
        using var scope = NewDisposeScope();
        using var dir = new TempDir();
        var x = torch.rand(new long[] { 19, 23 }, generator: new torch.Generator(8));
        Png.Write(dir["x.png"], x);
        Npy.Write(dir["ours.npy"], (Png.Read(dir["x.png"]) * 255).round().to(ScalarType.Byte));
        string py = $"import numpy as np; from skimage import io; a = io.imread(r'{dir["x.png"]}'); b = np.load(r'{dir["ours.npy"]}'); print(a.dtype, a.shape, bool((a == b).all()))";
        Assert.Equal("uint8 (19, 23) True", ExternalTools.RunPython(py).Trim());
    }

    [Fact]
    public void ColourPngIsConvertedToLuma()
    {
        using var dir = new TempDir();
        var info = new SKImageInfo(4, 1, SKColorType.Rgba8888, SKAlphaType.Opaque);
        using (var bmp = new SKBitmap(info))
        {
            bmp.SetPixel(0, 0, new SKColor(255, 0, 0));
            bmp.SetPixel(1, 0, new SKColor(0, 255, 0));
            bmp.SetPixel(2, 0, new SKColor(0, 0, 255));
            bmp.SetPixel(3, 0, new SKColor(100, 100, 100));
            using var img = SKImage.FromBitmap(bmp);
            using var data = img.Encode(SKEncodedImageFormat.Png, 100);
            File.WriteAllBytes(dir["rgb.png"], data.ToArray());
        }
        var (depth, colorType, _, _) = Ihdr(dir["rgb.png"]);
        output.WriteLine($"encoded colour PNG: bit depth {depth}, colour type {colorType}");
        Assert.True(colorType is 2 or 6, $"expected an RGB(A) PNG, got colour type {colorType}");
        var y = Png.Read(dir["rgb.png"]).reshape(-1).data<float>().ToArray();
        var expected = new[] { 0.299, 0.587, 0.114, 100 / 255.0 };
        for (int i = 0; i < 4; i++) Assert.Equal(expected[i], y[i], 6);
    }

    public static IEnumerable<object[]> BadFiles()
    {
        using var dir = new TempDir();
        Png.Write(dir["ok.png"], torch.rand(16, 16, generator: new torch.Generator(1)));
        var ok = File.ReadAllBytes(dir["ok.png"]);
        yield return new object[] { "text", System.Text.Encoding.ASCII.GetBytes("hello, not a png") };
        yield return new object[] { "empty", Array.Empty<byte>() };
        yield return new object[] { "truncated", ok[..(ok.Length / 2)] };
        yield return new object[] { "header-only", ok[..33] };
    }

    [Theory]
    [MemberData(nameof(BadFiles))]
    public void BadFilesRaiseInvalidInputFileWithPath(string name, byte[] bytes)
    {
        using var dir = new TempDir();
        string path = dir[name + ".png"];
        File.WriteAllBytes(path, bytes);
        var ex = Assert.Throws<InvalidInputFileException>(() => Png.Read(path));
        output.WriteLine(ex.Message);
        Assert.StartsWith(path + ": ", ex.Message);
        var missing = Assert.Throws<InvalidInputFileException>(() => Png.Read(dir["missing.png"]));
        Assert.StartsWith(dir["missing.png"] + ": ", missing.Message);
    }

    [Fact]
    public void InvalidArgumentsThrowAndLeaveNoFile()
    {
        using var dir = new TempDir();
        Assert.Throws<ArgumentException>(() => Png.Write(dir["a.png"], torch.rand(2, 3, 4)));
        Assert.Throws<ArgumentException>(() => Png.Write(dir["b.png"], torch.rand(3, 4), 1.0, 1.0));
        Assert.Throws<ArgumentException>(() => Png.WriteMontage(dir["c.png"], new[] { torch.rand(3, 4), torch.rand(4, 3) }));
        Assert.Throws<ArgumentException>(() => Png.WriteMontage(dir["d.png"], new[] { torch.rand(3, 4) }, new[] { "a", "b" }));
        Assert.Throws<ArgumentException>(() => Png.WriteMontage(dir["e.png"], Array.Empty<Tensor>()));
        Assert.Empty(Directory.GetFiles(dir.Path));
    }
}
