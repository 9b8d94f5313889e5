using System.Buffers.Binary;
using System.Text;

namespace MedRecon.Dicom.Network;

/// <summary>Status category of a DIMSE response (PS3.7 annex C).</summary>
public enum StatusCategory
{
    Success,
    Warning,
    Failure,
    Cancel,
    Pending,
}

/// <summary>A DIMSE status code with its category and meaning (C-STORE and general codes of PS3.4 B.2.3 and PS3.7 C).</summary>
public readonly record struct DicomStatus(ushort Code)
{
    public static readonly DicomStatus Success = new(0x0000);

    public StatusCategory Category => Code switch
    {
        0x0000 => StatusCategory.Success,
        0xFE00 => StatusCategory.Cancel,
        0xFF00 or 0xFF01 => StatusCategory.Pending,
        0x0001 or 0x0107 or 0x0116 => StatusCategory.Warning,
        >= 0xB000 and <= 0xBFFF => StatusCategory.Warning,
        _ => StatusCategory.Failure,
    };

    public string Meaning => Code switch
    {
        0x0000 => "success",
        0x0001 => "requested optional attributes are not supported",
        0x0107 => "attribute list error",
        0x0116 => "attribute value out of range",
        0xB000 => "coercion of data elements",
        0xB006 => "elements discarded",
        0xB007 => "data set does not match SOP class",
        >= 0xA700 and <= 0xA7FF => "refused: out of resources",
        >= 0xA900 and <= 0xA9FF => "error: data set does not match SOP class",
        >= 0xC000 and <= 0xCFFF => "error: cannot understand",
        0x0105 => "no such attribute",
        0x0106 => "invalid attribute value",
        0x0110 => "processing failure",
        0x0111 => "duplicate SOP instance",
        0x0112 => "no such SOP instance",
        0x0117 => "invalid object instance",
        0x0118 => "no such SOP class",
        0x0119 => "class-instance conflict",
        0x0122 => "refused: SOP class not supported",
        0x0124 => "refused: not authorized",
        0x0210 => "duplicate invocation",
        0x0211 => "unrecognized operation",
        0x0212 => "mistyped argument",
        0x0213 => "resource limitation",
        0xFE00 => "cancelled",
        0xFF00 or 0xFF01 => "pending",
        _ => Category == StatusCategory.Warning ? "warning" : "failure",
    };

    public override string ToString() => $"0x{Code:X4} ({Meaning})";
}

/// <summary>A decoded DIMSE command set.</summary>
public sealed class DimseResponse
{
    internal DimseResponse(Dictionary<ushort, byte[]> fields) => Fields = fields;
    internal Dictionary<ushort, byte[]> Fields { get; }
    public ushort CommandField => DimseCommand.GetUS(Fields, DimseCommand.CommandFieldTag) ?? 0;
    public ushort MessageIdBeingRespondedTo => DimseCommand.GetUS(Fields, DimseCommand.MessageIdBeingRespondedToTag) ?? 0;
    public DicomStatus Status => new(DimseCommand.GetUS(Fields, DimseCommand.StatusTag) ?? 0xFFFF);
    public string? ErrorComment => DimseCommand.GetString(Fields, 0x0902);
    /// <summary>A US element (0000,element) of the command set, or null.</summary>
    public ushort? GetUInt16(ushort element) => DimseCommand.GetUS(Fields, element);
    /// <summary>A UI/LO element (0000,element) of the command set, or null.</summary>
    public string? GetText(ushort element) => DimseCommand.GetString(Fields, element);
    public string? AffectedSopInstanceUid => DimseCommand.GetString(Fields, DimseCommand.AffectedSopInstanceTag);
}

/// <summary>Command sets: group 0000 elements, always Implicit VR Little Endian (PS3.7 6.3 and annex E).</summary>
public static class DimseCommand
{
    public const string VerificationSopClass = "1.2.840.10008.1.1";
    public const ushort CStoreRequest = 0x0001, CStoreResponse = 0x8001, CEchoRequest = 0x0030, CEchoResponse = 0x8030;
    public const ushort NoDataSet = 0x0101, DataSetPresent = 0x0000;
    internal const ushort AffectedSopClassTag = 0x0002, CommandFieldTag = 0x0100, MessageIdTag = 0x0110,
        MessageIdBeingRespondedToTag = 0x0120, PriorityTag = 0x0700, DataSetTypeTag = 0x0800, StatusTag = 0x0900,
        AffectedSopInstanceTag = 0x1000;

