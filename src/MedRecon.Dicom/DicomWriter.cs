using System.Buffers.Binary;

namespace MedRecon.Dicom;

/// <summary>Writes data sets as Explicit VR Little Endian (encapsulated pixel data is written as fragments).
/// Sequences and items use undefined lengths with delimiters; values are padded to even length; group lengths
/// other than the file meta's are dropped (they are retired).</summary>
internal static class DicomWriter
{
    public static void WriteFile(Stream s, DicomFile file)
    {
        var meta = BuildMeta(file);
        s.Write(file.Preamble ?? new byte[128]);
        s.Write("DICM"u8);
        var metaBody = new MemoryStream();
        foreach (var item in meta)
            if (item.Tag != DicomTag.FileMetaInformationGroupLength) WriteItem(metaBody, item, implicitVR: false);
        WriteHeader(s, DicomTag.FileMetaInformationGroupLength, DicomVR.UL, 4, false);
        Span<byte> gl = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(gl, (uint)metaBody.Length);
        s.Write(gl);
        metaBody.Position = 0;
        metaBody.CopyTo(s);
        WriteDataset(s, file.Dataset, implicitVR: file.TransferSyntax == DicomTransferSyntax.ImplicitVRLittleEndian);
    }

    static DicomDataset BuildMeta(DicomFile file)
    {
        var ds = file.Dataset;
        var meta = file.FileMetaInfo.Clone();
        meta.Remove(DicomTag.FileMetaInformationGroupLength);
        meta.AddOrUpdate(new DicomElement(DicomTag.FileMetaInformationVersion, DicomVR.OB, new byte[] { 0, 1 }));
        string sopClass = ds.GetString(DicomTag.SOPClassUID);
        string sopInst = ds.GetString(DicomTag.SOPInstanceUID);
        if (sopClass.Length > 0) meta.AddOrUpdate(DicomTag.MediaStorageSOPClassUID, sopClass);
        if (sopInst.Length > 0) meta.AddOrUpdate(DicomTag.MediaStorageSOPInstanceUID, sopInst);
        meta.AddOrUpdate(DicomTag.TransferSyntaxUID, file.TransferSyntax.UID);
        meta.AddOrUpdate(DicomTag.ImplementationClassUID, DicomUID.ImplementationClassUID);
        meta.AddOrUpdate(DicomTag.ImplementationVersionName, DicomUID.ImplementationVersionName);
        return meta;
    }

    public static void WriteDataset(Stream s, DicomDataset ds, bool implicitVR)
    {
        foreach (var item in ds)
        {
            if (item.Tag.Element == 0 || item.Tag.Group == 0x0002) continue; // retired group lengths; meta lives in the meta header
            WriteItem(s, item, implicitVR);
        }
    }

    static void WriteItem(Stream s, DicomItem item, bool implicitVR)
    {
        switch (item)
        {
            case DicomElement e:
            {
                int len = e.Buffer.Length;
                bool pad = (len & 1) == 1;
                int written = len + (pad ? 1 : 0);
                var vr = e.VR;
                if (!vr.Has32BitLength && written > 0xFFFF && !implicitVR)
                    vr = DicomVR.UN; // a value too long for a 16-bit length (only from odd input)
                WriteHeader(s, e.Tag, vr, (uint)written, implicitVR);
                s.Write(e.Buffer);
                if (pad) s.WriteByte(e.VR.PaddingByte);
                break;
            }
            case DicomSequence sq:
                WriteHeader(s, sq.Tag, DicomVR.SQ, 0xFFFFFFFF, implicitVR);
                foreach (var child in sq.Items)
                {
                    WriteItemTag(s, 0xE000, 0xFFFFFFFF);
                    WriteDataset(s, child, implicitVR);
                    WriteItemTag(s, 0xE00D, 0);
                }
                WriteItemTag(s, 0xE0DD, 0);
                break;
            case DicomFragmentSequence f:
                WriteHeader(s, f.Tag, f.VR, 0xFFFFFFFF, implicitVR);
                WriteFragment(s, f.OffsetTableBytes);
                foreach (var frag in f.Fragments) WriteFragment(s, frag);
                WriteItemTag(s, 0xE0DD, 0);
                break;
        }
    }

    static void WriteFragment(Stream s, byte[] data)
    {
        bool pad = (data.Length & 1) == 1;
        WriteItemTag(s, 0xE000, (uint)(data.Length + (pad ? 1 : 0)));
        s.Write(data);
        if (pad) s.WriteByte(0);
    }

    static void WriteItemTag(Stream s, ushort element, uint length)
    {
        Span<byte> h = stackalloc byte[8];
        BinaryPrimitives.WriteUInt16LittleEndian(h, 0xFFFE);
        BinaryPrimitives.WriteUInt16LittleEndian(h[2..], element);
        BinaryPrimitives.WriteUInt32LittleEndian(h[4..], length);
        s.Write(h);
    }

    static void WriteHeader(Stream s, DicomTag tag, DicomVR vr, uint length, bool implicitVR)
    {
        Span<byte> h = stackalloc byte[12];
        BinaryPrimitives.WriteUInt16LittleEndian(h, tag.Group);
        BinaryPrimitives.WriteUInt16LittleEndian(h[2..], tag.Element);
        if (implicitVR)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(h[4..], length);
            s.Write(h[..8]);
            return;
        }
        h[4] = (byte)vr.Code[0];
        h[5] = (byte)vr.Code[1];
        if (vr.Has32BitLength)
        {
            h[6] = 0;
            h[7] = 0;
            BinaryPrimitives.WriteUInt32LittleEndian(h[8..], length);
            s.Write(h);
        }
        else
        {
            BinaryPrimitives.WriteUInt16LittleEndian(h[6..], (ushort)length);
            s.Write(h[..8]);
        }
    }
}
