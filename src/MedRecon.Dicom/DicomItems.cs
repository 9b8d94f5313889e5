using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace MedRecon.Dicom;

/// <summary>One data element, sequence or fragment sequence of a data set.</summary>
public abstract class DicomItem
{
    protected DicomItem(DicomTag tag, DicomVR vr)
    {
        Tag = tag;
        VR = vr;
    }

    public DicomTag Tag { get; }
    public DicomVR VR { get; }
    public override string ToString() => $"{Tag} {VR} {Tag.Keyword}";
}

/// <summary>A data element with its value bytes, always held in little-endian order.</summary>
public sealed class DicomElement : DicomItem
{
    public DicomElement(DicomTag tag, DicomVR vr, byte[] buffer) : base(tag, vr) => Buffer = buffer;

    /// <summary>The value bytes (little endian, as read — possibly odd length; padding is kept).</summary>
    public byte[] Buffer { get; }

    /// <summary>Number of values (for strings: backslash-separated parts; for binary: length / value size).</summary>
    public int Count(Encoding enc)
    {
        if (VR.IsString) return Buffer.Length == 0 ? 0 : (VR.IsMultiValueText ? GetStrings(enc).Length : 1);
        if (VR.ValueSize > 0) return Buffer.Length / (VR == DicomVR.AT ? 4 : VR.ValueSize);
        return Buffer.Length;
    }

    public string GetString(Encoding enc)
    {
        var s = enc.GetString(Buffer);
        return VR == DicomVR.UI ? s.TrimEnd('\0', ' ') : s.TrimEnd(' ', '\0');
    }

    public string[] GetStrings(Encoding enc)
    {
        var s = enc.GetString(Buffer);
        if (!VR.IsMultiValueText) return new[] { VR == DicomVR.LT || VR == DicomVR.ST || VR == DicomVR.UT ? s.TrimEnd(' ', '\0') : s.Trim(' ', '\0') };
        var parts = s.Split('\\');
        for (int i = 0; i < parts.Length; i++) parts[i] = parts[i].Trim(' ', '\0');
        return parts;
    }

    /// <summary>The i-th binary value as double (US, SS, UL, SL, FL, FD, OW, OF, OD, OL, SV, UV, OB, UN).</summary>
    internal double GetBinaryDouble(int i)
    {
        var b = Buffer.AsSpan();
        return VR.Code switch
        {
            "US" or "OW" => BinaryPrimitives.ReadUInt16LittleEndian(b.Slice(2 * i, 2)),
            "SS" => BinaryPrimitives.ReadInt16LittleEndian(b.Slice(2 * i, 2)),
            "UL" or "OL" => BinaryPrimitives.ReadUInt32LittleEndian(b.Slice(4 * i, 4)),
            "SL" => BinaryPrimitives.ReadInt32LittleEndian(b.Slice(4 * i, 4)),
            "FL" or "OF" => BinaryPrimitives.ReadSingleLittleEndian(b.Slice(4 * i, 4)),
            "FD" or "OD" => BinaryPrimitives.ReadDoubleLittleEndian(b.Slice(8 * i, 8)),
            "SV" => BinaryPrimitives.ReadInt64LittleEndian(b.Slice(8 * i, 8)),
            "UV" or "OV" => BinaryPrimitives.ReadUInt64LittleEndian(b.Slice(8 * i, 8)),
            "OB" or "UN" => b[i],
            _ => throw new InvalidCastException($"{Tag} has VR {VR}, not a binary number"),
        };
    }

    internal long GetBinaryLong(int i) => VR.Code switch
    {
        "SV" => BinaryPrimitives.ReadInt64LittleEndian(Buffer.AsSpan(8 * i, 8)),
        "UV" or "OV" => (long)BinaryPrimitives.ReadUInt64LittleEndian(Buffer.AsSpan(8 * i, 8)),
        _ => checked((long)GetBinaryDouble(i)),
    };

    internal DicomTag GetAT(int i) => new(BinaryPrimitives.ReadUInt16LittleEndian(Buffer.AsSpan(4 * i, 2)),
        BinaryPrimitives.ReadUInt16LittleEndian(Buffer.AsSpan(4 * i + 2, 2)));

    public override string ToString() => $"{base.ToString()} [{Buffer.Length} bytes]";
}

/// <summary>A sequence (SQ) of nested data sets.</summary>
public sealed class DicomSequence : DicomItem
{
    public DicomSequence(DicomTag tag, params DicomDataset[] items) : base(tag, DicomVR.SQ) => Items = new List<DicomDataset>(items);
    public DicomSequence(DicomTag tag, IEnumerable<DicomDataset> items) : base(tag, DicomVR.SQ) => Items = new List<DicomDataset>(items);
    public List<DicomDataset> Items { get; }
    public override string ToString() => $"{base.ToString()} [{Items.Count} items]";
}

/// <summary>Encapsulated (compressed) pixel data: a basic offset table and fragments (PS3.5 A.4).</summary>
public sealed class DicomFragmentSequence : DicomItem
{
    public DicomFragmentSequence(DicomTag tag, DicomVR vr, byte[] offsetTable, IEnumerable<byte[]> fragments) : base(tag, vr)
    {
        OffsetTableBytes = offsetTable;
        Fragments = new List<byte[]>(fragments);
    }

    /// <summary>The raw basic offset table item (may be empty).</summary>
    public byte[] OffsetTableBytes { get; }
    public List<byte[]> Fragments { get; }