    public static byte[] EchoRequest(ushort messageId) => Build(new SortedDictionary<ushort, byte[]>
    {
        [AffectedSopClassTag] = Ui(VerificationSopClass),
        [CommandFieldTag] = Us(CEchoRequest),
        [MessageIdTag] = Us(messageId),
        [DataSetTypeTag] = Us(NoDataSet),
    });

    public static byte[] StoreRequest(ushort messageId, string sopClass, string sopInstance, ushort priority = 0) => Build(new SortedDictionary<ushort, byte[]>
    {
        [AffectedSopClassTag] = Ui(sopClass),
        [CommandFieldTag] = Us(CStoreRequest),
        [MessageIdTag] = Us(messageId),
        [PriorityTag] = Us(priority),
        [DataSetTypeTag] = Us(DataSetPresent),
        [AffectedSopInstanceTag] = Ui(sopInstance),
    });

    /// <summary>A response command (used by test peers).</summary>
    public static byte[] Response(ushort commandField, ushort respondingTo, string sopClass, ushort status, string? sopInstance = null)
    {
        var f = new SortedDictionary<ushort, byte[]>
        {
            [AffectedSopClassTag] = Ui(sopClass),
            [CommandFieldTag] = Us(commandField),
            [MessageIdBeingRespondedToTag] = Us(respondingTo),
            [DataSetTypeTag] = Us(NoDataSet),
            [StatusTag] = Us(status),
        };
        if (sopInstance != null) f[AffectedSopInstanceTag] = Ui(sopInstance);
        return Build(f);
    }

    static byte[] Build(SortedDictionary<ushort, byte[]> fields)
    {
        int bodyLen = fields.Values.Sum(v => 8 + v.Length);
        var b = new byte[12 + bodyLen];
        WriteElement(b, 0, 0x0000, BitConverter.GetBytes((uint)bodyLen)); // CommandGroupLength (UL, little endian)
        int pos = 12;
        foreach (var (elem, v) in fields)
        {
            WriteElement(b, pos, elem, v);
            pos += 8 + v.Length;
        }
        return b;
    }

    static void WriteElement(byte[] b, int pos, ushort element, byte[] value)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(pos), 0x0000);
        BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(pos + 2), element);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(pos + 4), (uint)value.Length);
        value.CopyTo(b, pos + 8);
    }

    static byte[] Us(ushort v)
    {
        var b = new byte[2];
        BinaryPrimitives.WriteUInt16LittleEndian(b, v);
        return b;
    }

    static byte[] Ui(string uid)
    {
        var s = Encoding.ASCII.GetBytes(uid);
        if ((s.Length & 1) == 0) return s;
        var p = new byte[s.Length + 1]; // UI pads with a trailing NUL to even length
        s.CopyTo(p, 0);
        return p;
    }

    /// <summary>Parses an Implicit VR LE command set into element → value (group 0000 only).</summary>
    public static DimseResponse Parse(ReadOnlySpan<byte> b)
    {
        var f = new Dictionary<ushort, byte[]>();
        int pos = 0;
        while (pos + 8 <= b.Length)
        {
            ushort g = BinaryPrimitives.ReadUInt16LittleEndian(b[pos..]);
            ushort e = BinaryPrimitives.ReadUInt16LittleEndian(b[(pos + 2)..]);
            uint len = BinaryPrimitives.ReadUInt32LittleEndian(b[(pos + 4)..]);
            if (g != 0) throw new DicomProtocolException($"command set holds a non-command element ({g:X4},{e:X4})");
            if (len > b.Length - pos - 8) throw new DicomProtocolException($"command element (0000,{e:X4}) length {len} does not fit");
            f[e] = b.Slice(pos + 8, (int)len).ToArray();
            pos += 8 + (int)len;
        }
        return new DimseResponse(f);
    }

    internal static ushort? GetUS(Dictionary<ushort, byte[]> f, ushort e) =>
        f.TryGetValue(e, out var v) && v.Length >= 2 ? BinaryPrimitives.ReadUInt16LittleEndian(v) : null;

    internal static string? GetString(Dictionary<ushort, byte[]> f, ushort e) =>
        f.TryGetValue(e, out var v) ? Encoding.ASCII.GetString(v).TrimEnd('\0', ' ') : null;
}
