using System.Buffers.Binary;
using MedRecon.Dicom.Codecs;

namespace MedRecon.Dicom;

/// <summary>
/// The image pixel module of a data set and its frames, decoded from native or encapsulated (RLE Lossless, JPEG
/// Lossless process 14) pixel data. Frames come out pixel-interleaved (row, column, sample), whatever the planar
/// configuration. "Stored" values are masked to BitsStored and sign-extended when PixelRepresentation is 1;
/// "modality" values apply RescaleSlope/Intercept (Hounsfield units for CT).
/// </summary>
public sealed class DicomPixelData
{
    readonly DicomDataset _ds;
    readonly string? _path;
    readonly DicomItem _pixelItem;
    byte[][]? _frameData; // encapsulated: the compressed bytes of each frame

    DicomPixelData(DicomDataset ds, DicomTransferSyntax syntax, string? path)
    {
        _ds = ds;
        _path = path;
        Syntax = syntax;
        int Get(DicomTag t, int def)
        {
            if (!ds.Contains(t)) return def;
            if (!ds.TryGetValue<int>(t, 0, out var v)) throw Error($"{t.Keyword} is not a valid integer");
            return v;
        }
        Rows = Get(DicomTag.Rows, -1);
        Columns = Get(DicomTag.Columns, -1);
        if (Rows <= 0 || Columns <= 0) throw Error($"Rows/Columns missing or invalid ({Rows}×{Columns})");
        SamplesPerPixel = Get(DicomTag.SamplesPerPixel, 1);
        NumberOfFrames = Get(DicomTag.NumberOfFrames, 1);
        if (NumberOfFrames < 1) NumberOfFrames = 1;
        PixelRepresentation = Get(DicomTag.PixelRepresentation, 0);
        PlanarConfiguration = Get(DicomTag.PlanarConfiguration, 0);
        PhotometricInterpretation = ds.GetString(DicomTag.PhotometricInterpretation);
        _pixelItem = ds.GetItem(DicomTag.PixelData) ?? ds.GetItem(DicomTag.FloatPixelData) ?? ds.GetItem(DicomTag.DoubleFloatPixelData)
                     ?? throw Error("no pixel data");
        IsFloat = _pixelItem.Tag != DicomTag.PixelData;
        BitsAllocated = IsFloat ? (_pixelItem.Tag == DicomTag.FloatPixelData ? 32 : 64) : Get(DicomTag.BitsAllocated, -1);
        BitsStored = IsFloat ? BitsAllocated : Get(DicomTag.BitsStored, BitsAllocated);
        HighBit = Get(DicomTag.HighBit, BitsStored - 1);
        if (BitsAllocated is not (1 or 8 or 16 or 32 or 64) || (BitsAllocated == 64 && !IsFloat))
            throw Error($"BitsAllocated {BitsAllocated} is not supported (1, 8, 16, 32)");
        if (BitsStored < 1 || BitsStored > BitsAllocated) throw Error($"BitsStored {BitsStored} is outside 1..BitsAllocated ({BitsAllocated})");
        if (SamplesPerPixel is not (1 or 3 or 4)) throw Error($"SamplesPerPixel {SamplesPerPixel} is not supported");
        if (SamplesPerPixel > 1 && BitsAllocated == 1) throw Error("1-bit colour images are not supported");
        if (PhotometricInterpretation.StartsWith("YBR_FULL_422", StringComparison.Ordinal) && _pixelItem is DicomElement)
            throw Error("uncompressed YBR_FULL_422 (chroma-subsampled) pixel data is not supported; convert it with `dcmconv` or `gdcmconv --raw` to RGB first");
        if (PixelRepresentation is not (0 or 1)) throw Error($"PixelRepresentation {PixelRepresentation} is not 0 or 1");
        RescaleSlope = ds.TryGetValue<double>(DicomTag.RescaleSlope, 0, out var s) && s != 0 ? s : 1.0;
        RescaleIntercept = ds.TryGetValue<double>(DicomTag.RescaleIntercept, 0, out var i) ? i : 0.0;
        checked
        {
            try
            {
                long bits = (long)Rows * Columns * SamplesPerPixel * BitsAllocated;
                FrameBits = bits;
                _ = bits * NumberOfFrames;
            }
            catch (OverflowException)
            {
                throw Error("Rows × Columns × Samples × BitsAllocated × Frames overflows");
            }
        }
        if ((FrameBits + 7) / 8 > Array.MaxLength) throw Error("frame too large");

        if (_pixelItem is DicomFragmentSequence)
        {
            if (!syntax.IsEncapsulated) Syntax = GuessEncapsulated();
            if (!Syntax.IsPixelDataSupported) throw new DicomUnsupportedTransferSyntaxException(path, Syntax);
        }
        else if (_pixelItem is DicomElement e)
        {
            if (syntax.IsEncapsulated) Syntax = DicomTransferSyntax.ExplicitVRLittleEndian; // data set was decompressed
            long need = (FrameBits * NumberOfFrames + 7) / 8;
            if (e.Buffer.Length < need)
                throw Error($"pixel data has {e.Buffer.Length} bytes, {Rows}×{Columns}×{SamplesPerPixel}×{BitsAllocated} bits × {NumberOfFrames} frames need {need}");
        }
        else throw Error("pixel data is a sequence");
    }

