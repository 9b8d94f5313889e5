using System.Globalization;
using System.IO.Compression;
using System.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace MedRecon.Core.IO;

/// <summary>A volume read from an NRRD file.</summary>
/// <param name="Data">The samples, axes reversed from NRRD order so the fastest axis is last (C order): an NRRD with
/// <c>sizes: 256 256 25</c> gives a tensor of shape (25, 256, 256), i.e. (slice, row, col).</param>
/// <param name="Sizes">The sizes in NRRD order (fastest first).</param>
/// <param name="Spacings">Sample spacing per axis in NRRD order (from <c>spacings</c> or the norms of
/// <c>space directions</c>); NaN where unknown.</param>
/// <param name="Fields">All header fields (keys lower-case).</param>
public sealed record NrrdVolume(Tensor Data, long[] Sizes, double[] Spacings, IReadOnlyDictionary<string, string> Fields);

/// <summary>
/// NRRD reader (teem format NRRD0001–NRRD0005): attached or detached (single <c>data file</c>) data, encodings raw and
/// gzip, little-endian (or single-byte) integer types int8/uint8/int16/uint16/int32/uint32/int64 and float/double.
/// Malformed input raises <see cref="InvalidInputFileException"/> before any allocation larger than the file allows.
/// </summary>
public static class Nrrd
{
    static readonly Dictionary<string, (ScalarType Type, int Size)> Types = new(StringComparer.OrdinalIgnoreCase)
    {
        ["signed char"] = (ScalarType.Int8, 1), ["int8"] = (ScalarType.Int8, 1), ["int8_t"] = (ScalarType.Int8, 1),
        ["uchar"] = (ScalarType.Byte, 1), ["unsigned char"] = (ScalarType.Byte, 1), ["uint8"] = (ScalarType.Byte, 1), ["uint8_t"] = (ScalarType.Byte, 1),
        ["short"] = (ScalarType.Int16, 2), ["short int"] = (ScalarType.Int16, 2), ["signed short"] = (ScalarType.Int16, 2),
        ["signed short int"] = (ScalarType.Int16, 2), ["int16"] = (ScalarType.Int16, 2), ["int16_t"] = (ScalarType.Int16, 2),
        ["ushort"] = (ScalarType.Int32, 2), ["unsigned short"] = (ScalarType.Int32, 2), ["unsigned short int"] = (ScalarType.Int32, 2),
        ["uint16"] = (ScalarType.Int32, 2), ["uint16_t"] = (ScalarType.Int32, 2),
        ["int"] = (ScalarType.Int32, 4), ["signed int"] = (ScalarType.Int32, 4), ["int32"] = (ScalarType.Int32, 4), ["int32_t"] = (ScalarType.Int32, 4),
        ["uint"] = (ScalarType.Int64, 4), ["unsigned int"] = (ScalarType.Int64, 4), ["uint32"] = (ScalarType.Int64, 4), ["uint32_t"] = (ScalarType.Int64, 4),
        ["longlong"] = (ScalarType.Int64, 8), ["long long"] = (ScalarType.Int64, 8), ["long long int"] = (ScalarType.Int64, 8),
        ["signed long long"] = (ScalarType.Int64, 8), ["signed long long int"] = (ScalarType.Int64, 8), ["int64"] = (ScalarType.Int64, 8), ["int64_t"] = (ScalarType.Int64, 8),
        ["float"] = (ScalarType.Float32, 4), ["double"] = (ScalarType.Float64, 8),
    };

