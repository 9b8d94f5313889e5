using System.Security.Cryptography;
using System.Text;
using MedRecon.Core.IO;
using MedRecon.Tests.Infrastructure;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace MedRecon.Tests.Core;

public class NpyTests
{
    readonly ITestOutputHelper output;
    public NpyTests(ITestOutputHelper output) => this.output = output;

    static readonly long[][] Shapes = { new long[0], new long[] { 5 }, new long[] { 3, 4 }, new long[] { 2, 3, 4 }, new long[] { 2, 1, 3, 2 } };

    static readonly (ScalarType Type, string Numpy)[] Types =
    {
        (ScalarType.Float32, "float32"), (ScalarType.Float64, "float64"), (ScalarType.ComplexFloat32, "complex64"),
        (ScalarType.Int16, "int16"), (ScalarType.Byte, "uint8"), (ScalarType.Bool, "bool"),
    };

    public static IEnumerable<object[]> TypeAndRank() =>
        from t in Enumerable.Range(0, Types.Length) from r in Enumerable.Range(0, Shapes.Length) select new object[] { t, r };

    static Tensor Sample(ScalarType type, long[] shape, ulong seed)
    {
        var g = new torch.Generator(seed);
        return type switch
        {
            ScalarType.Float32 or ScalarType.Float64 => torch.randn(shape, dtype: type, generator: g) * 1e3,
            ScalarType.ComplexFloat32 => torch.complex(torch.randn(shape, generator: g), torch.randn(shape, generator: g)),
            ScalarType.Int16 => torch.randint(-32768, 32767, shape, dtype: ScalarType.Int16, generator: g),
            ScalarType.Byte => torch.randint(0, 256, shape, dtype: ScalarType.Byte, generator: g),
            ScalarType.Bool => torch.rand(shape, generator: g) < 0.5,
            _ => throw new ArgumentOutOfRangeException(nameof(type)),
        };
    }

    static byte[] Bytes(Tensor t) => t.contiguous().clone().bytes.ToArray();

    static string Sha(byte[] b) => Convert.ToHexString(SHA256.HashData(b)).ToLowerInvariant();

    [Theory]
    [MemberData(nameof(TypeAndRank))]
    public void RoundTripIsExact(int typeIndex, int rankIndex)
    {
        using var scope = NewDisposeScope();
        using var dir = new TempDir();
        var (type, _) = Types[typeIndex];
        var x = Sample(type, Shapes[rankIndex], (ulong)(10 * typeIndex + rankIndex));
        Npy.Write(dir["x.npy"], x);
        var y = Npy.Read(dir["x.npy"]);
        Assert.Equal(type, y.dtype);
        Assert.Equal(x.shape, y.shape);
        Assert.Equal(Bytes(x), Bytes(y));
        Assert.Single(Directory.GetFiles(dir.Path));
        // The header (magic + lengths + dict) is padded to a multiple of 64 bytes, as numpy writes it.
        Assert.Equal(0, (new FileInfo(dir["x.npy"]).Length - Bytes(x).Length) % 64);
    }

    [Fact]
    public void WritesViewsWithOffsetsAndStrides()
    {
        using var scope = NewDisposeScope();
        using var dir = new TempDir();
        var big = torch.arange(0, 60, dtype: ScalarType.Float32).reshape(3, 4, 5);
        foreach (var (name, view) in new[] { ("row", big[2]), ("t", big[1].t()), ("step", big[.., 1, TensorIndex.Slice(0, 5, 2)]) })
        {
            Npy.Write(dir[name + ".npy"], view);
            var back = Npy.Read(dir[name + ".npy"]);
            Assert.True(TensorAssert.Same(back, view), name);
        }
    }

