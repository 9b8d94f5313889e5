using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using TorchSharp;
using static TorchSharp.torch;

namespace MedRecon.Core.IO;

/// <summary>Thrown for unreadable or malformed input files; the message names the file and the problem.</summary>
public sealed class InvalidInputFileException : Exception
{
    public InvalidInputFileException(string path, string problem, Exception? inner = null)
        : base($"{path}: {problem}", inner)
    {
        FilePath = path;
        Problem = problem;
    }

    public string FilePath { get; }
    public string Problem { get; }
}

/// <summary>
/// NumPy .npy files (format versions 1–3), C order, little-endian or byte-order-free dtypes:
/// float32, float64, float16, complex64, complex128, int8/16/32/64, uint8, bool. Any rank (0 included).
/// (TorchSharp 0.107 has no uint16/32 dtype, so those are rejected with a clear message.)
/// Reading returns a tensor of the matching torch dtype; complex128 and float64 stay double precision.
/// </summary>
public static class Npy
{
    static readonly byte[] Magic = { 0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y' };

    static readonly Dictionary<string, (ScalarType Type, int Size)> Dtypes = new()
    {
        ["f4"] = (ScalarType.Float32, 4), ["f8"] = (ScalarType.Float64, 8),
        ["c8"] = (ScalarType.ComplexFloat32, 8), ["c16"] = (ScalarType.ComplexFloat64, 16),
        ["i1"] = (ScalarType.Int8, 1), ["i2"] = (ScalarType.Int16, 2), ["i4"] = (ScalarType.Int32, 4),
        ["i8"] = (ScalarType.Int64, 8), ["u1"] = (ScalarType.Byte, 1), ["b1"] = (ScalarType.Bool, 1),
        ["f2"] = (ScalarType.Float16, 2),
    };

    public static Tensor Read(string path)
    {
        FileStream fs;
        try { fs = File.OpenRead(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        { throw new InvalidInputFileException(path, $"cannot open: {e.Message}", e); }
        using (fs) return Read(fs, path);
    }

    /// <summary>Reads one array from a stream (also used for the members of .npz archives).</summary>
    public static Tensor Read(Stream stream, string nameForErrors)
    {
        var head = new byte[10];
        if (ReadFully(stream, head, 0, 8) < 8 || !head.AsSpan(0, 6).SequenceEqual(Magic))
            throw new InvalidInputFileException(nameForErrors, "not a .npy file (missing \\x93NUMPY magic)");
        int major = head[6];
        int headerLen;
        if (major == 1)
        {
            if (ReadFully(stream, head, 8, 2) < 2) throw Truncated(nameForErrors, "header length");
            headerLen = BinaryPrimitives.ReadUInt16LittleEndian(head.AsSpan(8, 2));
        }
        else if (major is 2 or 3)
        {
            var l = new byte[4];
            if (ReadFully(stream, l, 0, 4) < 4) throw Truncated(nameForErrors, "header length");
            headerLen = (int)Math.Min(BinaryPrimitives.ReadUInt32LittleEndian(l), int.MaxValue);
        }
        else throw new InvalidInputFileException(nameForErrors, $"unsupported .npy format version {major}");
        if (headerLen > 1 << 20) throw new InvalidInputFileException(nameForErrors, $"implausible header length {headerLen}");
        var hb = new byte[headerLen];
        if (ReadFully(stream, hb, 0, headerLen) < headerLen) throw Truncated(nameForErrors, "header");
        string header = (major == 3 ? Encoding.UTF8 : Encoding.Latin1).GetString(hb);

        var descr = Regex.Match(header, @"'descr'\s*:\s*'([^']*)'");
        var order = Regex.Match(header, @"'fortran_order'\s*:\s*(True|False)");
        var shapeM = Regex.Match(header, @"'shape'\s*:\s*\(([^)]*)\)");
        if (!descr.Success || !order.Success || !shapeM.Success)
            throw new InvalidInputFileException(nameForErrors, $"malformed .npy header: {header.Trim()}");
        if (order.Groups[1].Value == "True")
            throw new InvalidInputFileException(nameForErrors, "Fortran-ordered arrays are not supported; save with np.ascontiguousarray");
        string d = descr.Groups[1].Value;
        char endian = d.Length > 0 ? d[0] : '?';
        string code = d.TrimStart('<', '>', '|', '=');
        if (endian == '>' && !code.EndsWith("1"))
            throw new InvalidInputFileException(nameForErrors, $"big-endian dtype '{d}' is not supported; convert with arr.astype(arr.dtype.newbyteorder('<'))");
        if (!Dtypes.TryGetValue(code, out var dt))
            throw new InvalidInputFileException(nameForErrors, $"unsupported dtype '{d}' (supported: {string.Join(", ", Dtypes.Keys)})");

        var shape = shapeM.Groups[1].Value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(s => long.TryParse(s.TrimEnd('L'), NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) && v >= 0
                ? v : throw new InvalidInputFileException(nameForErrors, $"bad shape entry '{s}'"))
            .ToArray();
        long count = 1, bytes;
        try
        {
            foreach (var s in shape) count = checked(count * s);
            bytes = checked(count * dt.Size);
        }
        catch (OverflowException)
        {
            throw new InvalidInputFileException(nameForErrors, $"shape {Tensors.ShapeString(shape)} is too large (element count overflows)");
        }
        if (stream.CanSeek && stream.Length - stream.Position < bytes)
            throw new InvalidInputFileException(nameForErrors,
                $"truncated: shape {Tensors.ShapeString(shape)} of {d} needs {bytes} bytes of data, file has {stream.Length - stream.Position}");
        if (bytes > Array.MaxLength) throw new InvalidInputFileException(nameForErrors, $"array of {bytes} bytes is too large");
        byte[] data;
        if (stream.CanSeek || bytes <= ChunkBytes)
        {
            data = new byte[bytes];
            if (ReadFully(stream, data, 0, (int)bytes) < bytes) throw Truncated(nameForErrors, "data");
        }
        else
        {
            // Unknown stream length (e.g. a compressed .npz member): grow with the data actually present, so a
            // header that declares more than the stream holds cannot force a huge allocation.
            using var ms = new MemoryStream(ChunkBytes);
            var chunk = new byte[ChunkBytes];
            long left = bytes;
            while (left > 0)
            {
                int want = (int)Math.Min(left, ChunkBytes);
                int got = ReadFully(stream, chunk, 0, want);
                ms.Write(chunk, 0, got);
                if (got < want) throw Truncated(nameForErrors, "data");
                left -= got;
            }
            data = ms.ToArray();
        }
        var t = torch.empty(shape, dt.Type);
        if (bytes > 0) t.bytes = data;
        return t;
    }

    public static void Write(string path, Tensor tensor)
    {
        // Write to a temporary file first so a failure never leaves a partial output behind.
        string tmp = path + ".tmp-" + Guid.NewGuid().ToString("N")[..8];
        try
        {
            using (var fs = File.Create(tmp)) Write(fs, tensor);
            File.Move(tmp, path, overwrite: true);
        }
        catch
        {
            try { File.Delete(tmp); } catch (IOException) { }
            throw;
        }
    }

    public static void Write(Stream stream, Tensor tensor)
    {
        var pair = Dtypes.FirstOrDefault(kv => kv.Value.Type == tensor.dtype);
        if (pair.Key is null) throw new ArgumentException($"cannot write dtype {tensor.dtype} to .npy");
        string endian = pair.Value.Size == 1 ? "|" : "<";
        string shape = tensor.dim() switch
        {
            0 => "()",
            1 => $"({tensor.shape[0]},)",
            _ => "(" + string.Join(", ", tensor.shape) + ")",
        };
        string header = $"{{'descr': '{endian}{pair.Key}', 'fortran_order': False, 'shape': {shape}, }}";
        int total = 10 + header.Length + 1;
        int pad = (64 - total % 64) % 64;
        header = header + new string(' ', pad) + "\n";
        var hb = Encoding.Latin1.GetBytes(header);
        stream.Write(Magic);
        stream.WriteByte(1);
        stream.WriteByte(0);
        Span<byte> len = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16LittleEndian(len, (ushort)hb.Length);
        stream.Write(len);
        stream.Write(hb);
        using var c = tensor.detach().cpu().contiguous();
        if (c.numel() > 0) stream.Write(c.bytes);
    }

    const int ChunkBytes = 1 << 24;

    static InvalidInputFileException Truncated(string path, string what) => new(path, $"truncated .npy file (ends inside the {what})");

    static int ReadFully(Stream s, byte[] buffer, int offset, int count)
    {
        int done = 0;
        while (done < count)
        {
            int n = s.Read(buffer, offset + done, count - done);
            if (n == 0) break;
            done += n;
        }
        return done;
    }
}
