using MedRecon.Dicom;
using MedRecon.Tests.Infrastructure;

namespace MedRecon.Tests.Dicom;

public class DicomPixelTests
{
    static DicomPixelData Pixels(DicomDataset ds) => DicomPixelData.Create(ds, DicomTransferSyntax.ExplicitVRLittleEndian, "mem");

    static void SetWords(DicomDataset ds, params ushort[] words)
    {
        var b = new byte[words.Length * 2];
        Buffer.BlockCopy(words, 0, b, 0, b.Length);
        ds.AddOrUpdate(new DicomElement(DicomTag.PixelData, DicomVR.OW, b));
    }

    [Fact]
    public void BitsStoredBelowAllocated_MasksAndSignExtends()
    {
        var ds = DicomTestData.MakeImage(rows: 1, cols: 4, bitsStored: 12, signed: true);
        ds.AddOrUpdate(DicomTag.RescaleSlope, 2.0);
        ds.AddOrUpdate(DicomTag.RescaleIntercept, -10.0);
        // junk (overlay) bits above bit 11
        SetWords(ds, 0xF7FF, 0x0800, 0xAFFF, 0x0001);
        var px = Pixels(ds);
        Assert.Equal(new double[] { 2047, -2048, -1, 1 }, px.GetStoredFrame(0));
        Assert.Equal(new double[] { unchecked((short)0xF7FF), 0x0800, unchecked((short)0xAFFF), 1 }, px.GetRawFrame(0));
        Assert.Equal(new double[] { 4084, -4106, -12, -8 }, px.GetFrame(0));
        var f = new float[4];
        px.CopyFrameTo(0, f);
        Assert.Equal(new float[] { 4084, -4106, -12, -8 }, f);

        // HighBit above BitsStored - 1: the stored bits sit high in the word
        ds.AddOrUpdate(DicomTag.HighBit, (ushort)15);
        ds.AddOrUpdate(DicomTag.PixelRepresentation, (ushort)0);
        SetWords(ds, 0xFFF0, 0x0010, 0x800F, 0x0000);
        Assert.Equal(new double[] { 4095, 1, 2048, 0 }, Pixels(ds).GetStoredFrame(0));
    }

    [Fact]
    public void Monochrome1_PlanarConfiguration_MultiFrame_AndGeometry()
    {
        var ds = DicomTestData.MakeImage(rows: 2, cols: 2, frames: 2, bitsStored: 8, bitsAllocated: 8, signed: false);
        ds.AddOrUpdate(DicomTag.PhotometricInterpretation, "MONOCHROME1");
        ds.AddOrUpdate(new DicomElement(DicomTag.PixelData, DicomVR.OB, new byte[] { 1, 2, 3, 4, 5, 6, 7, 8 }));
        var px = Pixels(ds);
        Assert.True(px.IsMonochrome1);
        Assert.Equal(2, px.NumberOfFrames);
        Assert.Equal(new double[] { 5, 6, 7, 8 }, px.GetStoredFrame(1));
        Assert.Equal((0.5, 0.75), px.PixelSpacing!.Value);
        Assert.Equal(new[] { -10.0, -20.0, 30.0 }, px.ImagePositionPatient);
        Assert.Equal(6, px.ImageOrientationPatient!.Length);

        var rgb = DicomTestData.MakeImage(rows: 1, cols: 2, bitsStored: 8, bitsAllocated: 8, signed: false);
        rgb.AddOrUpdate(DicomTag.SamplesPerPixel, (ushort)3);
        rgb.AddOrUpdate(DicomTag.PhotometricInterpretation, "RGB");
        rgb.AddOrUpdate(DicomTag.PlanarConfiguration, (ushort)1);
        rgb.AddOrUpdate(new DicomElement(DicomTag.PixelData, DicomVR.OB, new byte[] { 1, 2, 10, 20, 100, 200 })); // RR GG BB
        Assert.Equal(new double[] { 1, 10, 100, 2, 20, 200 }, Pixels(rgb).GetStoredFrame(0));
    }

    [SkippableFact]
    public void ImplicitVR_Writing_And_StreamReading()
    {
        using var tmp = new TempDir();
        var ds = DicomTestData.MakeImage(rows: 5, cols: 7);
        ds.AddOrUpdate(new DicomSequence(DicomTag.SourceImageSequence, new DicomDataset().AddOrUpdate(DicomTag.ReferencedSOPInstanceUID, "1.2.3")));
        new DicomFile(ds).AsImplicitVRLittleEndian().Save(tmp["i.dcm"]);
        using (var fs = File.OpenRead(tmp["i.dcm"]))
        {
            var f = DicomFile.Open(fs, "i.dcm");
            Assert.Equal(DicomTransferSyntax.ImplicitVRLittleEndian, f.TransferSyntax);
            Assert.Equal("1.2.3", f.Dataset.GetSequence(DicomTag.SourceImageSequence).Items[0].GetString(DicomTag.ReferencedSOPInstanceUID));
            Assert.Equal(DicomTestData.StoredValues(new DicomFile(ds)), DicomTestData.StoredValues(f));
        }
        ExternalTools.RequireTool("dcmdump", "dcmtk");
        var (code, o, err) = ExternalTools.Run("dcmdump", new[] { tmp["i.dcm"] });
        Assert.True(code == 0 && err.Length == 0, err);
        Assert.Contains("Little Endian Implicit", o);
    }
}
