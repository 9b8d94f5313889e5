using System.Buffers.Binary;
using System.Text;

namespace MedRecon.Dicom.Network;

/// <summary>Upper-layer PDU types (PS3.8 section 9.3).</summary>
public enum PduType : byte
{
    AssociateRequest = 0x01,
    AssociateAccept = 0x02,
    AssociateReject = 0x03,
    PData = 0x04,
    ReleaseRequest = 0x05,
    ReleaseResponse = 0x06,
    Abort = 0x07,
}

/// <summary>A proposed presentation context: an odd ID, one abstract syntax (SOP class) and the transfer syntaxes offered.</summary>
public sealed record PresentationContext(byte Id, string AbstractSyntax, IReadOnlyList<string> TransferSyntaxes);

/// <summary>Result of one presentation context in an A-ASSOCIATE-AC (PS3.8 9.3.3.2).</summary>
public enum PresentationContextResult : byte
{
    Acceptance = 0,
    UserRejection = 1,
    NoReason = 2,
    AbstractSyntaxNotSupported = 3,
    TransferSyntaxesNotSupported = 4,
}

/// <summary>The acceptor's answer for one presentation context; TransferSyntax is the one chosen when accepted.</summary>
public sealed record PresentationContextAnswer(byte Id, PresentationContextResult Result, string TransferSyntax)
{
    public bool Accepted => Result == PresentationContextResult.Acceptance;

    public static string Describe(PresentationContextResult r) => r switch
    {
        PresentationContextResult.Acceptance => "accepted",
        PresentationContextResult.UserRejection => "rejected by the called application",
        PresentationContextResult.NoReason => "rejected (no reason given)",
        PresentationContextResult.AbstractSyntaxNotSupported => "SOP class not supported by the peer",
        PresentationContextResult.TransferSyntaxesNotSupported => "none of the offered transfer syntaxes is supported by the peer",
        _ => $"rejected (result {(byte)r})",
    };
}

/// <summary>Fields shared by A-ASSOCIATE-RQ and -AC.</summary>
public abstract class AssociateBase
{
    public string CalledAE { get; init; } = "ANY-SCP";
    public string CallingAE { get; init; } = "MEDRECON";
    public string ApplicationContext { get; init; } = Pdu.DicomApplicationContext;
    /// <summary>Largest P-DATA-TF PDU (variable part) the sender of this PDU accepts; 0 = no limit.</summary>
    public uint MaxPduLength { get; init; } = 65536;
    public string ImplementationClassUid { get; init; } = DicomUID.ImplementationClassUID;
    public string ImplementationVersionName { get; init; } = DicomUID.ImplementationVersionName;
}

public sealed class AssociateRequest : AssociateBase
{
    public List<PresentationContext> Contexts { get; init; } = new();
}

public sealed class AssociateAccept : AssociateBase
{
    public List<PresentationContextAnswer> Contexts { get; init; } = new();
}

/// <summary>A-ASSOCIATE-RJ: result 1 permanent / 2 transient, source 1 user / 2 ACSE provider / 3 presentation provider.</summary>
public sealed record AssociateReject(byte Result, byte Source, byte Reason)
{
    public bool IsTransient => Result == 2;

    public string Describe()
    {
        string reason = (Source, Reason) switch
        {
            (1, 1) => "no reason given",
            (1, 2) => "application context name not supported",
            (1, 3) => "calling AE title not recognized",
            (1, 7) => "called AE title not recognized",
            (2, 1) => "no reason given (ACSE)",
            (2, 2) => "protocol version not supported",
            (3, 1) => "temporary congestion",
            (3, 2) => "local limit exceeded",
            _ => $"reason {Reason}",
        };
        string source = Source switch { 1 => "service user", 2 => "service provider (ACSE)", 3 => "service provider (presentation)", _ => $"source {Source}" };
        return $"association rejected ({(IsTransient ? "transient" : "permanent")}) by the {source}: {reason}";
    }
}

/// <summary>A-ABORT: source 0 service user, 2 service provider; reason only meaningful for the provider.</summary>
public sealed record AbortPdu(byte Source, byte Reason)
{
    public string Describe()
    {
        if (Source != 2) return "association aborted by the peer (A-ABORT from the service user)";
        string reason = Reason switch
        {
            1 => "unrecognized PDU",
            2 => "unexpected PDU",
            4 => "unrecognized PDU parameter",
            5 => "unexpected PDU parameter",
            6 => "invalid PDU parameter value",
            _ => "reason not specified",
        };
        return $"association aborted by the peer's service provider: {reason}";
    }
}

