using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace MedRecon.Core.IO;

/// <summary>A volume read from a NIfTI-1 file.</summary>
/// <param name="Data">Float32 samples [z, y, x] (x fastest, as stored), scaled by scl_slope/scl_inter when set.</param>
/// <param name="Dims">The sizes in NIfTI order (x, y, z).</param>
/// <param name="Spacings">pixdim[1..3] in mm (converted from metres or microns when xyzt_units says so).</param>
/// <param name="Affine">Voxel (i, j, k) → RAS+ mm as 3 rows of 4 (the sform when sform_code &gt; 0, else the
/// qform when qform_code &gt; 0, else the pixdim scaling NIfTI calls "method 1").</param>
/// <param name="AffineSource">"sform", "qform" or "pixdim".</param>
/// <param name="AffineCode">The chosen form's code (1 scanner, 2 aligned, 3 Talairach, 4 MNI 152, 5 template); 0 for
/// pixdim. A writer keeps it so a template-space volume is not relabelled as scanner space.</param>
public sealed record NiftiVolume(Tensor Data, int[] Dims, double[] Spacings, double[,] Affine, string AffineSource, short AffineCode = 0);

/// <summary>
/// NIfTI-1 reader (single file, <c>.nii</c> or gzip <c>.nii.gz</c>; either byte order; one 3-D volume, or a 2-D image
/// as one slice) for the scalar types MR volumes use: uint8, int8, int16, uint16, int32, float32, float64. The affine
/// is read (<see cref="NiftiVolume.Affine"/>) but the voxels are not resampled: slices lie along the file's third axis.
/// Malformed input raises <see cref="InvalidInputFileException"/> before any allocation larger than the (decompressed)
/// file allows.
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
        // One decoder per type, chosen once (not per voxel).
        Func<byte[], int, float> decode = (type.Name, little) switch
        {
            ("uint8", _) => (b, at) => b[at],
            ("int8", _) => (b, at) => (sbyte)b[at],
            ("int16", true) => (b, at) => BinaryPrimitives.ReadInt16LittleEndian(b.AsSpan(at)),
            ("int16", false) => (b, at) => BinaryPrimitives.ReadInt16BigEndian(b.AsSpan(at)),
            ("uint16", true) => (b, at) => BinaryPrimitives.ReadUInt16LittleEndian(b.AsSpan(at)),
            ("uint16", false) => (b, at) => BinaryPrimitives.ReadUInt16BigEndian(b.AsSpan(at)),
            ("int32", true) => (b, at) => BinaryPrimitives.ReadInt32LittleEndian(b.AsSpan(at)),
            ("int32", false) => (b, at) => BinaryPrimitives.ReadInt32BigEndian(b.AsSpan(at)),
            ("float32", true) => (b, at) => BinaryPrimitives.ReadSingleLittleEndian(b.AsSpan(at)),
            ("float32", false) => (b, at) => BinaryPrimitives.ReadSingleBigEndian(b.AsSpan(at)),
            (_, true) => (b, at) => (float)BinaryPrimitives.ReadDoubleLittleEndian(b.AsSpan(at)),
            (_, false) => (b, at) => (float)BinaryPrimitives.ReadDoubleBigEndian(b.AsSpan(at)),
        };
        for (long i = 0; i < count; i++) values[i] = decode(raw, (int)(offset + i * type.Size));
        // scl_slope 0 means "no scaling" (NIfTI-1 standard).
        float slope = F32(112), inter = F32(116);
        if (slope != 0 && float.IsFinite(slope) && float.IsFinite(inter) && (slope != 1 || inter != 0))
            for (long i = 0; i < count; i++) values[i] = values[i] * slope + inter;
        var data = torch.tensor(values, new long[] { nz, ny, nx });
        // xyzt_units bits 0-2: 1 metre, 2 mm, 3 micron (0 unknown: taken as mm, as most readers do).
        double toMm = (raw[123] & 7) switch { 1 => 1000.0, 3 => 0.001, _ => 1.0 };
        var spacings = Enumerable.Range(1, 3).Select(i => i <= rank ? (double)F32(76 + 4 * i) : double.NaN).ToArray();
        var (affine, source, affineCode) = ReadAffine(I16, F32, spacings);
        for (int r = 0; r < 3; r++)
            for (int c = 0; c < 4; c++) affine[r, c] *= toMm;
        return new NiftiVolume(data, dims, spacings.Select(d => d * toMm).ToArray(), affine, source, affineCode);
    }

    /// <summary>The file's affine in its own spatial units, and which form and code it came from.</summary>
    static (double[,] Affine, string Source, short Code) ReadAffine(Func<int, short> i16, Func<int, float> f32, double[] spacings)
    {
        var a = new double[3, 4];
        double Spacing(int axis) => double.IsFinite(spacings[axis]) && spacings[axis] != 0 ? Math.Abs(spacings[axis]) : 1.0;
        if (i16(254) > 0) // sform_code: srow_x, srow_y, srow_z
        {
            for (int r = 0; r < 3; r++)
                for (int c = 0; c < 4; c++) a[r, c] = f32(280 + 16 * r + 4 * c);
            double det = Determinant(a);
            if (det != 0 && double.IsFinite(det)) return (a, "sform", i16(254)); // a degenerate sform falls back to the qform
            Array.Clear(a);
        }
        if (i16(252) > 0) // qform_code: quaternion (b, c, d), offsets, qfac = pixdim[0]
        {
            double b = f32(256), c = f32(260), d = f32(264);
            double aa = Math.Sqrt(Math.Max(0, 1 - (b * b + c * c + d * d)));
            double qfac = f32(76) < 0 ? -1 : 1;
            var rot = new double[,]
            {
                { aa * aa + b * b - c * c - d * d, 2 * (b * c - aa * d), 2 * (b * d + aa * c) },
                { 2 * (b * c + aa * d), aa * aa + c * c - b * b - d * d, 2 * (c * d - aa * b) },
                { 2 * (b * d - aa * c), 2 * (c * d + aa * b), aa * aa + d * d - b * b - c * c },
            };
            double[] scale = { Spacing(0), Spacing(1), qfac * Spacing(2) };
            for (int r = 0; r < 3; r++)
            {
                for (int col = 0; col < 3; col++) a[r, col] = rot[r, col] * scale[col];
                a[r, 3] = f32(268 + 4 * r);
            }
            return (a, "qform", i16(252));
        }
        for (int r = 0; r < 3; r++) a[r, r] = Spacing(r);
        return (a, "pixdim", 0);
    }

    /// <summary>
    /// Writes a float32 NIfTI-1 file (<c>.nii</c>, or gzip when the name ends in <c>.nii.gz</c>): <paramref name="data"/>
    /// [z, y, x] (or [y, x] as one slice), x fastest, with <paramref name="affine"/> (voxel → scanner RAS+ mm, 3 rows of 4)
    /// as the sform and as the qform (its rotation as a quaternion, qfac −1 for a left-handed one), both with
    /// <paramref name="code"/> (default 1, scanner; pass the input's <see cref="NiftiVolume.AffineCode"/> to keep e.g. MNI
    /// space), units mm. The sform, which readers take first, is exact for any affine; the qform for orthogonal grids.
    /// Written to <c>path.partial</c> and renamed, so an error leaves no half file.
    /// </summary>
    public static void Write(string path, Tensor data, double[,] affine, string description = "MedRecon", short code = 1)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(affine);
        if (affine.GetLength(0) != 3 || affine.GetLength(1) != 4) throw new ArgumentException("affine must be 3 rows of 4", nameof(affine));
        if (data.dim() is not (2 or 3)) throw new ArgumentException($"data must be [z, y, x] or [y, x], got {data.dim()} dimensions", nameof(data));
        if (data.is_complex()) throw new ArgumentException("data must be real", nameof(data));
        if (code is < 1 or > 5) throw new ArgumentOutOfRangeException(nameof(code), $"NIfTI form code {code}: must be 1..5");
        var shape = data.dim() == 3 ? data.shape : new[] { 1L, data.shape[0], data.shape[1] };
        if (shape.Any(n => n < 1 || n > short.MaxValue)) throw new ArgumentException($"sizes {string.Join("x", shape)}: NIfTI-1 holds 1..32767 per axis", nameof(data));
        float[] values;
        using (var f32 = data.to(ScalarType.Float32))
        using (var f = f32.contiguous())
            values = f.data<float>().ToArray();

        var b = new byte[HeaderSize + 4 + 4L * values.Length];
        void I16(int at, short v) => BinaryPrimitives.WriteInt16LittleEndian(b.AsSpan(at), v);
        void F32(int at, double v) => BinaryPrimitives.WriteSingleLittleEndian(b.AsSpan(at), (float)v);
        BinaryPrimitives.WriteInt32LittleEndian(b, HeaderSize);
        I16(40, 3);
        I16(42, (short)shape[2]); I16(44, (short)shape[1]); I16(46, (short)shape[0]);
        for (int i = 4; i <= 7; i++) I16(40 + 2 * i, 1);
        I16(70, 16); // float32
        I16(72, 32);
        var (quaternion, qfac, spacing) = Quaternion(affine);
        F32(76, qfac);
        for (int i = 0; i < 3; i++) F32(80 + 4 * i, spacing[i]);
        F32(108, HeaderSize + 4);
        F32(112, 1); // scl_slope 1, inter 0: the values as they are
        b[123] = 2; // xyzt_units: mm
        var text = Encoding.ASCII.GetBytes(description.Length > 79 ? description[..79] : description);
        text.CopyTo(b, 148);
        I16(252, code); // qform_code
        I16(254, code); // sform_code
        for (int i = 0; i < 3; i++) F32(256 + 4 * i, quaternion[i]);
        for (int r = 0; r < 3; r++)
        {
            F32(268 + 4 * r, affine[r, 3]);
            for (int c = 0; c < 4; c++) F32(280 + 16 * r + 4 * c, affine[r, c]);
        }
        Encoding.ASCII.GetBytes("n+1\0").CopyTo(b, 344);
        for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(b.AsSpan(HeaderSize + 4 + 4 * i), values[i]);

        string partial = path + ".partial";
        try
        {
            using (var file = File.Create(partial))
            {
                if (path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase))
                {
                    using var gz = new GZipStream(file, CompressionLevel.Fastest);
                    gz.Write(b);
                }
                else file.Write(b);
            }
            File.Move(partial, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(partial)) File.Delete(partial);
        }
    }

    /// <summary>The qform of an affine: quaternion (b, c, d) of its rotation, qfac, and the column lengths (spacings),
    /// for an orthogonal grid (the columns normalised; a sheared affine is exact only in the sform).</summary>
    static (double[] Quaternion, double Qfac, double[] Spacing) Quaternion(double[,] a)
    {
        var spacing = new double[3];
        var m = new double[3, 3];
        for (int c = 0; c < 3; c++)
        {
            spacing[c] = Math.Sqrt(a[0, c] * a[0, c] + a[1, c] * a[1, c] + a[2, c] * a[2, c]);
            if (!(spacing[c] > 0)) throw new ArgumentException($"affine column {c} is zero: not a voxel grid");
            for (int r = 0; r < 3; r++) m[r, c] = a[r, c] / spacing[c];
        }
        double det = Determinant(m);
        if (Math.Abs(det) < 1e-6) throw new ArgumentException("affine is singular: not a voxel grid");
        double qfac = det > 0 ? 1 : -1;
        if (qfac < 0) for (int r = 0; r < 3; r++) m[r, 2] = -m[r, 2];
        // Rotation matrix → unit quaternion (a, b, c, d) with a ≥ 0 (NIfTI stores b, c, d).
        double qa, qb, qc, qd;
        double trace = m[0, 0] + m[1, 1] + m[2, 2] + 1;
        if (trace > 0.5)
        {
            qa = 0.5 * Math.Sqrt(trace);
            qb = 0.25 * (m[2, 1] - m[1, 2]) / qa;
            qc = 0.25 * (m[0, 2] - m[2, 0]) / qa;
            qd = 0.25 * (m[1, 0] - m[0, 1]) / qa;
        }
        else
        {
            double xd = 1 + m[0, 0] - (m[1, 1] + m[2, 2]), yd = 1 + m[1, 1] - (m[0, 0] + m[2, 2]), zd = 1 + m[2, 2] - (m[0, 0] + m[1, 1]);
            if (xd > 1)
            {
                qb = 0.5 * Math.Sqrt(xd); qc = 0.25 * (m[0, 1] + m[1, 0]) / qb; qd = 0.25 * (m[0, 2] + m[2, 0]) / qb; qa = 0.25 * (m[2, 1] - m[1, 2]) / qb;
            }
            else if (yd > 1)
            {
                qc = 0.5 * Math.Sqrt(yd); qb = 0.25 * (m[0, 1] + m[1, 0]) / qc; qd = 0.25 * (m[1, 2] + m[2, 1]) / qc; qa = 0.25 * (m[0, 2] - m[2, 0]) / qc;
            }
            else
            {
                qd = 0.5 * Math.Sqrt(zd); qb = 0.25 * (m[0, 2] + m[2, 0]) / qd; qc = 0.25 * (m[1, 2] + m[2, 1]) / qd; qa = 0.25 * (m[1, 0] - m[0, 1]) / qd;
            }
            if (qa < 0) { qa = -qa; qb = -qb; qc = -qc; qd = -qd; }
        }
        double norm = Math.Sqrt(qa * qa + qb * qb + qc * qc + qd * qd);
        return (new[] { qb / norm, qc / norm, qd / norm }, qfac, spacing);
    }

    /// <summary>Determinant of the linear (first 3 × 3) part of an affine: its sign says whether the voxel axes are
    /// right-handed in RAS+ (and in LPS, which flips two axes).</summary>
    public static double Determinant(double[,] a) =>
        a[0, 0] * (a[1, 1] * a[2, 2] - a[1, 2] * a[2, 1]) - a[0, 1] * (a[1, 0] * a[2, 2] - a[1, 2] * a[2, 0])
        + a[0, 2] * (a[1, 0] * a[2, 1] - a[1, 1] * a[2, 0]);

    /// <summary>True for file names the reader takes (<c>.nii</c>, <c>.nii.gz</c>).</summary>
    public static bool IsNiftiPath(string path) =>
        path.EndsWith(".nii", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".nii.gz", StringComparison.OrdinalIgnoreCase);
}
