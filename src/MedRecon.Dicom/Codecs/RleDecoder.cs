using System.Buffers.Binary;

namespace MedRecon.Dicom.Codecs;

/// <summary>DICOM RLE Lossless (PS3.5 Annex G). Output is capped at what the image header allows.</summary>
public static class RleDecoder
{
    /// <summary>Decodes one frame into native little-endian, pixel-interleaved bytes (rows*cols*samples*bytesPerSample).</summary>
    public static byte[] DecodeFrame(ReadOnlySpan<byte> frame, int rows, int columns, int samplesPerPixel, int bitsAllocated, string? path = null)
    {
        if (bitsAllocated % 8 != 0) throw new DicomFileException(path, -1, $"RLE with BitsAllocated {bitsAllocated} is not supported");
        if (frame.Length < 64) throw new DicomFileException(path, -1, "RLE frame shorter than its 64-byte header");
        int bytesPerSample = bitsAllocated / 8;
        int segments = (int)BinaryPrimitives.ReadUInt32LittleEndian(frame);
        int expected = samplesPerPixel * bytesPerSample;
        if (segments != expected || segments > 15)
            throw new DicomFileException(path, -1, $"RLE frame has {segments} segments, expected {expected} (samples {samplesPerPixel} × bytes {bytesPerSample})");
        long pixels = (long)rows * columns;
        if (pixels * expected > Array.MaxLength) throw new DicomFileException(path, -1, "RLE frame too large");
        // PackBits expands at most 64-fold (2 bytes → 128): a frame that cannot fill the image is rejected before allocating
        if ((long)frame.Length * 64 < pixels * expected)
            throw new DicomFileException(path, -1, $"RLE frame of {frame.Length} bytes cannot hold {rows}×{columns}×{expected} bytes");
        var output = new byte[pixels * expected];
        var seg = new byte[pixels];
        for (int s = 0; s < segments; s++)
        {
            uint start = BinaryPrimitives.ReadUInt32LittleEndian(frame[(4 + 4 * s)..]);
            uint stop = s + 1 < segments ? BinaryPrimitives.ReadUInt32LittleEndian(frame[(8 + 4 * s)..]) : (uint)frame.Length;
            if (start < 64 || start > frame.Length || stop > frame.Length || stop < start)
                throw new DicomFileException(path, -1, $"RLE segment {s} offsets {start}..{stop} are outside the {frame.Length}-byte frame");
            int n = DecodeSegment(frame[(int)start..(int)stop], seg);
            if (n < pixels) throw new DicomFileException(path, -1, $"RLE segment {s} decodes to {n} bytes, expected {pixels}");
            int sample = s / bytesPerSample;
            int byteIndex = bytesPerSample - 1 - s % bytesPerSample; // segments are most significant byte first
            int stride = expected;
            int offset = sample * bytesPerSample + byteIndex;
            for (long i = 0; i < pixels; i++) output[i * stride + offset] = seg[i];
        }
        return output;
    }

    /// <summary>PackBits decode into output (stops when it is full); returns bytes written.</summary>
    static int DecodeSegment(ReadOnlySpan<byte> src, byte[] output)
    {
        int o = 0, i = 0;
        while (i < src.Length && o < output.Length)
        {
            int n = (sbyte)src[i++];
            if (n >= 0)
            {
                int count = Math.Min(n + 1, Math.Min(src.Length - i, output.Length - o));
                src.Slice(i, count).CopyTo(output.AsSpan(o));
                i += n + 1;
                o += count;
            }
            else if (n != -128)
            {
                if (i >= src.Length) break;
                int count = Math.Min(1 - n, output.Length - o);
                output.AsSpan(o, count).Fill(src[i++]);
                o += count;
            }
        }
        return o;
    }

    /// <summary>Encodes one native little-endian interleaved frame as RLE (used by tests and writers).</summary>
    public static byte[] EncodeFrame(ReadOnlySpan<byte> native, int rows, int columns, int samplesPerPixel, int bitsAllocated)
    {
        int bps = bitsAllocated / 8, segments = samplesPerPixel * bps;
        long pixels = (long)rows * columns;
        var ms = new MemoryStream();
        ms.Write(new byte[64]);
        var header = new byte[64];
        BinaryPrimitives.WriteUInt32LittleEndian(header, (uint)segments);
        var seg = new byte[pixels];
        for (int s = 0; s < segments; s++)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(4 + 4 * s), (uint)ms.Length);
            int offset = (s / bps) * bps + (bps - 1 - s % bps);
            for (long i = 0; i < pixels; i++) seg[i] = native[(int)(i * segments + offset)];
            int p = 0;
            while (p < seg.Length)
            {
                int run = 1;
                while (p + run < seg.Length && run < 128 && seg[p + run] == seg[p]) run++;
                if (run >= 2)
                {
                    ms.WriteByte((byte)(1 - run));
                    ms.WriteByte(seg[p]);
                    p += run;
                    continue;
                }
                int lit = 1;
                while (p + lit < seg.Length && lit < 128 && !(p + lit + 1 < seg.Length && seg[p + lit] == seg[p + lit + 1])) lit++;
                ms.WriteByte((byte)(lit - 1));
                ms.Write(seg, p, lit);
                p += lit;
            }
            if ((ms.Length & 1) == 1) ms.WriteByte(0x80); // no-op pad to even
        }
        var result = ms.ToArray();
        header.CopyTo(result, 0);
        return result;
    }
}