    DicomTransferSyntax GuessEncapsulated() => DicomTransferSyntax.JPEGProcess14SV1;

    DicomFileException Error(string m) => new(_path, -1, m);

    /// <summary>The pixel data of a data set read in the given syntax (the file's).</summary>
    public static DicomPixelData Create(DicomDataset dataset, DicomTransferSyntax syntax, string? path = null) => new(dataset, syntax, path);

    public static DicomPixelData Create(DicomFile file) => new(file.Dataset, file.TransferSyntax, file.FilePath);

    public DicomTransferSyntax Syntax { get; private set; }
    public int Rows { get; }
    public int Columns { get; }
    /// <summary>Alias of Columns, for fo-dicom's DicomImage shape.</summary>
    public int Width => Columns;
    public int Height => Rows;
    public int NumberOfFrames { get; }
    public int SamplesPerPixel { get; }
    public int BitsAllocated { get; }
    public int BitsStored { get; }
    public int HighBit { get; }
    public int PixelRepresentation { get; }
    public bool IsSigned => PixelRepresentation == 1;
    public int PlanarConfiguration { get; }
    public string PhotometricInterpretation { get; }
    /// <summary>MONOCHROME1: low values display bright; callers that display must invert. Values are not inverted here.</summary>
    public bool IsMonochrome1 => PhotometricInterpretation == "MONOCHROME1";
    public bool IsFloat { get; }
    public double RescaleSlope { get; }
    public double RescaleIntercept { get; }
    long FrameBits { get; }
    public int ValuesPerFrame => Rows * Columns * SamplesPerPixel;

    /// <summary>Native little-endian bytes of a frame (decompressed if needed), pixel-interleaved, BitsAllocated per sample
    /// (for BitsAllocated = 1 the frame's bits, unpacked to one byte per pixel).</summary>
    public byte[] GetFrameBytes(int frame)
    {
        if (frame < 0 || frame >= NumberOfFrames) throw new ArgumentOutOfRangeException(nameof(frame));
        if (_pixelItem is DicomElement e)
        {
            if (BitsAllocated == 1)
            {
                var bits = new byte[Rows * Columns];
                long start = (long)frame * Rows * Columns;
                for (int i = 0; i < bits.Length; i++)
                {
                    long b = start + i;
                    bits[i] = (byte)((e.Buffer[b >> 3] >> (int)(b & 7)) & 1);
                }
                return bits;
            }
            int size = (int)(FrameBits / 8);
            var span = e.Buffer.AsSpan((int)((long)frame * size), size);
            if (SamplesPerPixel > 1 && PlanarConfiguration == 1) return Interleave(span, BitsAllocated / 8);
            return span.ToArray();
        }
        var data = FrameData()[frame];
        if (Syntax == DicomTransferSyntax.RLELossless)
            return RleDecoder.DecodeFrame(data, Rows, Columns, SamplesPerPixel, BitsAllocated, _path);
        if (Syntax == DicomTransferSyntax.JPEGProcess14 || Syntax == DicomTransferSyntax.JPEGProcess14SV1)
            return DecodeJpeg(data);
        throw new DicomUnsupportedTransferSyntaxException(_path, Syntax);
    }

    byte[] Interleave(ReadOnlySpan<byte> planar, int bps)
    {
        int n = Rows * Columns, spp = SamplesPerPixel;
        var r = new byte[planar.Length];
        for (int s = 0; s < spp; s++)
            for (int i = 0; i < n; i++)
                for (int k = 0; k < bps; k++)
                    r[(i * spp + s) * bps + k] = planar[(s * n + i) * bps + k];
        return r;
    }