/// <summary>One presentation data value: a fragment of a command or data set for one presentation context.</summary>
public readonly record struct Pdv(byte ContextId, bool IsCommand, bool IsLast, byte[] Data);

/// <summary>A malformed or unexpected PDU from the peer.</summary>
public sealed class DicomProtocolException : Exception
{
    public DicomProtocolException(string message) : base(message) { }
}

/// <summary>Encoding and decoding of upper-layer PDUs. All lengths are big-endian (PS3.8 9.3.1).</summary>
public static class Pdu
{
    public const string DicomApplicationContext = "1.2.840.10008.3.1.1.1";
    /// <summary>Bytes of P-DATA-TF overhead per fragment: PDU header (6) + PDV item length (4) + context ID + control header.</summary>
    public const int PDataOverhead = 12;

    public static byte[] Encode(AssociateRequest rq) => EncodeAssociate(PduType.AssociateRequest, rq, body =>
    {
        foreach (var pc in rq.Contexts)
        {
            var item = new MemoryStream();
            item.WriteByte(pc.Id);
            item.Write(new byte[3]);
            WriteUidItem(item, 0x30, pc.AbstractSyntax);
            foreach (var ts in pc.TransferSyntaxes) WriteUidItem(item, 0x40, ts);
            WriteItem(body, 0x20, item.ToArray());
        }
    });

    public static byte[] Encode(AssociateAccept ac) => EncodeAssociate(PduType.AssociateAccept, ac, body =>
    {
        foreach (var pc in ac.Contexts)
        {
            var item = new MemoryStream();
            item.WriteByte(pc.Id);
            item.WriteByte(0);
            item.WriteByte((byte)pc.Result);
            item.WriteByte(0);
            WriteUidItem(item, 0x40, pc.TransferSyntax);
            WriteItem(body, 0x21, item.ToArray());
        }
    });

    static byte[] EncodeAssociate(PduType type, AssociateBase a, Action<MemoryStream> contexts)
    {
        var body = new MemoryStream();
        Span<byte> two = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16BigEndian(two, 1); // protocol version
        body.Write(two);
        body.Write(new byte[2]);
        body.Write(AeBytes(a.CalledAE));
        body.Write(AeBytes(a.CallingAE));
        body.Write(new byte[32]);
        WriteUidItem(body, 0x10, a.ApplicationContext);
        contexts(body);
        var user = new MemoryStream();
        var max = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(max, a.MaxPduLength);
        WriteItem(user, 0x51, max);
        WriteUidItem(user, 0x52, a.ImplementationClassUid);
        if (a.ImplementationVersionName.Length > 0) WriteItem(user, 0x55, Encoding.ASCII.GetBytes(a.ImplementationVersionName));
        WriteItem(body, 0x50, user.ToArray());
        return Frame(type, body.ToArray());
    }

    public static byte[] Encode(AssociateReject rj) => Frame(PduType.AssociateReject, new byte[] { 0, rj.Result, rj.Source, rj.Reason });
    public static byte[] Encode(AbortPdu ab) => Frame(PduType.Abort, new byte[] { 0, 0, ab.Source, ab.Reason });
    public static byte[] ReleaseRequest() => Frame(PduType.ReleaseRequest, new byte[4]);
    public static byte[] ReleaseResponse() => Frame(PduType.ReleaseResponse, new byte[4]);

    /// <summary>One P-DATA-TF PDU holding the given PDVs.</summary>
    public static byte[] EncodePData(IEnumerable<Pdv> pdvs)
    {
        var body = new MemoryStream();
        Span<byte> len = stackalloc byte[4];
        foreach (var p in pdvs)
        {
            BinaryPrimitives.WriteUInt32BigEndian(len, (uint)(p.Data.Length + 2));
            body.Write(len);
            body.WriteByte(p.ContextId);
            body.WriteByte(ControlHeader(p.IsCommand, p.IsLast));
            body.Write(p.Data);
        }
        return Frame(PduType.PData, body.ToArray());
    }

