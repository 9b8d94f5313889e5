using System.Globalization;
using TorchSharp;
using static TorchSharp.torch;

namespace MedRecon.Core.IO;

/// <summary>
/// BART .cfl/.hdr pairs: complex64 data in column-major (Fortran) order, dims in the .hdr.
/// <para>
/// Axis convention: BART's dims are column-major, so BART dim 0 is the fastest-varying axis, which is the
/// <em>last</em> axis of a C-order tensor. A C-order tensor of shape (a, b, c) is the BART array with dims
/// [c, b, a, 1, …, 1]; the bytes are identical, only the order in which the dims are listed differs. For k-space
/// stored as (ky, kx) in C order, BART dim 0 is kx and dim 1 is ky (so <c>bart fft -u 3</c> transforms both).
/// </para>
/// <para>
/// The header is "# Dimensions\n" followed by one line of up to 16 positive integers; other "# Section" blocks that
/// newer BART versions write are ignored on reading. Leading size-1 C-order axes do not survive a round trip (BART
/// cannot tell them from the implicit trailing 1s): shape (1, 4) is written as [4, 1, …] and read back as (4).
/// </para>
/// </summary>
public static class Cfl
{
    /// <summary>BART's maximum number of dims (DIMS in BART's misc/mri.h).</summary>
    public const int MaxDims = 16;

    /// <summary>
    /// Reads BASE.hdr/BASE.cfl into a complex64 tensor in C order with the reversed BART dims (trailing 1s dropped).
    /// A path ending in ".cfl" or ".hdr" is accepted and treated as its base name.
    /// </summary>
    public static Tensor Read(string basePath)
    {
        string b = BaseName(basePath);
        string hdr = b + ".hdr", cfl = b + ".cfl";
        long[] bartDims = ReadHeader(hdr);

        long count = 1;
        try
        {
            foreach (var d in bartDims) count = checked(count * d);
            _ = checked(count * 8);
        }
        catch (OverflowException)
        {
            throw new InvalidInputFileException(hdr, $"dims [{string.Join(", ", bartDims)}] are too large");
        }

        FileStream fs;
        try { fs = File.OpenRead(cfl); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        { throw new InvalidInputFileException(cfl, $"cannot open: {e.Message}", e); }
        using (fs)
        {
            long bytes = count * 8;
            if (fs.Length != bytes)
                throw new InvalidInputFileException(cfl,
                    $"{(fs.Length < bytes ? "truncated" : "size mismatch")}: dims [{string.Join(", ", bartDims)}] need {bytes} bytes of complex64 data, file has {fs.Length}");
            if (bytes > Array.MaxLength)
                throw new InvalidInputFileException(cfl, $"array of {bytes} bytes is too large");

            // Drop trailing BART 1s, then reverse: column-major [d0, d1, ..] == C order (.., d1, d0).
            int n = bartDims.Length;
            while (n > 0 && bartDims[n - 1] == 1) n--;
            var shape = new long[n];
            for (int i = 0; i < n; i++) shape[i] = bartDims[n - 1 - i];

            var data = new byte[bytes];
            int done = 0;
            while (done < data.Length)
            {
                int r = fs.Read(data, done, data.Length - done);
                if (r == 0) throw new InvalidInputFileException(cfl, $"truncated: ends after {done} of {bytes} bytes");
                done += r;
            }
            var t = torch.empty(shape, ScalarType.ComplexFloat32);
            if (bytes > 0) t.bytes = data;
            return t;
        }
    }

    /// <summary>Reads only the dims of BASE.hdr, in BART order (column-major, at least one entry).</summary>
    public static long[] ReadBartDims(string basePath) => ReadHeader(BaseName(basePath) + ".hdr");

    /// <summary>
    /// Writes a tensor (promoted to complex64) so that BART sees dims reversed (C order ⇔ BART column-major).
    /// Both files are written to temporary names first and then moved into place.
    /// </summary>
    public static void Write(string basePath, Tensor tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        string b = BaseName(basePath);
        int rank = (int)tensor.dim();
        if (rank > MaxDims)
            throw new ArgumentException($"BART supports at most {MaxDims} dims; tensor has shape {Tensors.ShapeString(tensor.shape)}");
        if (tensor.shape.Any(s => s == 0))
            throw new ArgumentException($"BART cannot store empty arrays; tensor has shape {Tensors.ShapeString(tensor.shape)}");

        var dims = new long[MaxDims];
        for (int i = 0; i < MaxDims; i++) dims[i] = i < rank ? tensor.shape[rank - 1 - i] : 1;
        string header = "# Dimensions\n" + string.Join(" ", dims.Select(d => d.ToString(CultureInfo.InvariantCulture))) + " \n";

        byte[] payload;
        using (var scope = NewDisposeScope())
        {
            var c = tensor.detach().cpu();
            if (c.dtype != ScalarType.ComplexFloat32) c = c.to(ScalarType.ComplexFloat32);
            // clone() gives a fresh, contiguous, zero-offset storage (views of larger tensors are handled too).
            payload = c.contiguous().clone().bytes.ToArray();
        }

        string tag = ".tmp-" + Guid.NewGuid().ToString("N")[..8];
        string tmpCfl = b + ".cfl" + tag, tmpHdr = b + ".hdr" + tag;
        try
        {
            File.WriteAllBytes(tmpCfl, payload);
            File.WriteAllText(tmpHdr, header);
            File.Move(tmpCfl, b + ".cfl", overwrite: true);
            File.Move(tmpHdr, b + ".hdr", overwrite: true);
        }
        finally
        {
            TryDelete(tmpCfl);
            TryDelete(tmpHdr);
        }
    }

    static string BaseName(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (path.EndsWith(".cfl", StringComparison.Ordinal) || path.EndsWith(".hdr", StringComparison.Ordinal))
            return path[..^4];
        return path;
    }

    static long[] ReadHeader(string hdr)
    {
        string[] lines;
        try
        {
            var info = new FileInfo(hdr);
            if (info.Exists && info.Length > 1 << 20)
                throw new InvalidInputFileException(hdr, $"implausibly large header ({info.Length} bytes)");
            lines = File.ReadAllLines(hdr);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        { throw new InvalidInputFileException(hdr, $"cannot open: {e.Message}", e); }

        int i = Array.FindIndex(lines, l => l.Trim() == "# Dimensions");
        if (i < 0) throw new InvalidInputFileException(hdr, "not a BART header (no \"# Dimensions\" line)");
        string? dimLine = null;
        for (int j = i + 1; j < lines.Length; j++)
        {
            if (lines[j].Trim().Length == 0) continue;
            dimLine = lines[j];
            break;
        }
        if (dimLine == null || dimLine.TrimStart().StartsWith('#'))
            throw new InvalidInputFileException(hdr, "truncated BART header (no dims after \"# Dimensions\")");
        var parts = dimLine.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length > MaxDims)
            throw new InvalidInputFileException(hdr, $"{parts.Length} dims given, BART allows at most {MaxDims}");
        var dims = new long[parts.Length];
        for (int k = 0; k < parts.Length; k++)
        {
            if (!long.TryParse(parts[k], NumberStyles.None, CultureInfo.InvariantCulture, out dims[k]) || dims[k] < 1)
                throw new InvalidInputFileException(hdr, $"bad dim '{parts[k]}' (dims must be positive integers)");
        }
        return dims;
    }

    static void TryDelete(string path)
    {
        try { if (File.Exists(path)) File.Delete(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }
}