    byte[] DecodeJpeg(byte[] data)
    {
        var (planes, w, h, precision) = JpegLosslessDecoder.Decode(data, _path);
        if (w != Columns || h != Rows || planes.Length != SamplesPerPixel)
            throw Error($"JPEG frame is {w}×{h}×{planes.Length}, the data set says {Columns}×{Rows}×{SamplesPerPixel}");
        if (precision > BitsAllocated) throw Error($"JPEG precision {precision} exceeds BitsAllocated {BitsAllocated}");
        int bps = BitsAllocated / 8, n = w * h, spp = planes.Length;
        var r = new byte[n * spp * bps];
        for (int i = 0; i < n; i++)
            for (int s = 0; s < spp; s++)
            {
                int o = (i * spp + s) * bps;
                ushort v = planes[s][i];
                r[o] = (byte)v;
                if (bps > 1) r[o + 1] = (byte)(v >> 8);
            }
        return r;
    }

    byte[][] FrameData()
    {
        if (_frameData != null) return _frameData;
        var f = (DicomFragmentSequence)_pixelItem;
        var frags = f.Fragments;
        byte[][] frames;
        if (NumberOfFrames == 1) frames = new[] { Concat(frags) };
        else if (frags.Count == NumberOfFrames) frames = frags.ToArray();
        else if (f.OffsetTableBytes.Length >= 4 * NumberOfFrames)
        {
            var offsets = f.OffsetTable;
            // map byte offsets (relative to the first fragment's item tag) to fragment indices
            var fragStart = new long[frags.Count];
            long acc = 0;
            for (int i = 0; i < frags.Count; i++)
            {
                fragStart[i] = acc;
                acc += 8 + frags[i].Length;
            }
            frames = new byte[NumberOfFrames][];
            for (int k = 0; k < NumberOfFrames; k++)
            {
                long lo = offsets[k], hi = k + 1 < NumberOfFrames ? offsets[k + 1] : long.MaxValue;
                var parts = frags.Where((_, i) => fragStart[i] >= lo && fragStart[i] < hi).ToList();
                if (parts.Count == 0) throw Error($"basic offset table entry {k} points at no fragment");
                frames[k] = Concat(parts);
            }
        }
        else if (Syntax != DicomTransferSyntax.RLELossless)
        {
            // no offset table: a JPEG frame starts with an SOI marker
            var list = new List<List<byte[]>>();
            foreach (var fr in frags)
            {
                if (fr.Length >= 2 && fr[0] == 0xFF && fr[1] == 0xD8 || list.Count == 0) list.Add(new List<byte[]>());
                list[^1].Add(fr);
            }
            frames = list.Select(Concat).ToArray();
        }
        else frames = frags.ToArray();
        if (frames.Length < NumberOfFrames)
            throw Error($"encapsulated pixel data holds {frames.Length} frames, NumberOfFrames is {NumberOfFrames}");
        return _frameData = frames;
    }

    static byte[] Concat(IReadOnlyList<byte[]> parts)
    {
        if (parts.Count == 1) return parts[0];
        var r = new byte[parts.Sum(p => (long)p.Length)];
        int o = 0;
        foreach (var p in parts)
        {
            p.CopyTo(r, o);
            o += p.Length;
        }
        return r;
    }

    /// <summary>Raw sample values as allocated (no masking), interpreted signed when PixelRepresentation is 1
    /// at the full BitsAllocated width — what pydicom 2.x's pixel_array returns.</summary>
    public double[] GetRawFrame(int frame) => Values(frame, mask: false, rescale: false);

    /// <summary>Stored values: masked to BitsStored (bits above HighBit dropped) and sign-extended when signed.</summary>
    public double[] GetStoredFrame(int frame) => Values(frame, mask: true, rescale: false);

    /// <summary>Modality values: stored × RescaleSlope + RescaleIntercept (HU for CT).</summary>
    public double[] GetFrame(int frame) => Values(frame, mask: true, rescale: true);

