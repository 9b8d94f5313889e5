using System.Buffers.Binary;
using System.IO.Compression;

namespace MedRecon.Dicom;

/// <summary>Limits that keep malformed input from exhausting the machine.</summary>
public sealed class DicomReadOptions
{
    /// <summary>Maximum sequence nesting depth (a .NET stack overflow cannot be caught).</summary>
    public int MaxDepth { get; init; } = 256;
    /// <summary>Maximum size of the inflated data set of a Deflated Explicit VR LE file.</summary>
    public long MaxInflatedBytes { get; init; } = 1L << 30;
    /// <summary>Maximum file size read into memory.</summary>
    public long MaxFileBytes { get; init; } = int.MaxValue - 64;
    public static readonly DicomReadOptions Default = new();
}

/// <summary>Parses Part 10 files and bare data sets held in memory; every length is checked against the bytes left.</summary>
internal sealed class DicomReader
{
    const uint Undefined = 0xFFFFFFFF;
    readonly byte[] _b;
    readonly string? _path;
    readonly DicomReadOptions _opt;
    long _base; // offset of _b[0] in the file (0, or for deflated data the offset of the inflated stream)
    bool _bigEndian;

    DicomReader(byte[] buffer, string? path, DicomReadOptions opt)
    {
        _b = buffer;
        _path = path;
        _opt = opt;
    }

    DicomFileException Error(long pos, string problem) => new(_path, _base + pos, problem);

    public static DicomFile ReadFile(byte[] data, string? path, DicomReadOptions? options = null)
    {
        var opt = options ?? DicomReadOptions.Default;
        var r = new DicomReader(data, path, opt);
        int pos = 0;
        var preamble = new byte[128];
        bool hasPreamble = data.Length >= 132 && data[128] == 'D' && data[129] == 'I' && data[130] == 'C' && data[131] == 'M';
        if (hasPreamble)
        {
            Array.Copy(data, preamble, 128);
            pos = 132;
        }
        else if (data.Length >= 4 && data[0] == 'D' && data[1] == 'I' && data[2] == 'C' && data[3] == 'M')
            pos = 4;

        var meta = new DicomDataset();
        int datasetStart = pos;
        if (data.Length - pos >= 6 && BinaryPrimitives.ReadUInt16LittleEndian(data.AsSpan(pos)) == 0x0002)
        {
            r._bigEndian = false;
            // Group 2 is always Explicit VR Little Endian; some writers emit it implicit, the element reader copes.
            while (pos + 4 <= data.Length && BinaryPrimitives.ReadUInt16LittleEndian(data.AsSpan(pos)) == 0x0002)
            {
                if (data.Length - pos < 8) throw r.Error(pos, "truncated file meta information");
                r.ReadElement(ref pos, data.Length, meta, explicitVR: true, depth: 0);
            }
            datasetStart = pos;
        }
        else if (!hasPreamble && pos == 0)
            r.CheckLooksLikeDicom(pos);

        DicomTransferSyntax ts;
        string tsUid = meta.GetString(DicomTag.TransferSyntaxUID);
        if (tsUid.Length > 0) ts = DicomTransferSyntax.Parse(tsUid);
        else ts = r.Sniff(datasetStart);
        // Some files declare one syntax and use another in the data set; trust the bytes for the basic syntaxes.
        if (!ts.IsDeflate && !ts.IsEncapsulated && datasetStart + 6 <= data.Length)
        {
            var sniffed = r.Sniff(datasetStart);
            if (sniffed != ts) ts = sniffed;
        }

        DicomDataset ds;
        if (ts.IsDeflate)
        {
            var inflated = Inflate(data, datasetStart, path, opt);
            var r2 = new DicomReader(inflated, path, opt) { _base = 0 };
            ds = r2.ReadDataset(0, inflated.Length, explicitVR: true, depth: 0);
        }
        else
        {
            r._bigEndian = ts.IsBigEndian;
            ds = r.ReadDataset(datasetStart, data.Length, ts.IsExplicitVR, 0);
        }
        return new DicomFile(meta, ds, ts, path, hasPreamble ? preamble : null);
    }

    static byte[] Inflate(byte[] data, int start, string? path, DicomReadOptions opt)
    {
        using var input = new MemoryStream(data, start, data.Length - start, writable: false);
        using var z = new DeflateStream(input, CompressionMode.Decompress);
        using var output = new MemoryStream();
        var chunk = new byte[81920];
        try
        {
            int n;
            while ((n = z.Read(chunk, 0, chunk.Length)) > 0)
            {
                if (output.Length + n > opt.MaxInflatedBytes)
                    throw new DicomFileException(path, start, $"deflated data set inflates to more than {opt.MaxInflatedBytes} bytes (decompression bomb?)");
                output.Write(chunk, 0, n);
            }
        }
        catch (InvalidDataException ex)
        {
            throw new DicomFileException(path, start, $"corrupt deflate stream: {ex.Message}", ex);
        }
        return output.ToArray();
    }

