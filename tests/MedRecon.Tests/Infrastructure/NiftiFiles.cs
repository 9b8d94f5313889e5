using System.Buffers.Binary;
using System.Globalization;

namespace MedRecon.Tests.Infrastructure;

/// <summary>Builds single-file NIfTI-1 images byte by byte (348-byte header, 4-byte extender, data at 352), for the
/// reader's tests and for CLI runs that start from a NIfTI volume.</summary>
public sealed record NiftiFile(short Datatype, int BytesPerVoxel, short[] Dims, byte[] Data)
{
    public bool Little { get; init; } = true;
    public float Slope { get; init; }
    public float Inter { get; init; }
    public string Magic { get; init; } = "n+1";
    /// <summary>pixdim[1..]; pixdim[0] (qfac) is <see cref="Qfac"/>.</summary>
    public float[]? Pixdim { get; init; }
    public float Qfac { get; init; } = 1;
    public short QformCode { get; init; }
    /// <summary>quatern_b, c, d, then qoffset_x, y, z.</summary>
    public float[] Quaternion { get; init; } = new float[6];
    public short SformCode { get; init; }
    /// <summary>srow_x, srow_y, srow_z (4 each).</summary>
    public float[] Srows { get; init; } = new float[12];
    /// <summary>xyzt_units (spatial bits 0-2: 1 metre, 2 mm, 3 micron; 0 unknown).</summary>
    public byte XyztUnits { get; init; }

    public byte[] Bytes()
    {
        var b = new byte[352 + Data.Length];
        void I32(int at, int v) { if (Little) BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(at), v); else BinaryPrimitives.WriteInt32BigEndian(b.AsSpan(at), v); }
        void I16(int at, short v) { if (Little) BinaryPrimitives.WriteInt16LittleEndian(b.AsSpan(at), v); else BinaryPrimitives.WriteInt16BigEndian(b.AsSpan(at), v); }
        void F32(int at, float v) { if (Little) BinaryPrimitives.WriteSingleLittleEndian(b.AsSpan(at), v); else BinaryPrimitives.WriteSingleBigEndian(b.AsSpan(at), v); }
        I32(0, 348);
        I16(40, (short)Dims.Length);
        for (int i = 0; i < Dims.Length; i++) I16(42 + 2 * i, Dims[i]);
        I16(70, Datatype);
        I16(72, (short)(8 * BytesPerVoxel));
        F32(76, Qfac);
        for (int i = 0; i < Dims.Length; i++) F32(80 + 4 * i, Pixdim is { } p && i < p.Length ? p[i] : 0.5f * (i + 1));
        F32(108, 352);
        F32(112, Slope);
        F32(116, Inter);
        b[123] = XyztUnits;
        I16(252, QformCode);
        I16(254, SformCode);
        for (int i = 0; i < 6; i++) F32(256 + 4 * i, Quaternion[i]);
        for (int i = 0; i < 12; i++) F32(280 + 4 * i, Srows[i]);
        System.Text.Encoding.ASCII.GetBytes(Magic + "\0").CopyTo(b, 344);
        Data.CopyTo(b, 352);
        return b;
    }

    /// <summary>An int16 volume [nz, ny, nx] with voxel (x, y, z) = f(x, y, z), x fastest on disk.</summary>
    public static NiftiFile Int16(int nx, int ny, int nz, Func<int, int, int, short> f)
    {
        var data = new byte[2 * nx * ny * nz];
        for (int z = 0; z < nz; z++)
            for (int y = 0; y < ny; y++)
                for (int x = 0; x < nx; x++)
                    BinaryPrimitives.WriteInt16LittleEndian(data.AsSpan(2 * (x + nx * (y + ny * z))), f(x, y, z));
        return new NiftiFile(4, 2, new[] { (short)nx, (short)ny, (short)nz }, data);
    }
}

/// <summary>nifti_tool (Debian nifti-bin) as the reference reader of NIfTI geometry.</summary>
public static class NiftiTool
{
    /// <summary>Asserts that nifti_tool's <paramref name="field"/> (qto_xyz or sto_xyz, the 4x4 it computes from the
    /// header) equals <paramref name="expected"/> (3 rows of 4) within 1e-4.</summary>
    public static void AssertAffine(string path, string field, double[,] expected, string label = "")
    {
        string tool = ExternalTools.RequireTool("nifti_tool", "nifti-bin");
        var r = ExternalTools.Run(tool, new[] { "-disp_nim", "-field", field, "-infiles", path });
        Xunit.Assert.True(r.ExitCode == 0, r.StdErr);
        var line = r.StdOut.Split('\n').First(l => l.TrimStart().StartsWith(field, StringComparison.Ordinal));
        var got = line.Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(3).Select(t => double.Parse(t, CultureInfo.InvariantCulture)).ToArray();
        Xunit.Assert.Equal(16, got.Length);
        for (int row = 0; row < 3; row++)
            for (int col = 0; col < 4; col++)
                Xunit.Assert.True(Math.Abs(expected[row, col] - got[4 * row + col]) < 1e-4,
                    $"{label} {field}[{row},{col}]: nifti_tool {got[4 * row + col]}, expected {expected[row, col]}");
    }
}
