using System.Numerics;
using System.Text;

namespace MedRecon.Dicom;

/// <summary>Well-known UIDs and UID generation (`2.25.` + UUID as a decimal integer, PS3.5 B.2).</summary>
public static class DicomUID
{
    public const string CTImageStorage = "1.2.840.10008.5.1.4.1.1.2";
    public const string EnhancedCTImageStorage = "1.2.840.10008.5.1.4.1.1.2.1";
    public const string MRImageStorage = "1.2.840.10008.5.1.4.1.1.4";
    public const string EnhancedMRImageStorage = "1.2.840.10008.5.1.4.1.1.4.1";
    public const string SecondaryCaptureImageStorage = "1.2.840.10008.5.1.4.1.1.7";

    /// <summary>MedRecon's implementation class UID (a fixed 2.25 UID).</summary>
    public const string ImplementationClassUID = "2.25.187367437025870733227546233391126342219";
    public const string ImplementationVersionName = "MEDRECON_1";

    /// <summary>A new globally unique UID: "2.25." followed by a random (version 4) UUID as an unsigned decimal integer.</summary>
    public static string Generate() => FromGuid(Guid.NewGuid());

    public static string FromGuid(Guid g)
    {
        var bytes = g.ToByteArray(bigEndian: true);
        var n = new BigInteger(bytes, isUnsigned: true, isBigEndian: true);
        return "2.25." + n.ToString(System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>A deterministic UID derived from a name (UUID version 5-like, SHA-1 of the name) — used for consistent remapping.</summary>
    public static string FromName(string name)
    {
        var hash = System.Security.Cryptography.SHA1.HashData(Encoding.UTF8.GetBytes(name));
        var b = hash.AsSpan(0, 16).ToArray();
        b[6] = (byte)((b[6] & 0x0F) | 0x50);
        b[8] = (byte)((b[8] & 0x3F) | 0x80);
        var n = new BigInteger(b, isUnsigned: true, isBigEndian: true);
        return "2.25." + n.ToString(System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>True when s is a syntactically valid UID (digits and dots, no leading zeros in components, at most 64 chars).</summary>
    public static bool IsValid(string? s)
    {
        if (string.IsNullOrEmpty(s) || s.Length > 64) return false;
        foreach (var comp in s.Split('.'))
        {
            if (comp.Length == 0) return false;
            if (comp.Length > 1 && comp[0] == '0') return false;
            foreach (char c in comp) if (c < '0' || c > '9') return false;
        }
        return true;
    }

    public static string NameOf(string uid) => uid switch
    {
        CTImageStorage => "CT Image Storage",
        EnhancedCTImageStorage => "Enhanced CT Image Storage",
        MRImageStorage => "MR Image Storage",
        EnhancedMRImageStorage => "Enhanced MR Image Storage",
        SecondaryCaptureImageStorage => "Secondary Capture Image Storage",
        _ => DicomTransferSyntax.Lookup(uid)?.Name ?? uid,
    };
}