    public uint[] OffsetTable
    {
        get
        {
            var t = new uint[OffsetTableBytes.Length / 4];
            for (int i = 0; i < t.Length; i++) t[i] = BinaryPrimitives.ReadUInt32LittleEndian(OffsetTableBytes.AsSpan(4 * i));
            return t;
        }
    }

    public override string ToString() => $"{base.ToString()} [{Fragments.Count} fragments]";
}

internal static class ValueCodec
{
    static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static string FormatDS(double v)
    {
        if (double.IsNaN(v) || double.IsInfinity(v)) throw new ArgumentException("DS cannot hold NaN or infinity");
        if (v == Math.Floor(v) && Math.Abs(v) < 1e15) return ((long)v).ToString(Inv);
        for (int p = 16; p >= 1; p--)
        {
            var s = v.ToString("G" + p, Inv);
            if (s.Length <= 16) return s;
        }
        return v.ToString("E6", Inv);
    }

    public static string ToText(object? value, DicomVR vr) => value switch
    {
        null => "",
        string s => s,
        double d => vr == DicomVR.IS ? checked((long)Math.Round(d)).ToString(Inv) : FormatDS(d),
        float f => vr == DicomVR.IS ? checked((long)Math.Round(f)).ToString(Inv) : FormatDS(f),
        decimal m => FormatDS((double)m),
        IFormattable f => f.ToString(null, Inv),
        _ => value.ToString() ?? "",
    };

    public static byte[] EncodeStrings(IEnumerable<string> values, DicomVR vr, Encoding enc)
    {
        var joined = string.Join('\\', values);
        var bytes = enc.GetBytes(joined);
        if ((bytes.Length & 1) == 0) return bytes;
        var padded = new byte[bytes.Length + 1];
        bytes.CopyTo(padded, 0);
        padded[^1] = vr.PaddingByte;
        return padded;
    }

    public static byte[] EncodeBinary<T>(T[] values, DicomVR vr)
    {
        if (typeof(T) == typeof(byte) && (vr == DicomVR.OB || vr == DicomVR.UN))
        {
            var raw = (byte[])(object)values;
            if ((raw.Length & 1) == 0) return (byte[])raw.Clone();
            var p = new byte[raw.Length + 1];
            raw.CopyTo(p, 0);
            return p;
        }
        if (vr == DicomVR.AT)
        {
            var at = new byte[values.Length * 4];
            for (int i = 0; i < values.Length; i++)
            {
                var t = values[i] is DicomTag tag ? tag : throw new InvalidCastException("AT values must be DicomTag");
                BinaryPrimitives.WriteUInt16LittleEndian(at.AsSpan(4 * i), t.Group);
                BinaryPrimitives.WriteUInt16LittleEndian(at.AsSpan(4 * i + 2), t.Element);
            }
            return at;
        }
        int size = vr.ValueSize == 0 ? 1 : vr.ValueSize;
        var buf = new byte[values.Length * size + ((values.Length * size) & 1)];
        var span = buf.AsSpan();
        for (int i = 0; i < values.Length; i++)
        {
            object o = values[i]!;
            var s = span.Slice(i * size);
            switch (vr.Code)
            {
                case "US" or "OW": BinaryPrimitives.WriteUInt16LittleEndian(s, Convert.ToUInt16(o, Inv)); break;
                case "SS": BinaryPrimitives.WriteInt16LittleEndian(s, Convert.ToInt16(o, Inv)); break;
                case "UL" or "OL": BinaryPrimitives.WriteUInt32LittleEndian(s, Convert.ToUInt32(o, Inv)); break;
                case "SL": BinaryPrimitives.WriteInt32LittleEndian(s, Convert.ToInt32(o, Inv)); break;
                case "FL" or "OF": BinaryPrimitives.WriteSingleLittleEndian(s, Convert.ToSingle(o, Inv)); break;
                case "FD" or "OD": BinaryPrimitives.WriteDoubleLittleEndian(s, Convert.ToDouble(o, Inv)); break;
                case "SV": BinaryPrimitives.WriteInt64LittleEndian(s, Convert.ToInt64(o, Inv)); break;
                case "UV" or "OV": BinaryPrimitives.WriteUInt64LittleEndian(s, Convert.ToUInt64(o, Inv)); break;
                case "OB" or "UN": s[0] = Convert.ToByte(o, Inv); break;
                default: throw new InvalidCastException($"cannot encode {typeof(T).Name} as {vr}");
            }
        }
        return buf;
    }

    public static T ConvertTo<T>(object v)
    {
        if (v is T t) return t;
        var target = typeof(T);
        if (target == typeof(string)) return (T)(object)Convert.ToString(v, Inv)!;
        if (v is string s)
        {
            s = s.Trim();
            if (target == typeof(double)) return (T)(object)double.Parse(s, NumberStyles.Float, Inv);
            if (target == typeof(float)) return (T)(object)float.Parse(s, NumberStyles.Float, Inv);
            if (target == typeof(decimal)) return (T)(object)decimal.Parse(s, NumberStyles.Float, Inv);
            // IS and integer targets: accept "12", "+12", "12.0"
            if (long.TryParse(s, NumberStyles.Integer, Inv, out long l)) return (T)Convert.ChangeType(l, target, Inv);
            double d = double.Parse(s, NumberStyles.Float, Inv);
            return (T)Convert.ChangeType(d, target, Inv);
        }
        return (T)Convert.ChangeType(v, target, Inv);
    }
}
