using System.Buffers.Binary;
using System.Text;

namespace MedRecon.Dicom.Network;

/// <summary>
/// A DICOM file to send, known from its file meta information only (cheap: the pixel data is not parsed). The data set
/// is sent as the file's own bytes when the negotiated syntax is the file's; otherwise it is decoded and re-encoded
/// (Explicit ↔ Implicit VR Little Endian, or from big endian/deflated).
/// </summary>
public sealed class InstanceFile
{
    InstanceFile(string path, string sopClass, string sopInstance, DicomTransferSyntax syntax, long datasetOffset, long length)
    {
        Path = path;
        SopClassUid = sopClass;
        SopInstanceUid = sopInstance;
        TransferSyntax = syntax;
        DatasetOffset = datasetOffset;
        Length = length;
    }

    public string Path { get; }
    public string SopClassUid { get; }
    public string SopInstanceUid { get; }
    public DicomTransferSyntax TransferSyntax { get; }
    /// <summary>Where the data set starts in the file, or -1 when the file must be parsed to be sent.</summary>
    public long DatasetOffset { get; }
    public long Length { get; }

    /// <summary>True when the data set can be re-encoded in Explicit or Implicit VR Little Endian.</summary>
    public bool CanTranscodeToUncompressed => !TransferSyntax.IsEncapsulated;

    /// <summary>Reads the file meta information; files without it (bare data sets) are parsed completely.</summary>
    public static InstanceFile Probe(string path)
    {
        long length = new FileInfo(path).Length;
        using (var fs = File.OpenRead(path))
        {
            var head = new byte[(int)Math.Min(length, 8192)];
            fs.ReadExactly(head);
            if (TryMeta(head, out var meta, out int metaEnd)
                && meta.TryGetValue(0x0002, out var cls) && meta.TryGetValue(0x0003, out var inst) && meta.TryGetValue(0x0010, out var tsUid)
                && cls.Length > 0 && inst.Length > 0 && tsUid.Length > 0)
            {
                var ts = DicomTransferSyntax.Parse(tsUid);
                bool rawOk = ts.IsEncapsulated || ts.IsDeflate || ts.IsBigEndian || LooksLike(head, metaEnd, ts.IsExplicitVR);
                if (rawOk) return new InstanceFile(path, cls, inst, ts, metaEnd, length);
            }
        }
        // No usable meta: parse it all (the reader also works out the real syntax of mislabelled files).
        var f = DicomFile.Open(path);
        string c = f.Dataset.GetString(DicomTag.SOPClassUID), i = f.Dataset.GetString(DicomTag.SOPInstanceUID);
        if (c.Length == 0 || i.Length == 0) throw new DicomFileException(path, -1, "no SOPClassUID/SOPInstanceUID: not a storable instance");
        return new InstanceFile(path, c, i, f.TransferSyntax, -1, length);
    }

    /// <summary>Group 0002 of a Part 10 file (explicit VR LE), as element → string, and where the data set starts.</summary>
    static bool TryMeta(byte[] b, out Dictionary<ushort, string> meta, out int end)
    {
        meta = new Dictionary<ushort, string>();
        end = -1;
        if (b.Length < 144 || b[128] != 'D' || b[129] != 'I' || b[130] != 'C' || b[131] != 'M') return false;
        int pos = 132;
        while (pos + 8 <= b.Length && BinaryPrimitives.ReadUInt16LittleEndian(b.AsSpan(pos)) == 0x0002)
        {
            ushort elem = BinaryPrimitives.ReadUInt16LittleEndian(b.AsSpan(pos + 2));
            string vr = Encoding.ASCII.GetString(b, pos + 4, 2);
            int len, hdr;
            if (vr is "OB" or "OW" or "UN" or "SQ" or "UT" or "UC" or "UR" or "OF" or "OD" or "OL" or "OV")
            {
                if (pos + 12 > b.Length) return false;
                len = (int)BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(pos + 8));
                hdr = 12;
            }
            else if (vr.All(char.IsAsciiLetterUpper))
            {
                len = BinaryPrimitives.ReadUInt16LittleEndian(b.AsSpan(pos + 6));
                hdr = 8;
            }
            else return false; // implicit meta: leave it to the full reader
            if (len < 0 || pos + hdr + len > b.Length) return false;
            if (vr is "UI" or "AE" or "SH") meta[elem] = Encoding.ASCII.GetString(b, pos + hdr, len).TrimEnd('\0', ' ');
            pos += hdr + len;
        }
        if (pos + 8 > b.Length) return false;
        end = pos;
        return true;
    }

    /// <summary>Cheap check that the data set really is in the declared (uncompressed) VR form.</summary>
    static bool LooksLike(byte[] b, int pos, bool explicitVR)
    {
        if (pos + 8 > b.Length) return false;
        bool letters = char.IsAsciiLetterUpper((char)b[pos + 4]) && char.IsAsciiLetterUpper((char)b[pos + 5]);
        return explicitVR == letters;
    }

    /// <summary>The data set encoded in <paramref name="target"/>: the file's bytes when it matches, else re-encoded.</summary>
    public ReadOnlyMemory<byte> ReadDataset(DicomTransferSyntax target)
    {
        if (DatasetOffset >= 0 && target.UID == TransferSyntax.UID)
        {
            var all = File.ReadAllBytes(Path);
            return all.AsMemory((int)DatasetOffset);
        }
        if (target.IsEncapsulated || TransferSyntax.IsEncapsulated)
            throw new InvalidOperationException($"{Path}: cannot convert {TransferSyntax.Name} to {target.Name}; decompress first (e.g. dcmdjpeg or gdcmconv --raw)");
        if (target != DicomTransferSyntax.ExplicitVRLittleEndian && target != DicomTransferSyntax.ImplicitVRLittleEndian)
            throw new InvalidOperationException($"{Path}: cannot encode a data set in {target.Name}");
        var file = DicomFile.Open(Path);
        var ms = new MemoryStream((int)Length + 1024);
        DicomWriter.WriteDataset(ms, file.Dataset, implicitVR: target == DicomTransferSyntax.ImplicitVRLittleEndian);
        return ms.GetBuffer().AsMemory(0, (int)ms.Length);
    }

    /// <summary>The whole Part 10 file (for STOW-RS); files without meta information are re-written with one.</summary>
    public byte[] ReadPart10()
    {
        if (DatasetOffset >= 0) return File.ReadAllBytes(Path);
        var file = DicomFile.Open(Path);
        var ms = new MemoryStream();
        file.Save(ms);
        return ms.ToArray();
    }
}