    [SkippableFact]
    public void ReadsWhatNumpyWrites()
    {
        ExternalTools.RequirePython("numpy");
        using var scope = NewDisposeScope();
        using var dir = new TempDir();
        // numpy writes each array (format 1.0, plus 2.0 and 3.0 variants) and its raw C-order bytes.
        string script = """
import sys, os, numpy as np
d = sys.argv[1]
rng = np.random.default_rng(7)
shapes = [(), (5,), (3, 4), (2, 3, 4), (2, 1, 3, 2)]
for dt in ['float32', 'float64', 'complex64', 'int16', 'uint8', 'bool']:
    for r, s in enumerate(shapes):
        if dt == 'bool': a = rng.random(s) < 0.5
        elif dt == 'uint8': a = rng.integers(0, 256, s).astype(dt)
        elif dt == 'int16': a = rng.integers(-32768, 32768, s).astype(dt)
        elif dt == 'complex64': a = (rng.standard_normal(s) + 1j * rng.standard_normal(s)).astype(dt)
        else: a = (rng.standard_normal(s) * 1e3).astype(dt)
        a = np.asarray(a)
        np.save(os.path.join(d, f'{dt}_{r}.npy'), a)
        open(os.path.join(d, f'{dt}_{r}.raw'), 'wb').write(np.ascontiguousarray(a).tobytes())
        print(f'{dt}_{r}', a.dtype.str, ','.join(map(str, a.shape)))
a = np.arange(12, dtype='<f4').reshape(3, 4)
for v in [(2, 0), (3, 0)]:
    with open(os.path.join(d, f'v{v[0]}.npy'), 'wb') as f: np.lib.format.write_array(f, a, version=v)
""";
        string py = dir["gen.py"];
        File.WriteAllText(py, script);
        var (code, stdout, stderr) = ExternalTools.Run(ExternalTools.DebianPython, new[] { py, dir.Path });
        Assert.True(code == 0, stderr);
        int n = 0;
        foreach (var line in stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var f = line.Split(' ');
            var t = Npy.Read(dir[f[0] + ".npy"]);
            long[] shape = f.Length > 2 && f[2].Length > 0 ? f[2].Split(',').Select(long.Parse).ToArray() : Array.Empty<long>();
            Assert.Equal(shape, t.shape);
            Assert.Equal(File.ReadAllBytes(dir[f[0] + ".raw"]), Bytes(t));
            n++;
        }
        Assert.Equal(30, n);
        foreach (var v in new[] { "v2", "v3" })
            Assert.True(TensorAssert.Same(Npy.Read(dir[v + ".npy"]), torch.arange(0, 12, dtype: ScalarType.Float32).reshape(3, 4)), v);
    }

    [SkippableFact]
    public void NumpyReadsWhatWeWrite()
    {
        ExternalTools.RequirePython("numpy");
        using var scope = NewDisposeScope();
        using var dir = new TempDir();
        var expected = new List<string>();
        for (int ti = 0; ti < Types.Length; ti++)
        for (int ri = 0; ri < Shapes.Length; ri++)
        {
            var (type, np) = Types[ti];
            var x = Sample(type, Shapes[ri], (ulong)(100 + 10 * ti + ri));
            string name = $"{np}_{ri}";
            Npy.Write(dir[name + ".npy"], x);
            expected.Add($"{name} {np} {string.Join(",", x.shape)} {Sha(Bytes(x))}");
        }
        string script = """
import sys, os, glob, hashlib, numpy as np
for p in sorted(glob.glob(os.path.join(sys.argv[1], '*.npy'))):
    a = np.load(p, allow_pickle=False)
    assert a.flags.c_contiguous
    print(os.path.basename(p)[:-4], a.dtype.name, ','.join(map(str, a.shape)), hashlib.sha256(a.tobytes()).hexdigest())
""";
        string py = dir["check.py"];
        File.WriteAllText(py, script);
        var (code, stdout, stderr) = ExternalTools.Run(ExternalTools.DebianPython, new[] { py, dir.Path });
        Assert.True(code == 0, stderr);
        var got = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(expected.Order(StringComparer.Ordinal).ToArray(), got);
    }

    [Theory]
    [InlineData(ScalarType.Float16)]
    [InlineData(ScalarType.ComplexFloat64)]
    [InlineData(ScalarType.Int8)]
    [InlineData(ScalarType.Int32)]
    [InlineData(ScalarType.Int64)]
    public void OtherSupportedDtypesRoundTrip(ScalarType type)
    {
        using var scope = NewDisposeScope();
        using var dir = new TempDir();
        var g = new torch.Generator(5);
        var x = type == ScalarType.ComplexFloat64
            ? torch.complex(torch.randn(new long[] { 3, 5 }, dtype: ScalarType.Float64, generator: g), torch.randn(new long[] { 3, 5 }, dtype: ScalarType.Float64, generator: g))
            : (torch.randn(new long[] { 3, 5 }, dtype: ScalarType.Float64, generator: g) * 100).to(type);
        Npy.Write(dir["x.npy"], x);
        Assert.True(TensorAssert.Same(x, Npy.Read(dir["x.npy"])));
    }