    /// <summary>Reads the file. uint16 is widened to int32 and uint32 to int64 (torch has no unsigned 16/32-bit types).</summary>
    public static NrrdVolume Read(string path)
    {
        byte[] all;
        try { all = File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        { throw new InvalidInputFileException(path, $"cannot open: {e.Message}", e); }

        // Header: lines up to the first empty line (attached data follows it) or end of file (detached header).
        if (all.Length < 8 || Encoding.ASCII.GetString(all, 0, 4) != "NRRD")
            throw new InvalidInputFileException(path, "not an NRRD file (missing NRRD000x magic)");
        int pos = 0;
        var fields = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        bool first = true;
        int dataStart = -1;
        while (pos < all.Length)
        {
            int nl = Array.IndexOf(all, (byte)'\n', pos);
            int end = nl < 0 ? all.Length : nl;
            if (end - pos > 1 << 20) throw new InvalidInputFileException(path, $"header line at offset {pos} is implausibly long");
            string line = Encoding.Latin1.GetString(all, pos, end - pos).TrimEnd('\r');
            pos = nl < 0 ? all.Length : nl + 1;
            if (first)
            {
                first = false;
                if (!line.StartsWith("NRRD000", StringComparison.Ordinal))
                    throw new InvalidInputFileException(path, $"not an NRRD file (magic '{line}')");
                continue;
            }
            if (line.Length == 0) { dataStart = pos; break; }
            if (line.StartsWith('#')) continue;
            int colon = line.IndexOf(": ", StringComparison.Ordinal);
            if (colon < 0)
            {
                if (line.Contains(":=")) continue; // key/value pairs: ignored
                throw new InvalidInputFileException(path, $"malformed header line '{line}'");
            }
            fields[line[..colon].Trim().ToLowerInvariant()] = line[(colon + 2)..].Trim();
        }

        string Need(string key) => fields.TryGetValue(key, out var v) ? v
            : throw new InvalidInputFileException(path, $"required NRRD field '{key}' is missing");

        if (!Types.TryGetValue(Need("type"), out var type))
            throw new InvalidInputFileException(path, $"unsupported NRRD type '{fields["type"]}' (supported: int8..int64, uint8..uint32, float, double)");
        if (!int.TryParse(Need("dimension"), NumberStyles.Integer, CultureInfo.InvariantCulture, out int dim) || dim < 1 || dim > 16)
            throw new InvalidInputFileException(path, $"bad dimension '{fields["dimension"]}'");
        var sizeParts = Need("sizes").Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (sizeParts.Length != dim) throw new InvalidInputFileException(path, $"'sizes' has {sizeParts.Length} entries, dimension is {dim}");
        var sizes = sizeParts.Select(s => long.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) && v > 0
            ? v : throw new InvalidInputFileException(path, $"bad size '{s}'")).ToArray();
        long count = 1;
        try { foreach (var s in sizes) count = checked(count * s); }
        catch (OverflowException) { throw new InvalidInputFileException(path, "sizes overflow"); }
        long bytes;
        try { bytes = checked(count * type.Size); }
        catch (OverflowException) { throw new InvalidInputFileException(path, "data size overflows"); }
        if (bytes > Array.MaxLength) throw new InvalidInputFileException(path, $"volume of {bytes} bytes is too large");

        string endian = fields.TryGetValue("endian", out var en) ? en.ToLowerInvariant() : "little";
        if (type.Size > 1 && endian != "little")
            throw new InvalidInputFileException(path, $"endian '{endian}' is not supported (only little)");
        string encoding = Need("encoding").ToLowerInvariant();
        long byteSkip = fields.TryGetValue("byte skip", out var bs) && long.TryParse(bs, NumberStyles.Integer, CultureInfo.InvariantCulture, out var b) ? b : 0;
        if (fields.ContainsKey("line skip") && fields["line skip"] != "0")
            throw new InvalidInputFileException(path, "'line skip' is not supported");

        // Where the data lives.
        byte[] source;
        int offset;
        string dataName = path;
        if (fields.TryGetValue("data file", out var df) || fields.TryGetValue("datafile", out df))
        {
            if (df.StartsWith("LIST", StringComparison.Ordinal) || df.Contains('%'))
                throw new InvalidInputFileException(path, $"multi-file detached data ('{df}') is not supported");
            dataName = Path.IsPathRooted(df) ? df : Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path)) ?? ".", df);
            try { source = File.ReadAllBytes(dataName); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            { throw new InvalidInputFileException(path, $"cannot open detached data file '{df}': {e.Message}", e); }
            offset = 0;
        }
        else
        {
            if (dataStart < 0) throw new InvalidInputFileException(path, "no data after the header (missing blank line)");
            source = all;
            offset = dataStart;
        }

        byte[] raw;
        switch (encoding)
        {
            case "raw":
                if (byteSkip == -1) offset = (int)Math.Max(0, source.Length - bytes);
                else offset = checked(offset + (int)Math.Max(0, byteSkip));
                if (source.Length - (long)offset < bytes)
                    throw new InvalidInputFileException(dataName, $"truncated: sizes {string.Join("x", sizes)} of {fields["type"]} need {bytes} bytes, {source.Length - (long)offset} present after offset {offset}");
                raw = source.AsSpan(offset, (int)bytes).ToArray();
                break;
            case "gzip":
            case "gz":
                raw = new byte[bytes];
                try
                {
                    using var gz = new GZipStream(new MemoryStream(source, offset, source.Length - offset), CompressionMode.Decompress);
                    long skip = Math.Max(0, byteSkip);
                    var scratch = new byte[65536];
                    while (skip > 0)
                    {
                        int n = gz.Read(scratch, 0, (int)Math.Min(skip, scratch.Length));
                        if (n == 0) break;
                        skip -= n;
                    }
                    int done = 0;
                    while (done < raw.Length)
                    {
                        int n = gz.Read(raw, done, raw.Length - done);
                        if (n == 0) break;
                        done += n;
                    }
                    if (done < raw.Length)
                        throw new InvalidInputFileException(dataName, $"truncated gzip data: decompressed {done} of {bytes} bytes");
                }
                catch (InvalidDataException e)
                { throw new InvalidInputFileException(dataName, $"corrupt gzip data at offset {offset}: {e.Message}", e); }
                break;
            default:
                throw new InvalidInputFileException(path, $"encoding '{encoding}' is not supported (raw, gzip)");
        }

        var shape = sizes.Reverse().ToArray();
        Tensor data;
        string t = fields["type"].ToLowerInvariant();
        bool unsigned16 = type.Size == 2 && type.Type == ScalarType.Int32;
        bool unsigned32 = type.Size == 4 && type.Type == ScalarType.Int64;
        if (unsigned16)
        {
            var v = new int[count];
            for (long i = 0; i < count; i++) v[i] = BitConverter.ToUInt16(raw, (int)(2 * i));
            data = torch.tensor(v).reshape(shape);
        }
        else if (unsigned32)
        {
            var v = new long[count];
            for (long i = 0; i < count; i++) v[i] = BitConverter.ToUInt32(raw, (int)(4 * i));
            data = torch.tensor(v).reshape(shape);
        }
        else
        {
            data = torch.empty(shape, type.Type);
            if (bytes > 0) data.bytes = raw;
        }

        var spacings = Enumerable.Repeat(double.NaN, dim).ToArray();
        if (fields.TryGetValue("spacings", out var sp))
        {
            var parts = sp.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            for (int i = 0; i < Math.Min(dim, parts.Length); i++)
                if (double.TryParse(parts[i], NumberStyles.Float, CultureInfo.InvariantCulture, out var v)) spacings[i] = v;
        }
        else if (fields.TryGetValue("space directions", out var sd))
        {
            var parts = sd.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            for (int i = 0; i < Math.Min(dim, parts.Length); i++)
            {
                if (parts[i] == "none") continue;
                var comps = parts[i].Trim('(', ')').Split(',');
                double ss = 0;
                bool ok = true;
                foreach (var c in comps)
                {
                    if (double.TryParse(c, NumberStyles.Float, CultureInfo.InvariantCulture, out var v)) ss += v * v;
                    else ok = false;
                }
                if (ok) spacings[i] = Math.Sqrt(ss);
            }
        }
        return new NrrdVolume(data, sizes, spacings, fields);
    }
}
