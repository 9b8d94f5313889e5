using MedRecon.Dicom;
using MedRecon.Tests.Infrastructure;

namespace MedRecon.Tests.Dicom;

/// <summary>Round trips of our own files and transcoding by dcmtk (implicit, big endian, deflate, RLE, JPEG Lossless).</summary>
public class DicomCodecTests
{
    static void AssertSameElements(DicomDataset a, DicomDataset b)
    {
        var ta = a.Where(i => i.Tag.Group != 2).Select(i => i.Tag).ToList();
        var tb = b.Where(i => i.Tag.Group != 2).Select(i => i.Tag).ToList();
        Assert.Equal(ta, tb);
        foreach (var item in a)
        {
            var other = b.GetItem(item.Tag)!;
            Assert.Equal(item.VR, other.VR);
            switch (item)
            {
                case DicomElement e:
                    var eb = ((DicomElement)other).Buffer;
                    // odd-length values come back padded to even length
                    Assert.Equal(e.Buffer, eb.Length == e.Buffer.Length + 1 ? eb[..^1] : eb);
                    break;
                case DicomSequence s:
                    var so = (DicomSequence)other;
                    Assert.Equal(s.Items.Count, so.Items.Count);
                    for (int i = 0; i < s.Items.Count; i++) AssertSameElements(s.Items[i], so.Items[i]);
                    break;
            }
        }
    }

    static DicomDataset RichImage()
    {
        var ds = DicomTestData.MakeImage(rows: 20, cols: 30, frames: 3, bitsStored: 12, signed: true);
        var inner = new DicomDataset().AddOrUpdate(DicomTag.CodeValue, "121322").AddOrUpdate(DicomTag.CodingSchemeDesignator, "DCM")
            .AddOrUpdate(DicomTag.CodeMeaning, "odd");
        var item = new DicomDataset()
            .AddOrUpdate(DicomTag.ReferencedSOPClassUID, DicomUID.CTImageStorage)
            .AddOrUpdate(DicomTag.ReferencedSOPInstanceUID, DicomUID.Generate())
            .AddOrUpdate(new DicomSequence(DicomTag.PurposeOfReferenceCodeSequence, inner));
        ds.AddOrUpdate(new DicomSequence(DicomTag.SourceImageSequence, item, new DicomDataset()));
        ds.AddOrUpdate(DicomVR.LO, new DicomTag(0x0029, 0x0010), "MEDRECON TEST");
        ds.AddOrUpdate(DicomVR.OB, new DicomTag(0x0029, 0x1001), new byte[] { 1, 2, 3 }); // odd length
        ds.AddOrUpdate(DicomVR.FD, new DicomTag(0x0029, 0x1002), 1.5, -2.25);
        ds.AddOrUpdate(DicomTag.PatientName, "Müller^Jörg"); // Latin-1
        ds.AddOrUpdate(DicomTag.NumberOfFrames, 3);
        return ds;
    }

    [Fact]
    public void RoundTrip_OwnFile_IsBitExact()
    {
        using var tmp = new TempDir();
        var ds = RichImage();
        new DicomFile(ds).Save(tmp["a.dcm"]);
        var a = DicomFile.Open(tmp["a.dcm"]);
        AssertSameElements(ds, a.Dataset);
        Assert.Equal("Müller^Jörg", a.Dataset.GetString(DicomTag.PatientName));
        Assert.Equal(new[] { 1.5, -2.25 }, a.Dataset.GetValues<double>(new DicomTag(0x0029, 0x1002)));
        Assert.Equal(2, a.Dataset.GetSequence(DicomTag.SourceImageSequence).Items.Count);
        a.Save(tmp["b.dcm"]);
        Assert.Equal(File.ReadAllBytes(tmp["a.dcm"]), File.ReadAllBytes(tmp["b.dcm"]));
        Assert.Equal(DicomTestData.StoredValues(new DicomFile(ds)), DicomTestData.StoredValues(a));
        Assert.Empty(Directory.GetFiles(tmp.Path, "*.tmp-*"));
        // the meta group length is right: dcmtk reads the file without complaint
        if (ExternalTools.Which("dcmdump") != null)
        {
            var (code, _, err) = ExternalTools.Run("dcmdump", new[] { "-q", tmp["a.dcm"] });
            Assert.True(code == 0 && err.Length == 0, err);
        }
    }