    /// <summary>Writes the modality values of a frame (stored × slope + intercept) into dest (length ValuesPerFrame).</summary>
    public void CopyFrameTo(int frame, Span<float> dest)
    {
        if (dest.Length < ValuesPerFrame) throw new ArgumentException("destination too small");
        if (BitsAllocated == 16 && !IsFloat && BitConverter.IsLittleEndian &&
            (_pixelItem is not DicomElement || SamplesPerPixel == 1 || PlanarConfiguration == 0))
        {
            int n = ValuesPerFrame;
            ReadOnlySpan<byte> bytes = _pixelItem is DicomElement e
                ? e.Buffer.AsSpan((int)((long)frame * n * 2), n * 2)
                : GetFrameBytes(frame);
            var u16 = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ushort>(bytes);
            int shift = Math.Max(0, HighBit + 1 - BitsStored);
            uint mask = BitsStored >= 32 ? uint.MaxValue : (1u << BitsStored) - 1, sign = 1u << (BitsStored - 1);
            bool signed = IsSigned;
            bool identity = RescaleSlope == 1 && RescaleIntercept == 0;
            if (frame < 0 || frame >= NumberOfFrames) throw new ArgumentOutOfRangeException(nameof(frame));
            for (int i = 0; i < n; i++)
            {
                uint v = ((uint)u16[i] >> shift) & mask;
                int sv = signed && (v & sign) != 0 ? (int)(v | ~mask) : (int)v;
                dest[i] = identity ? sv : (float)(sv * RescaleSlope + RescaleIntercept);
            }
            return;
        }
        var d = GetFrame(frame);
        for (int i = 0; i < d.Length; i++) dest[i] = (float)d[i];
    }

    public float[] GetFrameFloat(int frame)
    {
        var d = GetFrame(frame);
        var f = new float[d.Length];
        for (int i = 0; i < d.Length; i++) f[i] = (float)d[i];
        return f;
    }

    double[] Values(int frame, bool mask, bool rescale)
    {
        var b = GetFrameBytes(frame);
        int n = ValuesPerFrame;
        var r = new double[n];
        double slope = rescale ? RescaleSlope : 1, icpt = rescale ? RescaleIntercept : 0;
        if (IsFloat)
        {
            for (int i = 0; i < n; i++)
                r[i] = BitsAllocated == 32 ? BinaryPrimitives.ReadSingleLittleEndian(b.AsSpan(4 * i)) : BinaryPrimitives.ReadDoubleLittleEndian(b.AsSpan(8 * i));
            return r;
        }
        int shift = mask ? Math.Max(0, HighBit + 1 - BitsStored) : 0;
        int width = mask ? BitsStored : BitsAllocated;
        if (BitsAllocated == 1) width = 1;
        ulong m = width >= 64 ? ulong.MaxValue : (1UL << width) - 1;
        bool signed = IsSigned;
        ulong signBit = 1UL << (width - 1);
        if (BitsAllocated == 16 && BitConverter.IsLittleEndian)
        {
            // fast path: the common CT/MR case
            var u16 = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ushort>(b.AsSpan(0, 2 * n));
            int w = width, sh = shift;
            uint mm = (uint)m, sb = (uint)signBit;
            for (int i = 0; i < n; i++)
            {
                uint v = ((uint)u16[i] >> sh) & mm;
                int sv = signed && (v & sb) != 0 ? (int)(v | ~mm) : (int)v;
                r[i] = rescale ? sv * slope + icpt : sv;
            }
            return r;
        }
        for (int i = 0; i < n; i++)
        {
            ulong raw = BitsAllocated switch
            {
                1 or 8 => b[i],
                16 => BinaryPrimitives.ReadUInt16LittleEndian(b.AsSpan(2 * i)),
                _ => BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(4 * i)),
            };
            ulong v = (raw >> shift) & m;
            long sv = signed && (v & signBit) != 0 ? (long)(v | ~m) : (long)v;
            r[i] = rescale ? sv * slope + icpt : sv;
        }
        return r;
    }

    // ---- geometry helpers (Image Plane module)

    /// <summary>PixelSpacing as (row spacing, column spacing) in mm, or null.</summary>
    public (double Row, double Column)? PixelSpacing =>
        _ds.TryGetValues<double>(DicomTag.PixelSpacing, out var ps) && ps.Length >= 2 ? (ps[0], ps[1]) : null;

    public double[]? ImagePositionPatient =>
        _ds.TryGetValues<double>(DicomTag.ImagePositionPatient, out var p) && p.Length == 3 ? p : null;

    public double[]? ImageOrientationPatient =>
        _ds.TryGetValues<double>(DicomTag.ImageOrientationPatient, out var o) && o.Length == 6 ? o : null;
}
