namespace MedRecon.Dicom;

/// <summary>How the data set after the file meta is encoded.</summary>
public sealed class DicomTransferSyntax
{
    DicomTransferSyntax(string uid, string name, bool explicitVR, bool bigEndian, bool encapsulated = false,
        bool deflate = false, bool supported = true, bool lossy = false)
    {
        UID = uid;
        Name = name;
        IsExplicitVR = explicitVR;
        IsBigEndian = bigEndian;
        IsEncapsulated = encapsulated;
        IsDeflate = deflate;
        IsPixelDataSupported = supported;
        IsLossy = lossy;
    }

    public string UID { get; }
    public string Name { get; }
    public bool IsExplicitVR { get; }
    public bool IsBigEndian { get; }
    /// <summary>Pixel data is a sequence of compressed fragments.</summary>
    public bool IsEncapsulated { get; }
    public bool IsDeflate { get; }
    /// <summary>MedRecon can decode the pixel data of this syntax.</summary>
    public bool IsPixelDataSupported { get; }
    public bool IsLossy { get; }

    public override string ToString() => $"{Name} ({UID})";

    public static readonly DicomTransferSyntax ImplicitVRLittleEndian = new("1.2.840.10008.1.2", "Implicit VR Little Endian", false, false);
    public static readonly DicomTransferSyntax ExplicitVRLittleEndian = new("1.2.840.10008.1.2.1", "Explicit VR Little Endian", true, false);
    public static readonly DicomTransferSyntax DeflatedExplicitVRLittleEndian = new("1.2.840.10008.1.2.1.99", "Deflated Explicit VR Little Endian", true, false, deflate: true);
    public static readonly DicomTransferSyntax ExplicitVRBigEndian = new("1.2.840.10008.1.2.2", "Explicit VR Big Endian", true, true);
    public static readonly DicomTransferSyntax RLELossless = new("1.2.840.10008.1.2.5", "RLE Lossless", true, false, encapsulated: true);
    public static readonly DicomTransferSyntax JPEGProcess14 = new("1.2.840.10008.1.2.4.57", "JPEG Lossless, Non-Hierarchical (Process 14)", true, false, encapsulated: true);
    public static readonly DicomTransferSyntax JPEGProcess14SV1 = new("1.2.840.10008.1.2.4.70", "JPEG Lossless, Non-Hierarchical, First-Order Prediction (Process 14 [Selection Value 1])", true, false, encapsulated: true);
    public static readonly DicomTransferSyntax JPEGBaseline = new("1.2.840.10008.1.2.4.50", "JPEG Baseline (Process 1)", true, false, true, supported: false, lossy: true);
    public static readonly DicomTransferSyntax JPEGExtended = new("1.2.840.10008.1.2.4.51", "JPEG Extended (Process 2 & 4)", true, false, true, supported: false, lossy: true);
    public static readonly DicomTransferSyntax JPEGLSLossless = new("1.2.840.10008.1.2.4.80", "JPEG-LS Lossless", true, false, true, supported: false);
    public static readonly DicomTransferSyntax JPEGLSNearLossless = new("1.2.840.10008.1.2.4.81", "JPEG-LS Lossy (Near-Lossless)", true, false, true, supported: false, lossy: true);
    public static readonly DicomTransferSyntax JPEG2000Lossless = new("1.2.840.10008.1.2.4.90", "JPEG 2000 (Lossless Only)", true, false, true, supported: false);
    public static readonly DicomTransferSyntax JPEG2000 = new("1.2.840.10008.1.2.4.91", "JPEG 2000", true, false, true, supported: false, lossy: true);
    public static readonly DicomTransferSyntax HTJ2KLossless = new("1.2.840.10008.1.2.4.201", "High-Throughput JPEG 2000 (Lossless Only)", true, false, true, supported: false);
    public static readonly DicomTransferSyntax HTJ2KLosslessRPCL = new("1.2.840.10008.1.2.4.202", "High-Throughput JPEG 2000 with RPCL Options (Lossless Only)", true, false, true, supported: false);
    public static readonly DicomTransferSyntax HTJ2K = new("1.2.840.10008.1.2.4.203", "High-Throughput JPEG 2000", true, false, true, supported: false, lossy: true);
    public static readonly DicomTransferSyntax MPEG2 = new("1.2.840.10008.1.2.4.100", "MPEG2 Main Profile / Main Level", true, false, true, supported: false, lossy: true);
    public static readonly DicomTransferSyntax MPEG4 = new("1.2.840.10008.1.2.4.102", "MPEG-4 AVC/H.264 High Profile", true, false, true, supported: false, lossy: true);
    public static readonly DicomTransferSyntax HEVC = new("1.2.840.10008.1.2.4.107", "HEVC/H.265 Main Profile", true, false, true, supported: false, lossy: true);

    static readonly Dictionary<string, DicomTransferSyntax> All = new[]
    {
        ImplicitVRLittleEndian, ExplicitVRLittleEndian, DeflatedExplicitVRLittleEndian, ExplicitVRBigEndian, RLELossless,
        JPEGProcess14, JPEGProcess14SV1, JPEGBaseline, JPEGExtended, JPEGLSLossless, JPEGLSNearLossless, JPEG2000Lossless,
        JPEG2000, HTJ2KLossless, HTJ2KLosslessRPCL, HTJ2K, MPEG2, MPEG4, HEVC,
    }.ToDictionary(t => t.UID);

    public static DicomTransferSyntax? Lookup(string uid) => All.GetValueOrDefault(uid);

    /// <summary>The syntax for a UID. Unknown UIDs give an encapsulated, unsupported syntax (PS3.5 A.4: every
    /// non-listed syntax is Explicit VR Little Endian with encapsulated pixel data).</summary>
    public static DicomTransferSyntax Parse(string uid)
    {
        uid = uid.TrimEnd('\0', ' ');
        if (All.TryGetValue(uid, out var ts)) return ts;
        string name = uid.StartsWith("1.2.840.10008.1.2.4.", StringComparison.Ordinal) ? $"JPEG family syntax {uid}" : $"unknown transfer syntax {uid}";
        return new DicomTransferSyntax(uid, name, true, false, encapsulated: true, supported: false);
    }
}