    /// <summary>Guesses the syntax of a data set from its first element header.</summary>
    DicomTransferSyntax Sniff(int pos)
    {
        if (_b.Length - pos < 8) return DicomTransferSyntax.ExplicitVRLittleEndian;
        ushort groupLE = BinaryPrimitives.ReadUInt16LittleEndian(_b.AsSpan(pos));
        ushort groupBE = BinaryPrimitives.ReadUInt16BigEndian(_b.AsSpan(pos));
        bool vrOk = IsVRChars(_b[pos + 4], _b[pos + 5]);
        if (vrOk && groupBE < groupLE && groupBE != 0) return DicomTransferSyntax.ExplicitVRBigEndian;
        if (vrOk) return DicomTransferSyntax.ExplicitVRLittleEndian;
        return DicomTransferSyntax.ImplicitVRLittleEndian;
    }

    void CheckLooksLikeDicom(int pos)
    {
        if (_b.Length - pos < 8) throw Error(pos, "not a DICOM file (too short)");
        ushort g = BinaryPrimitives.ReadUInt16LittleEndian(_b.AsSpan(pos));
        ushort gBE = BinaryPrimitives.ReadUInt16BigEndian(_b.AsSpan(pos));
        ushort e = BinaryPrimitives.ReadUInt16LittleEndian(_b.AsSpan(pos + 2));
        bool plausible = (g is >= 0x0002 and <= 0x0028 && g % 2 == 0 && e < 0x2000) || gBE == 0x0008;
        if (!plausible) throw Error(pos, "not a DICOM file (no DICM preamble and no plausible first data element)");
    }

    static bool IsVRChars(byte a, byte b) => a >= 'A' && a <= 'Z' && b >= 'A' && b <= 'Z' && DicomVR.TryParse(new string(new[] { (char)a, (char)b })) != null;

    ushort U16(int p) => _bigEndian ? BinaryPrimitives.ReadUInt16BigEndian(_b.AsSpan(p)) : BinaryPrimitives.ReadUInt16LittleEndian(_b.AsSpan(p));
    uint U32(int p) => _bigEndian ? BinaryPrimitives.ReadUInt32BigEndian(_b.AsSpan(p)) : BinaryPrimitives.ReadUInt32LittleEndian(_b.AsSpan(p));

    DicomDataset ReadDataset(int pos, int end, bool explicitVR, int depth)
    {
        var ds = new DicomDataset();
        ReadDatasetInto(ref pos, end, ds, explicitVR, depth, untilDelimiter: false);
        return ds;
    }

    /// <summary>Reads elements into ds until end, or (untilDelimiter) an item delimitation item.</summary>
    void ReadDatasetInto(ref int pos, int end, DicomDataset ds, bool explicitVR, int depth, bool untilDelimiter)
    {
        while (pos < end)
        {
            if (end - pos < 8)
            {
                // trailing padding (all zero) after the last element is tolerated at the top level
                if (depth == 0 && !untilDelimiter && _b.AsSpan(pos, end - pos).IndexOfAnyExcept((byte)0) < 0) { pos = end; return; }
                throw Error(pos, $"truncated data element header ({end - pos} bytes left)");
            }
            ushort g = U16(pos), e = U16(pos + 2);
            if (g == 0xFFFE)
            {
                if (e == 0xE00D)
                {
                    pos += 8;
                    if (untilDelimiter) return;
                    continue; // stray item delimiter: ignored, as dcmtk does
                }
                if (e == 0xE0DD && !untilDelimiter)
                {
                    pos += 8;
                    continue; // stray sequence delimiter at data set level
                }
                throw Error(pos, $"unexpected item tag (FFFE,{e:X4}) inside a data set");
            }
            if (depth == 0 && !untilDelimiter && g == 0 && e == 0 && _b.AsSpan(pos, end - pos).IndexOfAnyExcept((byte)0) < 0) { pos = end; return; }
            ReadElement(ref pos, end, ds, explicitVR, depth);
        }
        if (untilDelimiter) throw Error(pos, "item with undefined length has no item delimitation item before the end of its container");
    }

