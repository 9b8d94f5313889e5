using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace MedRecon.Core.IO;

/// <summary>A volume read from a NIfTI-1 file.</summary>
/// <param name="Data">Float32 samples [z, y, x] (x fastest, as stored), scaled by scl_slope/scl_inter when set.</param>
/// <param name="Dims">The sizes in NIfTI order (x, y, z).</param>
/// <param name="Spacings">pixdim[1..3] (mm for the usual xyzt_units).</param>
public sealed record NiftiVolume(Tensor Data, int[] Dims, double[] Spacings);

/// <summary>
/// NIfTI-1 reader (single file, <c>.nii</c> or gzip <c>.nii.gz</c>; either byte order; one 3-D volume, or a 2-D image
/// as one slice) for the scalar types MR volumes use: uint8, int8, int16, uint16, int32, float32, float64. The
/// orientation (qform/sform) is not applied: training and reconstruction work on slices, and augmentation flips them.
/// Malformed input raises <see cref="InvalidInputFileException"/> before any allocation larger than the file allows.
/// </summary>
public static class Nifti
{
    const int HeaderSize = 348;

    static readonly Dictionary<short, (string Name, int Size)> Types = new()
    {
        [2] = ("uint8", 1), [4] = ("int16", 2), [8] = ("int32", 4), [16] = ("float32", 4), [64] = ("float64", 8),
        [256] = ("int8", 1), [512] = ("uint16", 2),
    };

    public static NiftiVolume Read(string path)
    {
        byte[] raw;
        try
        {
            raw = File.ReadAllBytes(path);
            if (raw.Length >= 2 && raw[0] == 0x1F && raw[1] == 0x8B)
            {
                using var gz = new GZipStream(new MemoryStream(raw), CompressionMode.Decompress);
                using var ms = new MemoryStream();
                gz.CopyTo(ms);
                raw = ms.ToArray();
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException)
        { throw new InvalidInputFileException(path, $"cannot read: {e.Message}", e); }
        return Parse(raw, path);
    }

    /// <summary>Parses an uncompressed NIfTI-1 image held in memory (header and data in one buffer).</summary>
    public static NiftiVolume Parse(byte[] raw, string path)
    {
        if (raw.Length < HeaderSize + 4)
            throw new InvalidInputFileException(path, $"{raw.Length} bytes: shorter than a NIfTI-1 header");
        bool little = BinaryPrimitives.ReadInt32LittleEndian(raw) == HeaderSize;
        if (!little && BinaryPrimitives.ReadInt32BigEndian(raw) != HeaderSize)
            throw new InvalidInputFileException(path, "not a NIfTI-1 file (sizeof_hdr is not 348)");
        string magic = Encoding.ASCII.GetString(raw, 344, 3);
        if (magic == "ni1")
            throw new InvalidInputFileException(path, "a NIfTI-1 header with a separate .img file; only single-file .nii is read");
        if (magic != "n+1")
            throw new InvalidInputFileException(path, $"not a NIfTI-1 file (magic '{magic}')");

        short I16(int at) => little ? BinaryPrimitives.ReadInt16LittleEndian(raw.AsSpan(at)) : BinaryPrimitives.ReadInt16BigEndian(raw.AsSpan(at));
        float F32(int at) => little ? BinaryPrimitives.ReadSingleLittleEndian(raw.AsSpan(at)) : BinaryPrimitives.ReadSingleBigEndian(raw.AsSpan(at));

        int rank = I16(40);
        if (rank < 2 || rank > 7) throw new InvalidInputFileException(path, $"dim[0] = {rank}: not a valid NIfTI rank");
        var dims = Enumerable.Range(1, rank).Select(i => (int)I16(40 + 2 * i)).ToArray();
        if (dims.Any(d => d < 1)) throw new InvalidInputFileException(path, $"non-positive size in dims [{string.Join(",", dims)}]");
        if (dims.Skip(3).Any(d => d > 1))
            throw new InvalidInputFileException(path, $"dims [{string.Join(",", dims)}]: a time series or vector volume; expected one 3-D volume");
        short code = I16(70);
        if (!Types.TryGetValue(code, out var type))
            throw new InvalidInputFileException(path, $"NIfTI datatype {code} is not supported (uint8, int8, int16, uint16, int32, float32, float64)");
        long offset = (long)F32(108);
        if (offset < HeaderSize + 4) offset = HeaderSize + 4; // vox_offset 0 in some writers means "right after the extender"
        int nx = dims[0], ny = dims[1], nz = rank >= 3 ? dims[2] : 1;
        long count = (long)nx * ny * nz;
        if (offset + count * type.Size > raw.Length)
            throw new InvalidInputFileException(path, $"truncated: {raw.Length} bytes, the header's {nx}x{ny}x{nz} {type.Name} voxels need {offset + count * type.Size}");
        var values = new float[count];
        var span = raw.AsSpan((int)offset);
        for (long i = 0; i < count; i++)
        {
            int at = (int)(i * type.Size);
            values[i] = type.Name switch
            {
                "uint8" => span[at],
                "int8" => (sbyte)span[at],
                "int16" => little ? BinaryPrimitives.ReadInt16LittleEndian(span[at..]) : BinaryPrimitives.ReadInt16BigEndian(span[at..]),
                "uint16" => little ? BinaryPrimitives.ReadUInt16LittleEndian(span[at..]) : BinaryPrimitives.ReadUInt16BigEndian(span[at..]),
                "int32" => little ? BinaryPrimitives.ReadInt32LittleEndian(span[at..]) : BinaryPrimitives.ReadInt32BigEndian(span[at..]),
                "float32" => little ? BinaryPrimitives.ReadSingleLittleEndian(span[at..]) : BinaryPrimitives.ReadSingleBigEndian(span[at..]),
                _ => (float)(little ? BinaryPrimitives.ReadDoubleLittleEndian(span[at..]) : BinaryPrimitives.ReadDoubleBigEndian(span[at..])),
            };
        }
        // scl_slope 0 means "no scaling" (NIfTI-1 standard).
        float slope = F32(112), inter = F32(116);
        if (slope != 0 && float.IsFinite(slope) && float.IsFinite(inter) && (slope != 1 || inter != 0))
            for (long i = 0; i < count; i++) values[i] = values[i] * slope + inter;
        var data = torch.tensor(values, new long[] { nz, ny, nx });
        var spacings = Enumerable.Range(1, 3).Select(i => i <= rank ? (double)F32(76 + 4 * i) : double.NaN).ToArray();
        return new NiftiVolume(data, dims, spacings);
    }

    /// <summary>True for file names the reader takes (<c>.nii</c>, <c>.nii.gz</c>).</summary>
    public static bool IsNiftiPath(string path) =>
        path.EndsWith(".nii", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".nii.gz", StringComparison.OrdinalIgnoreCase);
}
