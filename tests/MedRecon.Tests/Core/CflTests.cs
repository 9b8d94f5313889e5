using MedRecon.Core;
using MedRecon.Core.IO;
using MedRecon.Tests.Infrastructure;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace MedRecon.Tests.Core;

public class CflTests
{
    readonly ITestOutputHelper output;
    public CflTests(ITestOutputHelper output) => this.output = output;

    static Tensor RandomComplex(long[] shape, ulong seed)
    {
        var g = new torch.Generator(seed);
        return torch.complex(torch.randn(shape, generator: g), torch.randn(shape, generator: g));
    }

    static void AssertBitEqual(Tensor expected, Tensor actual)
    {
        Assert.Equal(expected.shape, actual.shape);
        Assert.Equal(expected.dtype, actual.dtype);
        Assert.True(expected.contiguous().bytes.SequenceEqual(actual.contiguous().bytes), "tensor bytes differ");
    }

    static string[] BartArgs(params object[] args) => args.Select(a => Convert.ToString(a, System.Globalization.CultureInfo.InvariantCulture)!).ToArray();

    static void RunBart(string bart, string dir, params object[] args)
    {
        var (code, so, se) = ExternalTools.Run(bart, BartArgs(args), workingDirectory: dir);
        Assert.True(code == 0, $"bart {string.Join(" ", args)} failed ({code}): {se}{so}");
    }

    [Theory]
    [InlineData(new long[0])]
    [InlineData(new long[] { 7 })]
    [InlineData(new long[] { 3, 4, 5 })]
    [InlineData(new long[] { 2, 1, 6, 3 })]
    public void RoundTripIsExact(long[] shape)
    {
        using var scope = NewDisposeScope();
        using var dir = new TempDir();
        var x = RandomComplex(shape, 11);
        Cfl.Write(dir["x"], x);
        AssertBitEqual(x, Cfl.Read(dir["x"]));
        // A path with the extension is accepted as the base name.
        AssertBitEqual(x, Cfl.Read(dir["x.cfl"]));
        Assert.Equal(new[] { "x.cfl", "x.hdr" }, Directory.GetFiles(dir.Path).Select(Path.GetFileName).Order().ToArray());
    }

    [Fact]
    public void LeadingUnitAxesAreNotPreserved()
    {
        // Documented limitation: BART cannot tell C-order leading 1s from its implicit trailing 1s.
        using var dir = new TempDir();
        Cfl.Write(dir["x"], torch.ones(1, 4));
        Assert.Equal(new long[] { 4 }, Cfl.Read(dir["x"]).shape);
    }

    [Fact]
    public void HeaderListsDimsReversedAndPaddedTo16()
    {
        using var dir = new TempDir();
        Cfl.Write(dir["x"], torch.zeros(new long[] { 3, 4, 5 }, ScalarType.ComplexFloat32));
        var lines = File.ReadAllLines(dir["x.hdr"]);
        Assert.Equal("# Dimensions", lines[0]);
        Assert.Equal(new long[] { 5, 4, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 },
            lines[1].Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(long.Parse).ToArray());
        Assert.Equal(3L * 4 * 5 * 8, new FileInfo(dir["x.cfl"]).Length);
        Assert.Equal(new long[] { 5, 4, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 }, Cfl.ReadBartDims(dir["x"]));
    }

    [Fact]
    public void RealInputIsPromotedAndViewsAreWrittenCorrectly()
    {
        using var scope = NewDisposeScope();
        using var dir = new TempDir();
        var big = torch.arange(0, 60, dtype: ScalarType.Float64).reshape(3, 4, 5);
        var view = big[1].t();   // non-contiguous view with a storage offset
        Cfl.Write(dir["v"], view);
        var back = Cfl.Read(dir["v"]);
        Assert.Equal(new long[] { 5, 4 }, back.shape);
        Assert.Equal(ScalarType.ComplexFloat32, back.dtype);
        Assert.True(TensorAssert.Same(back, view.to(ScalarType.ComplexFloat32)));
    }

    [Fact]
    public void OverwriteReplacesAndLeavesNoTemporaries()
    {
        using var dir = new TempDir();
        Cfl.Write(dir["x"], torch.ones(4, 4));
        Cfl.Write(dir["x"], torch.zeros(2, 3));
        Assert.Equal(new long[] { 2, 3 }, Cfl.Read(dir["x"]).shape);
        Assert.Equal(2, Directory.GetFiles(dir.Path).Length);
    }

    [Fact]
    public void WriteRejectsEmptyAndTooManyDims()
    {
        using var dir = new TempDir();
        Assert.Throws<ArgumentException>(() => Cfl.Write(dir["e"], torch.zeros(0, 3)));
        Assert.Throws<ArgumentException>(() => Cfl.Write(dir["r"], torch.zeros(Enumerable.Repeat(1L, 17).ToArray())));
        Assert.Empty(Directory.GetFiles(dir.Path));
    }