    public static byte ControlHeader(bool isCommand, bool isLast) => (byte)((isCommand ? 1 : 0) | (isLast ? 2 : 0));

    /// <summary>Largest fragment of a message that fits in one P-DATA-TF PDU of the peer's maximum length
    /// (the maximum counts the PDU's variable part: one PDV item header of 6 bytes plus the fragment).</summary>
    public static int MaxFragment(uint peerMaxPduLength, int unlimitedChunk = 1 << 20) =>
        peerMaxPduLength == 0 ? unlimitedChunk : (int)Math.Min(unlimitedChunk, peerMaxPduLength - 6);

    /// <summary>Splits a message into P-DATA-TF PDUs that respect the peer's maximum PDU length (one PDV per PDU).</summary>
    public static IEnumerable<byte[]> Fragment(byte contextId, bool isCommand, ReadOnlyMemory<byte> message, uint peerMaxPduLength)
    {
        int chunk = MaxFragment(peerMaxPduLength);
        if (chunk <= 0) throw new ArgumentException($"maximum PDU length {peerMaxPduLength} is too small");
        int pos = 0;
        do
        {
            int n = Math.Min(chunk, message.Length - pos);
            bool last = pos + n >= message.Length;
            yield return EncodePData(new[] { new Pdv(contextId, isCommand, last, message.Slice(pos, n).ToArray()) });
            pos += n;
        } while (pos < message.Length);
    }

    static byte[] Frame(PduType type, byte[] body)
    {
        var pdu = new byte[6 + body.Length];
        pdu[0] = (byte)type;
        BinaryPrimitives.WriteUInt32BigEndian(pdu.AsSpan(2), (uint)body.Length);
        body.CopyTo(pdu, 6);
        return pdu;
    }

    static byte[] AeBytes(string ae)
    {
        if (ae.Length == 0 || ae.Length > 16) throw new ArgumentException($"AE title '{ae}' must have 1 to 16 characters");
        foreach (char c in ae)
            if (c < 0x20 || c > 0x7E || c == '\\') throw new ArgumentException($"AE title '{ae}' has a character that is not allowed");
        return Encoding.ASCII.GetBytes(ae.PadRight(16));
    }

    static void WriteUidItem(Stream s, byte type, string uid) => WriteItem(s, type, Encoding.ASCII.GetBytes(uid));

    static void WriteItem(Stream s, byte type, byte[] value)
    {
        Span<byte> h = stackalloc byte[4];
        h[0] = type;
        h[1] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(h[2..], checked((ushort)value.Length));
        s.Write(h);
        s.Write(value);
    }

    /// <summary>Reads one PDU: its type and variable part. Null when the peer closed the connection cleanly before a
    /// new PDU began. Lengths above <paramref name="maxBody"/> are a protocol error (no huge allocation).</summary>
    public static (PduType Type, byte[] Body)? Read(Stream s, uint maxBody)
    {
        Span<byte> h = stackalloc byte[6];
        int got = 0;
        while (got < 6)
        {
            int n = s.Read(h[got..]);
            if (n == 0)
            {
                if (got == 0) return null;
                throw new EndOfStreamException("connection closed by the peer in the middle of a PDU header");
            }
            got += n;
        }
        var type = (PduType)h[0];
        if (h[0] < 1 || h[0] > 7) throw new DicomProtocolException($"unknown PDU type 0x{h[0]:X2}");
        uint len = BinaryPrimitives.ReadUInt32BigEndian(h[2..]);
        if (len > maxBody) throw new DicomProtocolException($"{type} PDU of {len} bytes exceeds the limit of {maxBody}");
        var body = new byte[len];
        s.ReadExactly(body);
        return (type, body);
    }

    public static AssociateRequest DecodeAssociateRequest(byte[] body)
    {
        var (called, calling, app, user, items) = DecodeAssociateCommon(body);
        var rq = new AssociateRequest
        {
            CalledAE = called, CallingAE = calling, ApplicationContext = app,
            MaxPduLength = user.Max, ImplementationClassUid = user.Cls, ImplementationVersionName = user.Ver,
        };
        foreach (var (type, v) in items)
        {
            if (type != 0x20) continue;
            if (v.Length < 4) throw new DicomProtocolException("presentation context item too short");
            string abs = "";
            var ts = new List<string>();
            foreach (var (st, sv) in SubItems(v, 4))
            {
                if (st == 0x30) abs = Uid(sv);
                else if (st == 0x40) ts.Add(Uid(sv));
            }
            rq.Contexts.Add(new PresentationContext(v[0], abs, ts));
        }
        return rq;
    }

