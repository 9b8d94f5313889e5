using System.Buffers.Binary;
using System.Diagnostics;
using System.IO.Compression;
using MedRecon.Dicom;
using MedRecon.Tests.Infrastructure;

namespace MedRecon.Tests.Dicom;

/// <summary>Malformed input: typed errors with file and offset, in bounded time and memory.</summary>
public class DicomMalformedTests
{
    static byte[] Preamble()
    {
        var b = new byte[132];
        "DICM"u8.CopyTo(b.AsSpan(128));
        return b;
    }

    static byte[] Concat(params byte[][] parts) => parts.SelectMany(p => p).ToArray();

    static byte[] Explicit(ushort g, ushort e, string vr, byte[] value, uint? length = null)
    {
        bool longLen = DicomVR.Parse(vr).Has32BitLength;
        var h = new byte[longLen ? 12 : 8];
        BinaryPrimitives.WriteUInt16LittleEndian(h, g);
        BinaryPrimitives.WriteUInt16LittleEndian(h.AsSpan(2), e);
        h[4] = (byte)vr[0];
        h[5] = (byte)vr[1];
        if (longLen) BinaryPrimitives.WriteUInt32LittleEndian(h.AsSpan(8), length ?? (uint)value.Length);
        else BinaryPrimitives.WriteUInt16LittleEndian(h.AsSpan(6), (ushort)(length ?? (uint)value.Length));
        return Concat(h, value);
    }

    static byte[] Tag(ushort g, ushort e, uint len)
    {
        var h = new byte[8];
        BinaryPrimitives.WriteUInt16LittleEndian(h, g);
        BinaryPrimitives.WriteUInt16LittleEndian(h.AsSpan(2), e);
        BinaryPrimitives.WriteUInt32LittleEndian(h.AsSpan(4), len);
        return h;
    }

    static byte[] Meta(string ts)
    {
        var tsb = System.Text.Encoding.ASCII.GetBytes(ts.Length % 2 == 1 ? ts + "\0" : ts);
        var body = Explicit(0x0002, 0x0010, "UI", tsb);
        var gl = Explicit(0x0002, 0x0000, "UL", BitConverter.GetBytes((uint)body.Length));
        return Concat(Preamble(), gl, body);
    }