    public static IEnumerable<object[]> BadFiles()
    {
        // name, hdr text (null = missing), cfl byte count (-1 = missing), which file the message must name
        yield return new object[] { "missing-hdr", null!, 64, ".hdr" };
        yield return new object[] { "missing-cfl", "# Dimensions\n2 4 1 1\n", -1, ".cfl" };
        yield return new object[] { "truncated-cfl", "# Dimensions\n2 4 1 1\n", 63, ".cfl" };
        yield return new object[] { "too-long-cfl", "# Dimensions\n2 4 1 1\n", 72, ".cfl" };
        yield return new object[] { "no-dims-section", "2 4 1 1\n", 64, ".hdr" };
        yield return new object[] { "dims-missing", "# Dimensions\n", 64, ".hdr" };
        yield return new object[] { "dims-not-numbers", "# Dimensions\n2 x 1 1\n", 64, ".hdr" };
        yield return new object[] { "zero-dim", "# Dimensions\n2 0 1\n", 0, ".hdr" };
        yield return new object[] { "negative-dim", "# Dimensions\n2 -4 1\n", 64, ".hdr" };
        yield return new object[] { "17-dims", "# Dimensions\n2 4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1\n", 64, ".hdr" };
        yield return new object[] { "overflow", "# Dimensions\n9223372036854775807 4\n", 64, ".hdr" };
        yield return new object[] { "empty-hdr", "", 64, ".hdr" };
    }

    [Theory]
    [MemberData(nameof(BadFiles))]
    public void BadFilesRaiseInvalidInputFileWithPath(string name, string? hdr, int cflBytes, string culprit)
    {
        using var dir = new TempDir();
        string b = dir[name];
        if (hdr != null) File.WriteAllText(b + ".hdr", hdr);
        if (cflBytes >= 0) File.WriteAllBytes(b + ".cfl", new byte[cflBytes]);
        var ex = Assert.Throws<InvalidInputFileException>(() => Cfl.Read(b));
        Assert.Equal(b + culprit, ex.FilePath);
        Assert.StartsWith(b + culprit + ": ", ex.Message);
        output.WriteLine(ex.Message);
    }

    [SkippableFact]
    public void ReadsBartOnesWithReversedDims()
    {
        string bart = ExternalTools.RequireTool("bart", "bart");
        using var dir = new TempDir();
        RunBart(bart, dir.Path, "ones", 3, 4, 3, 2, "o");
        var o = Cfl.Read(dir["o"]);
        Assert.Equal(new long[] { 2, 3, 4 }, o.shape);
        Assert.True(TensorAssert.Same(o, torch.ones(new long[] { 2, 3, 4 }, ScalarType.ComplexFloat32)));
    }

    [SkippableFact]
    public void BartDim0IsTheLastCOrderAxis()
    {
        string bart = ExternalTools.RequireTool("bart", "bart");
        using var scope = NewDisposeScope();
        using var dir = new TempDir();
        var x = RandomComplex(new long[] { 6, 8 }, 3);   // C order (ky, kx)
        Cfl.Write(dir["x"], x);
        RunBart(bart, dir.Path, "slice", 0, 2, "x", "s0");   // BART dim 0 = kx = last C axis
        RunBart(bart, dir.Path, "slice", 1, 5, "x", "s1");   // BART dim 1 = ky = first C axis
        RunBart(bart, dir.Path, "scale", "2", "x", "x2");
        // BART keeps the sliced dim as size 1: dims [1, 6] are C shape (6, 1).
        Assert.True(TensorAssert.Same(Cfl.Read(dir["s0"]), x[.., TensorIndex.Slice(2, 3)]));
        Assert.True(TensorAssert.Same(Cfl.Read(dir["s1"]), x[5]));
        Assert.True(TensorAssert.Same(Cfl.Read(dir["x2"]), x * 2));
    }

    /// <summary>
    /// BART <c>fft -u 3</c> on our (ky, kx) C-order array transforms BART dims 0 (= kx) and 1 (= ky), i.e. both axes;
    /// it equals <see cref="Fft.Centered2D"/>. <c>fft -u 1</c> transforms only kx, our last axis.
    /// </summary>
    [SkippableTheory]
    [InlineData(12, 10)]
    [InlineData(16, 16)]
    [InlineData(9, 7)]
    public void BartUnitaryFftMatchesCentered2D(long ny, long nx)
    {
        string bart = ExternalTools.RequireTool("bart", "bart");
        using var scope = NewDisposeScope();
        using var dir = new TempDir();
        var x = RandomComplex(new long[] { ny, nx }, 5);
        Cfl.Write(dir["x"], x);
        RunBart(bart, dir.Path, "fft", "-u", 3, "x", "k");
        RunBart(bart, dir.Path, "fft", "-u", "-i", 3, "k", "xi");
        RunBart(bart, dir.Path, "fft", "-u", 1, "x", "kx");

        var k = Cfl.Read(dir["k"]);
        var expected = Fft.Centered2D(x);
        double rel = Tensors.Norm(k - expected) / Tensors.Norm(expected);
        output.WriteLine($"{ny}x{nx}: ‖bart fft -u 3 − Fft.Centered2D‖/‖·‖ = {rel:E2}");
        Assert.True(rel < 1e-5, $"relative difference {rel}");

        double relInv = Tensors.Norm(Cfl.Read(dir["xi"]) - Fft.InverseCentered2D(k)) / Tensors.Norm(x);
        Assert.True(relInv < 1e-5, $"inverse relative difference {relInv}");

        long[] last = { -1 };
        var kx = fft.fftshift(fft.fftn(fft.ifftshift(x, last), dim: last, norm: FFTNormType.Ortho), last);
        double relKx = Tensors.Norm(Cfl.Read(dir["kx"]) - kx) / Tensors.Norm(kx);
        output.WriteLine($"{ny}x{nx}: bart fft -u 1 vs centred FFT over the last C axis: {relKx:E2}");
        Assert.True(relKx < 1e-5, $"fft -u 1 relative difference {relKx}");
    }
}