    public static AssociateAccept DecodeAssociateAccept(byte[] body)
    {
        var (called, calling, app, user, items) = DecodeAssociateCommon(body);
        var ac = new AssociateAccept
        {
            CalledAE = called, CallingAE = calling, ApplicationContext = app,
            MaxPduLength = user.Max, ImplementationClassUid = user.Cls, ImplementationVersionName = user.Ver,
        };
        foreach (var (type, v) in items)
        {
            if (type != 0x21) continue;
            if (v.Length < 4) throw new DicomProtocolException("presentation context item too short");
            string ts = "";
            foreach (var (st, sv) in SubItems(v, 4))
                if (st == 0x40) ts = Uid(sv);
            ac.Contexts.Add(new PresentationContextAnswer(v[0], (PresentationContextResult)v[2], ts));
        }
        return ac;
    }

    public static AssociateReject DecodeAssociateReject(byte[] body)
    {
        if (body.Length < 4) throw new DicomProtocolException("A-ASSOCIATE-RJ too short");
        return new AssociateReject(body[1], body[2], body[3]);
    }

    public static AbortPdu DecodeAbort(byte[] body)
    {
        if (body.Length < 4) throw new DicomProtocolException("A-ABORT too short");
        return new AbortPdu(body[2], body[3]);
    }

    public static List<Pdv> DecodePData(byte[] body)
    {
        var list = new List<Pdv>();
        int pos = 0;
        while (pos < body.Length)
        {
            if (body.Length - pos < 6) throw new DicomProtocolException("PDV item header truncated");
            uint len = BinaryPrimitives.ReadUInt32BigEndian(body.AsSpan(pos));
            if (len < 2 || len > body.Length - pos - 4) throw new DicomProtocolException($"PDV item length {len} does not fit the PDU");
            byte ctx = body[pos + 4], mch = body[pos + 5];
            list.Add(new Pdv(ctx, (mch & 1) != 0, (mch & 2) != 0, body.AsSpan(pos + 6, (int)len - 2).ToArray()));
            pos += 4 + (int)len;
        }
        return list;
    }

    static (string Called, string Calling, string App, (uint Max, string Cls, string Ver) User, List<(byte, byte[])> Items) DecodeAssociateCommon(byte[] b)
    {
        if (b.Length < 68) throw new DicomProtocolException("A-ASSOCIATE PDU too short");
        string called = Encoding.ASCII.GetString(b, 4, 16).Trim();
        string calling = Encoding.ASCII.GetString(b, 20, 16).Trim();
        string app = "";
        uint max = 0;
        string cls = "", ver = "";
        var items = SubItems(b, 68).ToList();
        foreach (var (type, v) in items)
        {
            if (type == 0x10) app = Uid(v);
            else if (type == 0x50)
                foreach (var (ut, uv) in SubItems(v, 0))
                {
                    if (ut == 0x51 && uv.Length >= 4) max = BinaryPrimitives.ReadUInt32BigEndian(uv);
                    else if (ut == 0x52) cls = Uid(uv);
                    else if (ut == 0x55) ver = Encoding.ASCII.GetString(uv).Trim();
                }
        }
        return (called, calling, app, (max, cls, ver), items);
    }

    static IEnumerable<(byte Type, byte[] Value)> SubItems(byte[] b, int pos)
    {
        while (pos < b.Length)
        {
            if (b.Length - pos < 4) throw new DicomProtocolException("item header truncated");
            byte type = b[pos];
            int len = BinaryPrimitives.ReadUInt16BigEndian(b.AsSpan(pos + 2));
            if (len > b.Length - pos - 4) throw new DicomProtocolException($"item 0x{type:X2} of length {len} does not fit");
            yield return (type, b.AsSpan(pos + 4, len).ToArray());
            pos += 4 + len;
        }
    }

    static string Uid(byte[] v) => Encoding.ASCII.GetString(v).TrimEnd('\0', ' ');
}