    [SkippableFact]
    public void RoundTrip_PhilipsSlice_IsBitExact()
    {
        var folder = DicomTestData.PhilipsFolder;
        Skip.If(folder == null, "shared data not present");
        using var tmp = new TempDir();
        var src = DicomFile.Open(Path.Combine(folder!, "I100"));
        src.Save(tmp["a.dcm"]);
        var a = DicomFile.Open(tmp["a.dcm"]);
        AssertSameElements(src.Dataset, a.Dataset);
        Assert.Equal(DicomTestData.StoredValues(src), DicomTestData.StoredValues(a));
        a.Save(tmp["b.dcm"]);
        Assert.Equal(File.ReadAllBytes(tmp["a.dcm"]), File.ReadAllBytes(tmp["b.dcm"]));
    }

    public static IEnumerable<object[]> Transcodings() => new[]
    {
        new object[] { "dcmconv", "+ti" }, new object[] { "dcmconv", "+tb" }, new object[] { "dcmconv", "+td" },
        new object[] { "dcmcrle", "" }, new object[] { "dcmcjpeg", "+e1" },
        new object[] { "dcmcjpeg", "+el +sv 2" }, new object[] { "dcmcjpeg", "+el +sv 3" }, new object[] { "dcmcjpeg", "+el +sv 4" },
        new object[] { "dcmcjpeg", "+el +sv 5" }, new object[] { "dcmcjpeg", "+el +sv 6" }, new object[] { "dcmcjpeg", "+el +sv 7" },
    };

    /// <summary>Our files (a phantom series slice, a signed 12-bit multi-frame image, an 8-bit image) transcoded by dcmtk read back identically.</summary>
    [SkippableTheory]
    [MemberData(nameof(Transcodings))]
    public void Transcoded_ByDcmtk_ReadsBackIdentically(string tool, string options)
    {
        ExternalTools.RequireTool(tool, "dcmtk");
        using var tmp = new TempDir();
        var vol = new float[40 * 36 * 2];
        for (int i = 0; i < vol.Length; i++) vol[i] = (float)(1000 * Math.Sin(i * 0.013) + 0.37 * (i % 7));
        var phantom = DicomSeriesWriter.WritePhantom(vol, 40, 36, 2, new PhantomSeriesOptions { PhantomName = "test" }, tmp["phantom"]);
        new DicomFile(DicomTestData.MakeImage(rows: 33, cols: 17, frames: 2, bitsStored: 12, signed: true)).Save(tmp["signed12.dcm"]);
        new DicomFile(DicomTestData.MakeImage(rows: 16, cols: 16, bitsStored: 8, bitsAllocated: 8, signed: false)).Save(tmp["u8.dcm"]);
        foreach (var input in new[] { phantom[0], tmp["signed12.dcm"], tmp["u8.dcm"] })
        {
            var output = input + ".out";
            var args = options.Split(' ', StringSplitOptions.RemoveEmptyEntries).Concat(new[] { input, output }).ToArray();
            DicomTestData.Tool(tool, args);
            var original = DicomFile.Open(input);
            var transcoded = DicomFile.Open(output);
            string expectedTs = tool switch
            {
                "dcmcrle" => DicomTransferSyntax.RLELossless.UID,
                "dcmcjpeg" => options == "+e1" ? DicomTransferSyntax.JPEGProcess14SV1.UID : DicomTransferSyntax.JPEGProcess14.UID,
                _ => options switch { "+ti" => "1.2.840.10008.1.2", "+tb" => "1.2.840.10008.1.2.2", _ => "1.2.840.10008.1.2.1.99" },
            };
            Assert.Equal(expectedTs, transcoded.TransferSyntax.UID);
            Assert.Equal(DicomTestData.StoredValues(original), DicomTestData.StoredValues(transcoded));
            Assert.Equal(original.Dataset.GetString(DicomTag.SOPInstanceUID), transcoded.Dataset.GetString(DicomTag.SOPInstanceUID));
            Assert.Equal(original.Dataset.GetValues<double>(DicomTag.ImagePositionPatient), transcoded.Dataset.GetValues<double>(DicomTag.ImagePositionPatient));
        }
    }

    public static IEnumerable<object[]> JpegSettings() =>
        Enumerable.Range(1, 7).Select(sv => new object[] { sv, 0 }).Concat(new[] { new object[] { 1, 3 }, new object[] { 6, 2 } });