    static DicomFileException Fails(byte[] data, DicomReadOptions? opt = null)
    {
        var sw = Stopwatch.StartNew();
        long before = GC.GetAllocatedBytesForCurrentThread();
        var ex = Assert.Throws<DicomFileException>(() =>
        {
            var f = DicomFile.Open(data, "mem.dcm", opt);
            var px = DicomPixelData.Create(f);
            px.GetFrame(0);
        });
        Assert.True(sw.ElapsedMilliseconds < 2000, $"took {sw.ElapsedMilliseconds} ms");
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 64L * 1024 * 1024 + 20 * data.Length, "allocated too much");
        Assert.StartsWith("mem.dcm: ", ex.Message);
        return ex;
    }

    [Fact]
    public void HugeDeclaredLength_IsRejectedBeforeAllocating()
    {
        var data = Concat(Meta("1.2.840.10008.1.2.1"), Explicit(0x0010, 0x0010, "PN", "A^B "u8.ToArray()),
            Explicit(0x7FE0, 0x0010, "OB", new byte[16], length: 0xFFFFFFF0));
        var ex = Fails(data);
        Assert.Contains("declares a length of 4294967280", ex.Message);
        Assert.True(ex.Offset > 132);
        Assert.Contains("byte offset", ex.Message);
    }

    [Fact]
    public void DeepNesting_IsCappedWithoutStackOverflow()
    {
        Byte[] Nested(int depth)
        {
            var parts = new List<byte[]> { Meta("1.2.840.10008.1.2.1") };
            for (int i = 0; i < depth; i++)
            {
                parts.Add(Explicit(0x0008, 0x1140, "SQ", Array.Empty<byte>(), length: 0xFFFFFFFF));
                parts.Add(Tag(0xFFFE, 0xE000, 0xFFFFFFFF));
            }
            for (int i = 0; i < depth; i++)
            {
                parts.Add(Tag(0xFFFE, 0xE00D, 0));
                parts.Add(Tag(0xFFFE, 0xE0DD, 0));
            }
            return Concat(parts.ToArray());
        }
        var ok = DicomFile.Open(Nested(200), "ok.dcm");
        Assert.Single(ok.Dataset.GetSequence(DicomTag.ReferencedImageSequence).Items);
        var ex = Assert.Throws<DicomFileException>(() => DicomFile.Open(Nested(100_000), "deep.dcm"));
        Assert.Contains("nested deeper than 256", ex.Message);
    }

    [Fact]
    public void DeflateBomb_IsCapped()
    {
        var ms = new MemoryStream();
        using (var z = new DeflateStream(ms, CompressionLevel.SmallestSize, leaveOpen: true))
        {
            z.Write(Explicit(0x0010, 0x0010, "PN", "A^B "u8.ToArray()));
            z.Write(Explicit(0x0011, 0x1010, "OB", Array.Empty<byte>(), length: 8 << 20));
            z.Write(new byte[8 << 20]);
        }
        var data = Concat(Meta("1.2.840.10008.1.2.1.99"), ms.ToArray());
        Assert.True(data.Length < 100_000);
        var ok = DicomFile.Open(data, "ok.dcm");
        Assert.Equal("A^B", ok.Dataset.GetString(DicomTag.PatientName));
        var ex = Assert.Throws<DicomFileException>(() => DicomFile.Open(data, "bomb.dcm", new DicomReadOptions { MaxInflatedBytes = 1 << 20 }));
        Assert.Contains("decompression bomb", ex.Message);
    }

    [Fact]
    public void TruncatedAnywhere_GivesTypedErrorQuickly()
    {
        using var ms = new MemoryStream();
        new DicomFile(DicomTestData.MakeImage(rows: 10, cols: 10)).Save(ms);
        var full = ms.ToArray();
        var sw = Stopwatch.StartNew();
        int errors = 0;
        for (int cut = 0; cut < full.Length - 1; cut += 3)
        {
            try
            {
                var f = DicomFile.Open(full[..cut], "cut.dcm");
                DicomPixelData.Create(f).GetFrame(0);
            }
            catch (DicomFileException ex)
            {
                Assert.StartsWith("cut.dcm: ", ex.Message);
                errors++;
            }
        }
        Assert.True(errors > full.Length / 3 - 5);
        Assert.True(sw.ElapsedMilliseconds < 10_000);
    }

    [Fact]
    public void PixelDataShorterThanDeclaredImage_AndOverflowingDimensions_AreRejected()
    {
        var ds = DicomTestData.MakeImage(rows: 10, cols: 10);
        ds.AddOrUpdate(DicomTag.Rows, (ushort)11);
        using var ms = new MemoryStream();
        new DicomFile(ds).Save(ms);
        Assert.Contains("pixel data has 200 bytes", Fails(ms.ToArray()).Message);
        ds.AddOrUpdate(DicomTag.Rows, (ushort)65535);
        ds.AddOrUpdate(DicomTag.Columns, (ushort)65535);
        ds.AddOrUpdate(DicomTag.NumberOfFrames, int.MaxValue);
        ms.SetLength(0);
        new DicomFile(ds).Save(ms);
        Fails(ms.ToArray());
    }

    [Fact]
    public void BadRleAndJpegStreams_GiveTypedErrors()
    {
        foreach (var (ts, frag) in new[]
                 {
                     ("1.2.840.10008.1.2.5", new byte[64]),                                   // zero segments
                     ("1.2.840.10008.1.2.5", Concat(BitConverter.GetBytes(1u), BitConverter.GetBytes(4000u), new byte[56])), // offset outside
                     ("1.2.840.10008.1.2.4.70", new byte[] { 0xFF, 0xD8, 0xFF, 0xC3, 0, 11, 16, 0, 10, 0, 10, 1, 1, 0x11, 0, 0xFF, 0xDA, 0, 8, 1, 1, 0, 1, 0, 0 }),
                     ("1.2.840.10008.1.2.4.70", new byte[] { 0xFF, 0xD8, 0xFF, 0xC0, 0, 2 }), // lossy SOF0 inside a lossless syntax
                     ("1.2.840.10008.1.2.4.70", new byte[] { 1, 2, 3, 4 }),
                 })
        {
            var ds = DicomTestData.MakeImage(rows: 10, cols: 10);
            ds.AddOrUpdate(new DicomFragmentSequence(DicomTag.PixelData, DicomVR.OB, Array.Empty<byte>(), new[] { frag }));
            Fails(DicomCodecTests.WriteWithSyntax(ds, ts));
        }
    }

    [Fact]
    public void NotDicom_IsRejected()
    {
        var ex = Fails("hello, this is a plain text file and not a DICOM file"u8.ToArray());
        Assert.Contains("not a DICOM file", ex.Message);
        Fails(Array.Empty<byte>());
    }

    /// <summary>A bounded mutation run (the CI flavour of fuzzing): only typed errors, never a crash or a hang.</summary>
    [Fact]
    public void MutatedFiles_OnlyTypedErrors()
    {
        using var ms = new MemoryStream();
        var ds = DicomTestData.MakeImage(rows: 6, cols: 6, frames: 2);
        ds.AddOrUpdate(new DicomSequence(DicomTag.SourceImageSequence, new DicomDataset().AddOrUpdate(DicomTag.ReferencedSOPInstanceUID, "1.2.3")));
        new DicomFile(ds).Save(ms);
        var seeds = new List<byte[]> { ms.ToArray() };
        var rleDs = DicomTestData.MakeImage(rows: 6, cols: 6);
        var native = ((DicomElement)rleDs.GetItem(DicomTag.PixelData)!).Buffer;
        rleDs.AddOrUpdate(new DicomFragmentSequence(DicomTag.PixelData, DicomVR.OB, Array.Empty<byte>(),
            new[] { MedRecon.Dicom.Codecs.RleDecoder.EncodeFrame(native, 6, 6, 1, 16) }));
        seeds.Add(DicomCodecTests.WriteWithSyntax(rleDs, "1.2.840.10008.1.2.5"));
        var rng = new Random(1234);
        var sw = Stopwatch.StartNew();
        int runs = 0, typed = 0;
        for (int i = 0; i < 6000; i++)
        {
            var data = (byte[])seeds[i % seeds.Count].Clone();
            int n = 1 + rng.Next(4);
            for (int k = 0; k < n; k++)
            {
                int at = rng.Next(data.Length);
                data[at] = rng.Next(3) switch { 0 => (byte)rng.Next(256), 1 => 0xFF, _ => (byte)(data[at] ^ (1 << rng.Next(8))) };
            }
            if (rng.Next(10) == 0) data = data[..rng.Next(data.Length)];
            runs++;
            try
            {
                var f = DicomFile.Open(data, "fuzz.dcm");
                if (!f.Dataset.Contains(DicomTag.PixelData)) continue;
                var px = DicomPixelData.Create(f);
                for (int fr = 0; fr < Math.Min(px.NumberOfFrames, 2); fr++) px.GetFrame(fr);
            }
            catch (DicomFileException) { typed++; }
            catch (DicomDataException) { typed++; }
        }
        Assert.True(sw.ElapsedMilliseconds < 20_000, $"{runs} runs took {sw.ElapsedMilliseconds} ms");
        Console.WriteLine($"mutation run: {runs} inputs, {typed} typed errors, {sw.ElapsedMilliseconds} ms");
    }
}