    /// <summary>A stream that cannot seek, like a compressed .npz member.</summary>
    sealed class ForwardOnlyStream(Stream inner) : Stream
    {
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    [Fact]
    public void NonSeekableStreamsReadAndRejectOversizedHeaders()
    {
        using var scope = NewDisposeScope();
        var x = torch.arange(0, 12, dtype: ScalarType.Float32).reshape(3, 4);
        var ms = new MemoryStream();
        Npy.Write(ms, x);
        ms.Position = 0;
        Assert.True(TensorAssert.Same(x, Npy.Read(new ForwardOnlyStream(ms), "member.npy")));
        // Declares 512 MB of float64 but holds 48 bytes: fails as truncated without allocating the declared size.
        var bad = NpyFile("{'descr': '<f8', 'fortran_order': False, 'shape': (8192, 8192), }\n", 48);
        var ex = Assert.Throws<InvalidInputFileException>(() => Npy.Read(new ForwardOnlyStream(new MemoryStream(bad)), "member.npy"));
        Assert.StartsWith("member.npy: truncated", ex.Message);
    }

    static byte[] NpyFile(string header, int dataBytes, byte major = 1)
    {
        var h = Encoding.Latin1.GetBytes(header);
        var ms = new MemoryStream();
        ms.Write(new byte[] { 0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', major, 0 });
        if (major == 1) ms.Write(BitConverter.GetBytes((ushort)h.Length));
        else ms.Write(BitConverter.GetBytes((uint)h.Length));
        ms.Write(h);
        ms.Write(new byte[dataBytes]);
        return ms.ToArray();
    }

    const string GoodHeader = "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }\n";

    public static IEnumerable<object[]> BadFiles()
    {
        var good = NpyFile(GoodHeader, 48);
        yield return new object[] { "empty", Array.Empty<byte>(), "magic" };
        yield return new object[] { "wrong-magic", good.Select((b, i) => i == 1 ? (byte)'X' : b).ToArray(), "magic" };
        yield return new object[] { "png", new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0 }, "magic" };
        yield return new object[] { "truncated-data", good[..^1], "truncated" };
        yield return new object[] { "truncated-header", good[..20], "truncated" };
        yield return new object[] { "truncated-length", good[..9], "truncated" };
        yield return new object[] { "fortran", NpyFile("{'descr': '<f4', 'fortran_order': True, 'shape': (3, 4), }\n", 48), "Fortran" };
        yield return new object[] { "uint32", NpyFile("{'descr': '<u4', 'fortran_order': False, 'shape': (3, 4), }\n", 48), "dtype" };
        yield return new object[] { "unicode", NpyFile("{'descr': '<U3', 'fortran_order': False, 'shape': (2,), }\n", 24), "dtype" };
        yield return new object[] { "object", NpyFile("{'descr': '|O', 'fortran_order': False, 'shape': (2,), }\n", 16), "dtype" };
        yield return new object[] { "structured", NpyFile("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }\n", 8), "header" };
        yield return new object[] { "big-endian", NpyFile("{'descr': '>f4', 'fortran_order': False, 'shape': (3, 4), }\n", 48), "big-endian" };
        yield return new object[] { "garbage-header", NpyFile("hello world\n", 48), "header" };
        yield return new object[] { "no-shape", NpyFile("{'descr': '<f4', 'fortran_order': False, }\n", 48), "header" };
        yield return new object[] { "bad-shape", NpyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (3, x), }\n", 48), "shape" };
        yield return new object[] { "negative-shape", NpyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (-3, 4), }\n", 48), "shape" };
        yield return new object[] { "overflow-shape", NpyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 4), }\n", 48), "large" };
        yield return new object[] { "huge-shape", NpyFile("{'descr': '<f8', 'fortran_order': False, 'shape': (100000, 100000), }\n", 48), "truncated" };
        yield return new object[] { "version-9", NpyFile(GoodHeader, 48, 9), "version" };
    }

    [Theory]
    [MemberData(nameof(BadFiles))]
    public void BadFilesRaiseInvalidInputFileWithPath(string name, byte[] bytes, string hint)
    {
        using var dir = new TempDir();
        string path = dir[name + ".npy"];
        File.WriteAllBytes(path, bytes);
        var ex = Assert.Throws<InvalidInputFileException>(() => Npy.Read(path));
        output.WriteLine(ex.Message);
        Assert.Equal(path, ex.FilePath);
        Assert.StartsWith(path + ": ", ex.Message);
        Assert.Contains(hint, ex.Message, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void MissingFileRaisesInvalidInputFile()
    {
        using var dir = new TempDir();
        var ex = Assert.Throws<InvalidInputFileException>(() => Npy.Read(dir["nope.npy"]));
        Assert.StartsWith(dir["nope.npy"] + ": ", ex.Message);
    }

    [Fact]
    public void UnsupportedTensorDtypeIsRejectedWithoutLeavingAFile()
    {
        using var dir = new TempDir();
        Assert.Throws<ArgumentException>(() => Npy.Write(dir["b.npy"], torch.zeros(3, dtype: ScalarType.BFloat16)));
        Assert.Empty(Directory.GetFiles(dir.Path));
    }
}