    void ReadElement(ref int pos, int end, DicomDataset ds, bool explicitVR, int depth)
    {
        int start = pos;
        var tag = new DicomTag(U16(pos), U16(pos + 2));
        DicomVR vr;
        uint len;
        if (explicitVR && IsVRChars(_b[pos + 4], _b[pos + 5]))
        {
            vr = DicomVR.Parse(new string(new[] { (char)_b[pos + 4], (char)_b[pos + 5] }));
            if (vr.Has32BitLength)
            {
                if (end - pos < 12) throw Error(pos, "truncated data element header");
                len = U32(pos + 8);
                pos += 12;
            }
            else
            {
                len = U16(pos + 6);
                pos += 8;
            }
        }
        else
        {
            // Implicit VR (or an explicit stream with an implicit element, which some writers produce).
            vr = DicomDictionary.ImplicitVR(tag);
            len = U32(pos + 4);
            pos += 8;
        }

        if (len == Undefined)
        {
            if (tag == DicomTag.PixelData || (vr != DicomVR.SQ && vr != DicomVR.UN && tag.Group == 0x7FE0))
            {
                ds.AddOrUpdate(ReadFragments(ref pos, end, tag, vr == DicomVR.UN ? DicomVR.OB : vr));
                return;
            }
            if (vr == DicomVR.SQ || vr == DicomVR.UN)
            {
                // UN with undefined length is a sequence encoded Implicit VR Little Endian (PS3.5 6.2.2).
                bool itemsExplicit = vr == DicomVR.SQ && explicitVR;
                bool savedBE = _bigEndian;
                if (vr == DicomVR.UN) _bigEndian = false;
                var sq = ReadSequence(ref pos, end, tag, itemsExplicit, depth + 1, undefinedLength: true, ds);
                _bigEndian = savedBE;
                ds.AddOrUpdate(sq);
                return;
            }
            throw Error(start, $"{tag} {tag.Keyword} ({vr}) has an undefined length, which only SQ, UN and pixel data may have");
        }

        if (len > (uint)(end - pos))
            throw Error(start, $"{tag} {tag.Keyword} declares a length of {len} bytes but only {end - pos} bytes are left");
        int n = (int)len;
        if (vr == DicomVR.SQ)
        {
            int seqEnd = pos + n;
            var sq = ReadSequence(ref pos, seqEnd, tag, explicitVR, depth + 1, undefinedLength: false, ds);
            pos = seqEnd;
            ds.AddOrUpdate(sq);
            return;
        }
        var buf = _b.AsSpan(pos, n).ToArray();
        pos += n;
        if (_bigEndian)
        {
            int size = vr.ValueSize;
            if (tag == DicomTag.PixelData && vr == DicomVR.OW && ds.TryGetValue<int>(DicomTag.BitsAllocated, 0, out int ba) && ba is 32 or 64)
                size = ba / 8; // 32-bit pixels in OW: swap whole samples, as dcmtk and pydicom do
            if (size > 1) Swap(buf, size);
        }
        ds.AddOrUpdate(new DicomElement(tag, vr, buf));
    }

    static void Swap(byte[] buf, int size)
    {
        int n = buf.Length - buf.Length % size;
        for (int i = 0; i < n; i += size) Array.Reverse(buf, i, size);
    }

    DicomSequence ReadSequence(ref int pos, int end, DicomTag tag, bool explicitVR, int depth, bool undefinedLength, DicomDataset parent)
    {
        if (depth > _opt.MaxDepth) throw Error(pos, $"sequences nested deeper than {_opt.MaxDepth} levels");
        var sq = new DicomSequence(tag);
        while (true)
        {
            if (!undefinedLength && pos >= end) return sq;
            if (end - pos < 8) throw Error(pos, $"sequence {tag} {tag.Keyword} is truncated (no sequence delimitation item)");
            ushort g = U16(pos), e = U16(pos + 2);
            uint len = U32(pos + 4);
            int itemStart = pos;
            pos += 8;
            if (g == 0xFFFE && e == 0xE0DD)
            {
                if (undefinedLength) return sq;
                continue; // tolerated inside a defined-length sequence
            }
            if (g != 0xFFFE || e != 0xE000)
                throw Error(itemStart, $"expected an item tag (FFFE,E000) in sequence {tag} {tag.Keyword}, found ({g:X4},{e:X4})");
            var item = new DicomDataset { InheritedEncoding = parent.TextEncoding };
            if (len == Undefined)
                ReadDatasetInto(ref pos, end, item, explicitVR, depth, untilDelimiter: true);
            else
            {
                if (len > (uint)(end - pos))
                    throw Error(itemStart, $"item of sequence {tag} declares {len} bytes but only {end - pos} are left");
                int itemEnd = pos + (int)len;
                ReadDatasetInto(ref pos, itemEnd, item, explicitVR, depth, untilDelimiter: false);
                pos = itemEnd;
            }
            sq.Items.Add(item);
        }
    }

    DicomFragmentSequence ReadFragments(ref int pos, int end, DicomTag tag, DicomVR vr)
    {
        byte[]? offsets = null;
        var fragments = new List<byte[]>();
        while (true)
        {
            if (end - pos < 8) throw Error(pos, "encapsulated pixel data is truncated (no sequence delimitation item)");
            ushort g = U16(pos), e = U16(pos + 2);
            uint len = U32(pos + 4);
            int itemStart = pos;
            pos += 8;
            if (g == 0xFFFE && e == 0xE0DD) break;
            if (g != 0xFFFE || e != 0xE000)
                throw Error(itemStart, $"expected a fragment item (FFFE,E000) in encapsulated pixel data, found ({g:X4},{e:X4})");
            if (len == Undefined || len > (uint)(end - pos))
                throw Error(itemStart, $"pixel data fragment declares {(len == Undefined ? "an undefined length" : len + " bytes")} but only {end - pos} bytes are left");
            var data = _b.AsSpan(pos, (int)len).ToArray();
            pos += (int)len;
            if (offsets == null) offsets = data;
            else fragments.Add(data);
        }
        return new DicomFragmentSequence(tag, vr, offsets ?? Array.Empty<byte>(), fragments);
    }
}