    /// <summary>JPEG Lossless (process 14, every predictor, with and without point transform) decodes to exactly what dcmdjpeg produces.</summary>
    [SkippableTheory]
    [MemberData(nameof(JpegSettings))]
    public void JpegLossless_MatchesDcmdjpeg(int predictor, int pointTransform)
    {
        ExternalTools.RequireTool("dcmcjpeg", "dcmtk");
        ExternalTools.RequireTool("dcmdjpeg", "dcmtk");
        using var tmp = new TempDir();
        var inputs = new List<string>();
        new DicomFile(DicomTestData.MakeImage(rows: 41, cols: 29, frames: 2, bitsStored: 16, signed: false, seed: predictor)).Save(tmp["u16.dcm"]);
        new DicomFile(DicomTestData.MakeImage(rows: 24, cols: 31, bitsStored: 12, signed: true, seed: predictor)).Save(tmp["s12.dcm"]);
        inputs.Add(tmp["u16.dcm"]);
        inputs.Add(tmp["s12.dcm"]);
        if (DicomTestData.PhilipsFolder is { } philips && predictor == 1 && pointTransform == 0) inputs.Add(Path.Combine(philips, "I700"));
        foreach (var input in inputs)
        {
            var jpg = tmp[Path.GetFileName(input) + ".jpg.dcm"];
            var dec = tmp[Path.GetFileName(input) + ".dec.dcm"];
            var opts = predictor == 1 && pointTransform == 0 ? new List<string> { "+e1" } : new List<string> { "+el", "+sv", predictor.ToString() };
            if (pointTransform > 0) opts.AddRange(new[] { "+pt", pointTransform.ToString() });
            DicomTestData.Tool("dcmcjpeg", opts.Concat(new[] { input, jpg }).ToArray());
            DicomTestData.Tool("dcmdjpeg", jpg, dec);
            var ours = DicomFile.Open(jpg);
            Assert.True(ours.TransferSyntax.IsEncapsulated);
            var theirs = DicomFile.Open(dec);
            Assert.False(theirs.TransferSyntax.IsEncapsulated);
            var px = DicomPixelData.Create(ours);
            var pt = DicomPixelData.Create(theirs);
            for (int f = 0; f < px.NumberOfFrames; f++) Assert.Equal(pt.GetFrameBytes(f), px.GetFrameBytes(f));
        }
    }

    [Fact]
    public void Rle_EncodeDecode_RoundTrips()
    {
        var rng = new Random(3);
        var native = new byte[37 * 23 * 3 * 2];
        for (int i = 0; i < native.Length; i++) native[i] = (byte)(i % 97 < 40 ? 7 : rng.Next(256));
        var rle = MedRecon.Dicom.Codecs.RleDecoder.EncodeFrame(native, 37, 23, 3, 16);
        Assert.Equal(native, MedRecon.Dicom.Codecs.RleDecoder.DecodeFrame(rle, 37, 23, 3, 16));
    }

    [Fact]
    public void UnsupportedSyntax_GivesClearError()
    {
        var ds = DicomTestData.MakeImage(rows: 4, cols: 4);
        ds.AddOrUpdate(new DicomFragmentSequence(DicomTag.PixelData, DicomVR.OB, Array.Empty<byte>(), new[] { new byte[] { 0xFF, 0x4F, 0xFF, 0x51 } }));
        using var ms = new MemoryStream();
        var f = DicomFile.Open(WriteWithSyntax(ds, "1.2.840.10008.1.2.4.90"));
        var ex = Assert.Throws<DicomUnsupportedTransferSyntaxException>(() => DicomPixelData.Create(f));
        Assert.Contains("JPEG 2000", ex.Message);
        Assert.Contains("gdcmconv --raw", ex.Message);
        Assert.Contains("dcmdjpeg", ex.Message);
    }

    /// <summary>Writes a data set with encapsulated pixel data under the given transfer syntax UID (in memory).</summary>
    internal static byte[] WriteWithSyntax(DicomDataset ds, string tsUid)
    {
        using var ms = new MemoryStream();
        new DicomFile(ds).Save(ms);
        var f = DicomFile.Open(ms.ToArray());
        // patch the transfer syntax UID in the meta header (same length not required: rebuild by hand)
        var bytes = ms.ToArray();
        var tsOld = System.Text.Encoding.ASCII.GetBytes(f.TransferSyntax.UID);
        int at = bytes.AsSpan().IndexOf(tsOld);
        var padded = tsUid.Length % 2 == 1 ? tsUid + "\0" : tsUid;
        var tsNew = System.Text.Encoding.ASCII.GetBytes(padded);
        var result = new List<byte>();
        result.AddRange(bytes[..(at - 2)]);
        result.Add((byte)tsNew.Length);
        result.Add(0);
        result.AddRange(tsNew);
        int oldLen = bytes[at - 2];
        result.AddRange(bytes[(at + oldLen)..]);
        var arr = result.ToArray();
        // fix the meta group length (UL at offset 140)
        uint gl = BitConverter.ToUInt32(arr, 140);
        BitConverter.GetBytes((uint)(gl + tsNew.Length - oldLen)).CopyTo(arr, 140);
        return arr;
    }
}