public class DicomDecompressionLimitTests
{
    [Fact]
    public void TinyCompressedFrames_ClaimingHugeImages_AreRejectedBeforeAllocating()
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        var rle = new byte[64];
        BitConverter.GetBytes(2u).CopyTo(rle, 0);
        BitConverter.GetBytes(64u).CopyTo(rle, 4);
        BitConverter.GetBytes(64u).CopyTo(rle, 8);
        Assert.Throws<DicomFileException>(() => MedRecon.Dicom.Codecs.RleDecoder.DecodeFrame(rle, 65535, 65535, 1, 16));
        var jpeg = new byte[] { 0xFF, 0xD8, 0xFF, 0xC3, 0, 11, 16, 0xFF, 0xFF, 0xFF, 0xFF, 1, 1, 0x11, 0, 0xFF, 0xD9 };
        Assert.Throws<DicomFileException>(() => MedRecon.Dicom.Codecs.JpegLosslessDecoder.Decode(jpeg));
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 1 << 20);
    }

    /// <summary>Regression (AFL++ finding): an over-subscribed Huffman table indexed past the lookup table.</summary>
    [Fact]
    public void OverSubscribedHuffmanTable_IsATypedError()
    {
        var jpeg = new List<byte> { 0xFF, 0xD8, 0xFF, 0xC3, 0, 11, 8, 0, 2, 0, 2, 1, 1, 0x11, 0, 0xFF, 0xC4, 0, 2 + 1 + 16 + 3, 0x00 };
        jpeg.AddRange(new byte[] { 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 }); // three 1-bit codes
        jpeg.AddRange(new byte[] { 0, 1, 2, 0xFF, 0xD9 });
        var ex = Assert.Throws<DicomFileException>(() => MedRecon.Dicom.Codecs.JpegLosslessDecoder.Decode(jpeg.ToArray(), "x.dcm"));
        Assert.Contains("Huffman", ex.Message);
    }
}
