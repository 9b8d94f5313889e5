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

    static byte[] Image(short datatype, int bytesPerVoxel, short[] dims, byte[] data, bool little = true,
        float slope = 0, float inter = 0, string magic = "n+1") =>
        new NiftiFile(datatype, bytesPerVoxel, dims, data) { Little = little, Slope = slope, Inter = inter, Magic = magic }.Bytes();

    [Fact]
    public void ReadsInt16WithScalingAsSliceRowColumn()
    {
        using var dir = new TempDir();
        // x fastest on disk: voxel (x, y, z) holds 100 z + 10 y + x.
        File.WriteAllBytes(dir["a.nii"], (NiftiFile.Int16(4, 3, 2, (x, y, z) => (short)(100 * z + 10 * y + x)) with { Slope = 2, Inter = -5 }).Bytes());
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

    /// <summary>The affine as nifti_tool computes it (qto_xyz, sto_xyz): sform first, then qform, then pixdim.</summary>
    [SkippableFact]
    public void GeometryFollowsTheSformThenTheQformAsNiftiToolComputesIt()
    {
        using var dir = new TempDir();
        var baseFile = NiftiFile.Int16(3, 2, 2, (x, y, z) => (short)x) with { Pixdim = new[] { 0.8f, 0.9f, 2.5f } };
        // pixdim only ("method 1").
        File.WriteAllBytes(dir["p.nii"], baseFile.Bytes());
        var p = Nifti.Read(dir["p.nii"]);
        Assert.Equal("pixdim", p.AffineSource);
        Assert.Equal(new double[,] { { 0.8, 0, 0, 0 }, { 0, 0.9, 0, 0 }, { 0, 0, 2.5, 0 } }, Round(p.Affine));
        // qform: 30° about z, a left-handed slice axis (qfac −1) and an offset.
        float s = MathF.Sin(MathF.PI / 12), c = MathF.Cos(MathF.PI / 12);
        File.WriteAllBytes(dir["q.nii"], (baseFile with { QformCode = 1, Qfac = -1, Quaternion = new[] { 0f, 0f, s, -10f, 20f, 30f } }).Bytes());
        // sform (wins over a qform).
        File.WriteAllBytes(dir["s.nii"], (baseFile with
        {
            QformCode = 1, Quaternion = new[] { 0f, 0f, s, -10f, 20f, 30f }, SformCode = 2,
            Srows = new[] { -0.8f, 0f, 0.1f, 5f, 0f, 0.9f, 0f, -6f, 0f, 0.2f, 2.5f, 7f },
        }).Bytes());
        var q = Nifti.Read(dir["q.nii"]);
        var sf = Nifti.Read(dir["s.nii"]);
        Assert.Equal("qform", q.AffineSource);
        Assert.Equal("sform", sf.AffineSource);
        Assert.Equal(-2.5, q.Affine[2, 2], 5);
        Assert.Equal(0.8 * Math.Cos(Math.PI / 6), q.Affine[0, 0], 5);
        NiftiTool.AssertAffine(dir["q.nii"], "qto_xyz", q.Affine, "q.nii (ours as expected)");
        NiftiTool.AssertAffine(dir["s.nii"], "sto_xyz", sf.Affine, "s.nii (ours as expected)");
    }

    /// <summary>The writer: data and affine read back by our reader, and the qform (quaternion + qfac) that nifti_tool
    /// computes from the header equals the affine — for a right-handed rotation, a left-handed one, and a rotation near
    /// 180° (the quaternion's small-trace branch).</summary>
    [SkippableFact]
    public void WriterRoundTripsDataAndItsQformMatchesNiftiTool()
    {
        using var dir = new TempDir();
        var data = torch.arange(4 * 3 * 2, dtype: torch.ScalarType.Float32).reshape(2, 3, 4) * 0.5f - 3;
        double c30 = Math.Cos(Math.PI / 6), s30 = Math.Sin(Math.PI / 6), c170 = Math.Cos(170 * Math.PI / 180), s170 = Math.Sin(170 * Math.PI / 180);
        var cases = new (string Name, double[,] Affine)[]
        {
            ("rot30.nii", new[,] { { 0.8 * c30, -0.9 * s30, 0, -10 }, { 0.8 * s30, 0.9 * c30, 0, 20 }, { 0, 0, 2.5, 30 } }),
            ("left.nii.gz", new[,] { { -0.8, 0, 0, 5 }, { 0, 0.9, 0, -6 }, { 0, 0, 2.5, 7 } }),
            ("rot170.nii", new[,] { { 1.2, 0, 0, 1 }, { 0, 1.2 * c170, -3 * s170, 2 }, { 0, 1.2 * s170, 3 * c170, 3 } }),
        };
        foreach (var (name, affine) in cases)
        {
            Nifti.Write(dir[name], data, affine, "test");
            var v = Nifti.Read(dir[name]);
            Assert.Equal(data.shape, v.Data.shape);
            Assert.Equal(0f, (v.Data - data).abs().max().item<float>());
            Assert.Equal("sform", v.AffineSource);
            foreach (var field in new[] { "sto_xyz", "qto_xyz" }) NiftiTool.AssertAffine(dir[name], field, affine, name);
        }
        Assert.False(File.Exists(dir["rot30.nii"] + ".partial"));
        Assert.Throws<ArgumentException>(() => Nifti.Write(dir["bad.nii"], data, new double[3, 4]));
        Assert.False(File.Exists(dir["bad.nii"]));
    }

    /// <summary>Lengths in metres or microns (xyzt_units) read as the same mm geometry as the file in mm, for the sform,
    /// the qform and the pixdim fallback; the form's code is reported and a writer given it keeps it.</summary>
    [SkippableFact]
    public void SpatialUnitsAreConvertedToMillimetresAndTheFormCodeIsKept()
    {
        using var dir = new TempDir();
        float s = MathF.Sin(MathF.PI / 12);
        var mm = NiftiFile.Int16(3, 2, 2, (x, y, z) => (short)x) with
        {
            XyztUnits = 2, Pixdim = new[] { 0.8f, 0.9f, 2.5f }, QformCode = 2, Quaternion = new[] { 0f, 0f, s, -10f, 20f, 30f },
        };
        foreach (var (form, file) in new[]
        {
            ("qform", mm),
            ("sform", mm with { SformCode = 4, Srows = new[] { -0.8f, 0f, 0.1f, 5f, 0f, 0.9f, 0f, -6f, 0f, 0.2f, 2.5f, 7f } }),
            ("pixdim", mm with { QformCode = 0 }),
        })
        {
            File.WriteAllBytes(dir["mm.nii"], file.Bytes());
            var want = Nifti.Read(dir["mm.nii"]);
            Assert.Equal(form, want.AffineSource);
            Assert.Equal(form switch { "qform" => 2, "sform" => 4, _ => 0 }, want.AffineCode);
            foreach (var (units, scale) in new[] { ((byte)1, 1e-3f), ((byte)3, 1e3f) }) // metres, microns
            {
                var scaled = file with
                {
                    XyztUnits = units, Pixdim = file.Pixdim!.Select(d => d * scale).ToArray(),
                    Quaternion = file.Quaternion.Select((q, i) => i < 3 ? q : q * scale).ToArray(), Srows = file.Srows.Select(r => r * scale).ToArray(),
                };
                File.WriteAllBytes(dir["u.nii"], scaled.Bytes());
                var got = Nifti.Read(dir["u.nii"]);
                Assert.Equal(form, got.AffineSource);
                for (int i = 0; i < 3; i++) Assert.Equal(want.Spacings[i], got.Spacings[i], 3);
                for (int row = 0; row < 3; row++)
                    for (int col = 0; col < 4; col++)
                        Assert.True(Math.Abs(want.Affine[row, col] - got.Affine[row, col]) < 1e-3,
                            $"{form}, units {units}: affine[{row},{col}] {got.Affine[row, col]}, in mm {want.Affine[row, col]}");
            }
        }
        // The writer keeps a form code it is given (MNI 152 here) in both forms; nifti_tool reads it back.
        using var data = torch.ones(2, 2, 3);
        Nifti.Write(dir["mni.nii"], data, new double[,] { { 1, 0, 0, 0 }, { 0, 1, 0, 0 }, { 0, 0, 1, 0 } }, "test", code: 4);
        Assert.Equal(4, Nifti.Read(dir["mni.nii"]).AffineCode);
        string tool = ExternalTools.RequireTool("nifti_tool", "nifti-bin");
        var r = ExternalTools.Run(tool, new[] { "-disp_hdr", "-field", "sform_code", "-field", "qform_code", "-field", "xyzt_units", "-infiles", dir["mni.nii"] });
        Assert.True(r.ExitCode == 0, r.StdErr);
        var values = r.StdOut.Split('\n').Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Where(t => t.Length == 4 && t[0] is "sform_code" or "qform_code" or "xyzt_units").ToDictionary(t => t[0], t => t[3]);
        Assert.Equal("4", values["sform_code"]);
        Assert.Equal("4", values["qform_code"]);
        Assert.Equal("2", values["xyzt_units"]);
        Assert.Throws<ArgumentOutOfRangeException>(() => Nifti.Write(dir["bad.nii"], data, new double[,] { { 1, 0, 0, 0 }, { 0, 1, 0, 0 }, { 0, 0, 1, 0 } }, code: 7));
    }

    static double[,] Round(double[,] a)
    {
        var r = (double[,])a.Clone();
        for (int i = 0; i < r.GetLength(0); i++)
            for (int j = 0; j < r.GetLength(1); j++) r[i, j] = Math.Round(r[i, j], 5);
        return r;
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
        Assert.Equal(4, v.AffineCode); // sform_code 4: MNI 152 space (nifti_tool -disp_hdr -field sform_code)
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
