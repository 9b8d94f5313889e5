using System.Buffers.Binary;
using System.Globalization;
using System.IO.Compression;
using MedRecon.Core.IO;
using MedRecon.Tests.Infrastructure;
using TorchSharp;
using static TorchSharp.torch;

namespace MedRecon.Tests.Core;

public class NiftiTests
{
    const string Colin27 = "/usr/share/mricron/templates/ch2.nii.gz";

    /// <summary>A single-file NIfTI-1 image: 348-byte header, 4-byte extender, data at 352.</summary>
    static byte[] Image(short datatype, int bytesPerVoxel, short[] dims, byte[] data, bool little = true,
        float slope = 0, float inter = 0, string magic = "n+1")
    {
        var b = new byte[352 + data.Length];
        void I32(int at, int v) { if (little) BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(at), v); else BinaryPrimitives.WriteInt32BigEndian(b.AsSpan(at), v); }
        void I16(int at, short v) { if (little) BinaryPrimitives.WriteInt16LittleEndian(b.AsSpan(at), v); else BinaryPrimitives.WriteInt16BigEndian(b.AsSpan(at), v); }
        void F32(int at, float v) { if (little) BinaryPrimitives.WriteSingleLittleEndian(b.AsSpan(at), v); else BinaryPrimitives.WriteSingleBigEndian(b.AsSpan(at), v); }
        I32(0, 348);
        I16(40, (short)dims.Length);
        for (int i = 0; i < dims.Length; i++) I16(42 + 2 * i, dims[i]);
        I16(70, datatype);
        I16(72, (short)(8 * bytesPerVoxel));
        for (int i = 0; i < dims.Length; i++) F32(80 + 4 * i, 0.5f * (i + 1));
        F32(108, 352);
        F32(112, slope);
        F32(116, inter);
        System.Text.Encoding.ASCII.GetBytes(magic + "\0").CopyTo(b, 344);
        data.CopyTo(b, 352);
        return b;
    }

    [Fact]
    public void ReadsInt16WithScalingAsSliceRowColumn()
    {
        using var dir = new TempDir();
        // x fastest on disk: voxel (x, y, z) holds 100 z + 10 y + x.
        var data = new byte[4 * 3 * 2 * 2];
        for (int z = 0; z < 2; z++)
            for (int y = 0; y < 3; y++)
                for (int x = 0; x < 4; x++)
                    BinaryPrimitives.WriteInt16LittleEndian(data.AsSpan(2 * (x + 4 * (y + 3 * z))), (short)(100 * z + 10 * y + x));
        File.WriteAllBytes(dir["a.nii"], Image(4, 2, new short[] { 4, 3, 2 }, data, slope: 2, inter: -5));
        var v = Nifti.Read(dir["a.nii"]);
        Assert.Equal(new long[] { 2, 3, 4 }, v.Data.shape);
        Assert.Equal(new[] { 4, 3, 2 }, v.Dims);
        Assert.Equal(new[] { 0.5, 1.0, 1.5 }, v.Spacings);
        Assert.Equal(2 * 123 - 5, v.Data[1, 2, 3].item<float>());
        Assert.Equal(2 * 10 - 5, v.Data[0, 1, 0].item<float>());
    }

    [Fact]
    public void ReadsGzipBigEndianFloatAndTwoDimensionalImages()
    {
        using var dir = new TempDir();
        var values = new[] { 1.5f, -2.25f, 3e5f, 0f, 7f, -1f };
        var data = new byte[values.Length * 4];
        for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteSingleBigEndian(data.AsSpan(4 * i), values[i]);
        using (var fs = File.Create(dir["b.nii.gz"]))
        using (var gz = new GZipStream(fs, CompressionLevel.Fastest))
            gz.Write(Image(16, 4, new short[] { 3, 2 }, data, little: false));
        var v = Nifti.Read(dir["b.nii.gz"]);
        Assert.Equal(new long[] { 1, 2, 3 }, v.Data.shape);
        Assert.Equal(values, v.Data.flatten().data<float>().ToArray());
        Assert.True(Nifti.IsNiftiPath(dir["b.nii.gz"]) && Nifti.IsNiftiPath("x.NII") && !Nifti.IsNiftiPath("x.nrrd"));
    }

    [Fact]
    public void MalformedFilesGiveClearErrors()
    {
        var data = new byte[2 * 2 * 2];
        void Bad(byte[] file, string expected)
        {
            var e = Assert.Throws<InvalidInputFileException>(() => Nifti.Parse(file, "x.nii"));
            Assert.Contains(expected, e.Message);
        }
        Bad(new byte[100], "shorter than a NIfTI-1 header");
        Bad(Image(2, 1, new short[] { 2, 2, 2 }, data, magic: "abc"), "not a NIfTI-1 file");
        Bad(Image(2, 1, new short[] { 2, 2, 2 }, data, magic: "ni1"), "separate .img");
        Bad(Image(2, 1, new short[] { 2, 2, 1, 2 }, data), "time series");
        Bad(Image(128, 3, new short[] { 2, 2, 2 }, data), "datatype 128");
        Bad(Image(4, 2, new short[] { 2, 2, 2 }, data), "truncated");
        var corrupt = new byte[400];
        BinaryPrimitives.WriteInt32LittleEndian(corrupt, 12345);
        Bad(corrupt, "sizeof_hdr");
    }

    /// <summary>The real MNI Colin 27 T1 volume (Debian mricron-data) read as nifti_tool (Debian nifti-bin) prints it.</summary>
    [SkippableFact]
    public void MatchesNiftiToolOnTheColin27Volume()
    {
        Skip.IfNot(File.Exists(Colin27), $"{Colin27} not installed (apt-get install mricron-data)");
        string tool = ExternalTools.RequireTool("nifti_tool", "nifti-bin");
        var v = Nifti.Read(Colin27);
        Assert.Equal(new long[] { 181, 217, 181 }, v.Data.shape);
        Assert.Equal(new[] { 1.0, 1.0, 1.0 }, v.Spacings);
        // One full row along x and one full column along z, as nifti_tool -disp_ci prints them (-1: all of that axis).
        foreach (var (i, j, k) in new[] { (-1, 108, 90), (90, 100, -1) })
        {
            var r = ExternalTools.Run(tool, new[] { "-disp_ci", $"{i}", $"{j}", $"{k}", "0", "0", "0", "0", "-infiles", Colin27 });
            Assert.True(r.ExitCode == 0, r.StdErr);
            var line = r.StdOut.Split('\n').Select(l => l.Trim()).Last(l => l.Length > 0);
            var want = line.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(s => float.Parse(s, CultureInfo.InvariantCulture)).ToArray();
            var got = (i < 0 ? v.Data[k, j] : v.Data.select(2, i).select(1, j)).contiguous().data<float>().ToArray();
            Assert.Equal(want.Length, got.Length);
            Assert.Equal(want, got);
            Assert.True(want.Max() > 100, "the sampled line crosses the head");
        }
    }
}
