namespace MedRecon.Dicom;

/// <summary>A value representation (PS3.5 6.2). Instances are interned: compare with ==.</summary>
public sealed class DicomVR
{
    DicomVR(string code, bool isString, bool longLength, int valueSize, byte padding, bool textual = false)
    {
        Code = code;
        IsString = isString;
        Has32BitLength = longLength;
        ValueSize = valueSize;
        PaddingByte = padding;
        IsMultiValueText = textual;
    }

    /// <summary>The two-letter code, e.g. "US".</summary>
    public string Code { get; }
    /// <summary>Character data (AE, AS, CS, DA, DS, DT, IS, LO, LT, PN, SH, ST, TM, UC, UI, UR, UT).</summary>
    public bool IsString { get; }
    /// <summary>Explicit VR encodes a 2-byte reserved field and a 32-bit length (OB, OW, SQ, UN, UT, ...).</summary>
    public bool Has32BitLength { get; }
    /// <summary>Size in bytes of one binary value (used for byte swapping); 0 for strings, OB, UN and SQ.</summary>
    public int ValueSize { get; }
    /// <summary>Padding used to make odd-length values even: NUL for UI and binary, space for text.</summary>
    public byte PaddingByte { get; }
    /// <summary>Backslash separates multiple values (all string VRs except LT, ST, UT, UR).</summary>
    public bool IsMultiValueText { get; }

    public override string ToString() => Code;

    public static readonly DicomVR AE = new("AE", true, false, 0, 0x20, true);
    public static readonly DicomVR AS = new("AS", true, false, 0, 0x20, true);
    public static readonly DicomVR AT = new("AT", false, false, 2, 0);
    public static readonly DicomVR CS = new("CS", true, false, 0, 0x20, true);
    public static readonly DicomVR DA = new("DA", true, false, 0, 0x20, true);
    public static readonly DicomVR DS = new("DS", true, false, 0, 0x20, true);
    public static readonly DicomVR DT = new("DT", true, false, 0, 0x20, true);
    public static readonly DicomVR FD = new("FD", false, false, 8, 0);
    public static readonly DicomVR FL = new("FL", false, false, 4, 0);
    public static readonly DicomVR IS = new("IS", true, false, 0, 0x20, true);
    public static readonly DicomVR LO = new("LO", true, false, 0, 0x20, true);
    public static readonly DicomVR LT = new("LT", true, false, 0, 0x20);
    public static readonly DicomVR OB = new("OB", false, true, 0, 0);
    public static readonly DicomVR OD = new("OD", false, true, 8, 0);
    public static readonly DicomVR OF = new("OF", false, true, 4, 0);
    public static readonly DicomVR OL = new("OL", false, true, 4, 0);
    public static readonly DicomVR OV = new("OV", false, true, 8, 0);
    public static readonly DicomVR OW = new("OW", false, true, 2, 0);
    public static readonly DicomVR PN = new("PN", true, false, 0, 0x20, true);
    public static readonly DicomVR SH = new("SH", true, false, 0, 0x20, true);
    public static readonly DicomVR SL = new("SL", false, false, 4, 0);
    public static readonly DicomVR SQ = new("SQ", false, true, 0, 0);
    public static readonly DicomVR SS = new("SS", false, false, 2, 0);
    public static readonly DicomVR ST = new("ST", true, false, 0, 0x20);
    public static readonly DicomVR SV = new("SV", false, true, 8, 0);
    public static readonly DicomVR TM = new("TM", true, false, 0, 0x20, true);
    public static readonly DicomVR UC = new("UC", true, true, 0, 0x20, true);
    public static readonly DicomVR UI = new("UI", true, false, 0, 0x00, true);
    public static readonly DicomVR UL = new("UL", false, false, 4, 0);
    public static readonly DicomVR UN = new("UN", false, true, 0, 0);
    public static readonly DicomVR UR = new("UR", true, true, 0, 0x20);
    public static readonly DicomVR US = new("US", false, false, 2, 0);
    public static readonly DicomVR UT = new("UT", true, true, 0, 0x20);
    public static readonly DicomVR UV = new("UV", false, true, 8, 0);

    static readonly Dictionary<string, DicomVR> ByCode = new[]
    {
        AE, AS, AT, CS, DA, DS, DT, FD, FL, IS, LO, LT, OB, OD, OF, OL, OV, OW, PN, SH, SL, SQ, SS, ST, SV, TM, UC, UI,
        UL, UN, UR, US, UT, UV,
    }.ToDictionary(v => v.Code);

    /// <summary>The VR for a two-letter code, or null when the code is not a VR.</summary>
    public static DicomVR? TryParse(string code) => ByCode.GetValueOrDefault(code);

    public static DicomVR Parse(string code) =>
        TryParse(code) ?? throw new FormatException($"unknown VR '{code}'");
}
