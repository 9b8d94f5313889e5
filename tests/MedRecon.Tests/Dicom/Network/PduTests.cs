using System.Buffers.Binary;
using MedRecon.Dicom;
using MedRecon.Dicom.Network;
using MedRecon.Tests.Infrastructure;

namespace MedRecon.Tests.Dicom.Network;

public class PduTests
{
    static readonly string[] Uncompressed = { DicomTransferSyntax.ExplicitVRLittleEndian.UID, DicomTransferSyntax.ImplicitVRLittleEndian.UID };

    [Fact]
    public void AssociateRequest_RoundTrips_And_HasTheStandardLayout()
    {
        var rq = new AssociateRequest
        {
            CalledAE = "PACS", CallingAE = "MEDRECON", MaxPduLength = 32768,
            Contexts = { new PresentationContext(1, DicomUID.CTImageStorage, Uncompressed), new PresentationContext(3, DicomUID.MRImageStorage, new[] { "1.2.840.10008.1.2.4.70" }) },
        };
        var bytes = Pdu.Encode(rq);
        Assert.Equal((byte)PduType.AssociateRequest, bytes[0]);
        Assert.Equal((uint)(bytes.Length - 6), BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(2)));
        Assert.Equal(1, BinaryPrimitives.ReadUInt16BigEndian(bytes.AsSpan(6))); // protocol version
        Assert.Equal("PACS            ", System.Text.Encoding.ASCII.GetString(bytes, 10, 16)); // space padded
        Assert.Equal(0x10, bytes[74]); // application context item right after the fixed part

        var back = Pdu.DecodeAssociateRequest(bytes[6..]);
        Assert.Equal("PACS", back.CalledAE);
        Assert.Equal("MEDRECON", back.CallingAE);
        Assert.Equal(Pdu.DicomApplicationContext, back.ApplicationContext);
        Assert.Equal(32768u, back.MaxPduLength);
        Assert.Equal(DicomUID.ImplementationClassUID, back.ImplementationClassUid);
        Assert.Equal(2, back.Contexts.Count);
        Assert.Equal(DicomUID.CTImageStorage, back.Contexts[0].AbstractSyntax);
        Assert.Equal(Uncompressed, back.Contexts[0].TransferSyntaxes);
        Assert.Equal(3, back.Contexts[1].Id);
        Assert.Equal("1.2.840.10008.1.2.4.70", Assert.Single(back.Contexts[1].TransferSyntaxes));
    }

    [Fact]
    public void AssociateAccept_Reject_Abort_RoundTrip()
    {
        var ac = new AssociateAccept
        {
            MaxPduLength = 0,
            Contexts = { new(1, PresentationContextResult.Acceptance, Uncompressed[1]), new(3, PresentationContextResult.AbstractSyntaxNotSupported, Uncompressed[0]) },
        };
        var back = Pdu.DecodeAssociateAccept(Pdu.Encode(ac)[6..]);
        Assert.Equal(0u, back.MaxPduLength);
        Assert.True(back.Contexts[0].Accepted);
        Assert.Equal(Uncompressed[1], back.Contexts[0].TransferSyntax);
        Assert.Equal(PresentationContextResult.AbstractSyntaxNotSupported, back.Contexts[1].Result);

        var rj = Pdu.DecodeAssociateReject(Pdu.Encode(new AssociateReject(1, 1, 7))[6..]);
        Assert.False(rj.IsTransient);
        Assert.Contains("called AE title not recognized", rj.Describe());
        Assert.True(new AssociateReject(2, 3, 1).IsTransient);
        var ab = Pdu.DecodeAbort(Pdu.Encode(new AbortPdu(2, 6))[6..]);
        Assert.Contains("invalid PDU parameter value", ab.Describe());
    }

    [Theory]
    [InlineData(16384, 100_000)]
    [InlineData(4096, 4090)]   // exactly one full fragment
    [InlineData(4096, 4091)]   // one byte over: two fragments
    [InlineData(0, 5000)]      // peer without limit
    [InlineData(4096, 0)]      // empty message still gives one (last) PDV
    public void Fragment_RespectsThePeerMaximum_AndReassembles(int maxPdu, int length)
    {
        var msg = new byte[length];
        new Random(length).NextBytes(msg);
        var pdus = Pdu.Fragment(5, false, msg, (uint)maxPdu).ToList();
        var joined = new MemoryStream();
        for (int i = 0; i < pdus.Count; i++)
        {
            var p = pdus[i];
            Assert.Equal((byte)PduType.PData, p[0]);
            uint bodyLen = BinaryPrimitives.ReadUInt32BigEndian(p.AsSpan(2));
            Assert.Equal(p.Length - 6, (int)bodyLen);
            if (maxPdu > 0) Assert.True(bodyLen <= maxPdu, $"PDU body {bodyLen} > {maxPdu}");
            var pdv = Assert.Single(Pdu.DecodePData(p[6..]));
            Assert.Equal(5, pdv.ContextId);
            Assert.False(pdv.IsCommand);
            Assert.Equal(i == pdus.Count - 1, pdv.IsLast);
            joined.Write(pdv.Data);
        }
        int expected = maxPdu == 0 ? 1 : Math.Max(1, (length + maxPdu - 7) / (maxPdu - 6));
        Assert.Equal(expected, pdus.Count);
        Assert.Equal(msg, joined.ToArray());
    }

    [Fact]
    public void Read_RejectsOversizedAndMalformedPdus_WithoutAllocating()
    {
        var huge = new byte[] { 4, 0, 0x7F, 0xFF, 0xFF, 0xFF };
        Assert.Throws<DicomProtocolException>(() => Pdu.Read(new MemoryStream(huge), 1 << 20));
        Assert.Throws<DicomProtocolException>(() => Pdu.Read(new MemoryStream(new byte[] { 9, 0, 0, 0, 0, 0 }), 100));
        Assert.Null(Pdu.Read(new MemoryStream(), 100)); // clean close
        Assert.Throws<EndOfStreamException>(() => Pdu.Read(new MemoryStream(new byte[] { 4, 0, 0 }), 100));
        // a PDV whose length runs past the PDU
        var bad = new byte[] { 0, 0, 0, 50, 1, 2, 9, 9 };
        Assert.Throws<DicomProtocolException>(() => Pdu.DecodePData(bad));
    }

    [Fact]
    public void CommandSet_IsImplicitLittleEndianWithGroupLength_AndParses()
    {
        var cmd = DimseCommand.StoreRequest(7, DicomUID.CTImageStorage, "1.2.3.4.5");
        Assert.Equal(0u, BinaryPrimitives.ReadUInt32LittleEndian(cmd.AsSpan(0))); // tag (0000,0000)
        Assert.Equal((uint)(cmd.Length - 12), BinaryPrimitives.ReadUInt32LittleEndian(cmd.AsSpan(8)));
        var parsed = DimseCommand.Parse(cmd);
        Assert.Equal(DimseCommand.CStoreRequest, parsed.CommandField);
        Assert.Equal((ushort)7, parsed.GetUInt16(0x0110));
        Assert.Equal("1.2.3.4.5", parsed.AffectedSopInstanceUid); // odd-length UID padded with NUL, trimmed on read
        Assert.Equal(DicomUID.CTImageStorage, parsed.GetText(0x0002));
        var rsp = DimseCommand.Parse(DimseCommand.Response(DimseCommand.CStoreResponse, 7, DicomUID.CTImageStorage, 0xB000));
        Assert.Equal(StatusCategory.Warning, rsp.Status.Category);
        Assert.Equal((ushort)7, rsp.MessageIdBeingRespondedTo);
    }

    [Theory]
    [InlineData(0x0000, StatusCategory.Success, "success")]
    [InlineData(0xB000, StatusCategory.Warning, "coercion")]
    [InlineData(0xB007, StatusCategory.Warning, "does not match")]
    [InlineData(0xA700, StatusCategory.Failure, "out of resources")]
    [InlineData(0xA7FF, StatusCategory.Failure, "out of resources")]
    [InlineData(0xA900, StatusCategory.Failure, "does not match SOP class")]
    [InlineData(0xC123, StatusCategory.Failure, "cannot understand")]
    [InlineData(0x0122, StatusCategory.Failure, "SOP class not supported")]
    [InlineData(0x0111, StatusCategory.Failure, "duplicate")]
    [InlineData(0xFE00, StatusCategory.Cancel, "cancel")]
    public void Status_CategoryAndMeaning(int code, StatusCategory category, string meaning)
    {
        var s = new DicomStatus((ushort)code);
        Assert.Equal(category, s.Category);
        Assert.Contains(meaning, s.ToString());
        Assert.StartsWith($"0x{code:X4}", s.ToString());
    }

    [SkippableFact]
    public void ProposedContexts_OnePerSopClass_PlusTheFilesOwnSyntax()
    {
        using var tmp = new TempDir();
        var ct = PacsTestUtil.WriteDerivedSeries(tmp["ct"], "CT", 2, 16);
        var mr = PacsTestUtil.WriteDerivedSeries(tmp["mr"], "MR", 2, 16);
        var files = ct.Concat(mr).Select(InstanceFile.Probe).ToList();
        Assert.All(files, f => Assert.True(f.DatasetOffset > 132));
        var contexts = DicomStoreScu.ProposeContexts(files);
        Assert.Equal(2, contexts.Count);
        Assert.Equal(new[] { 1, 3 }, contexts.Select(c => (int)c.Id));
        Assert.Equal(new[] { DicomUID.CTImageStorage, DicomUID.MRImageStorage }, contexts.Select(c => c.AbstractSyntax));
        Assert.All(contexts, c => Assert.Equal(Uncompressed, c.TransferSyntaxes));
        // a compressed file adds a context with its own syntax (and still gets the uncompressed one for its class)
        string dcmcjpeg = ExternalTools.RequireTool("dcmcjpeg", "dcmtk");
        string jpeg = tmp["jpeg.dcm"];
        Assert.Equal(0, ExternalTools.Run(dcmcjpeg, new[] { ct[0], jpeg }).ExitCode);
        var withJpeg = DicomStoreScu.ProposeContexts(new[] { InstanceFile.Probe(jpeg) });
        Assert.Equal(2, withJpeg.Count);
        Assert.Equal(Uncompressed, withJpeg[0].TransferSyntaxes);
        Assert.Equal(DicomTransferSyntax.JPEGProcess14SV1.UID, Assert.Single(withJpeg[1].TransferSyntaxes));
    }

    [Fact]
    public void StowResponse_JsonAndXml_MapToInstances()
    {
        string json = """
            {"00081199":{"vr":"SQ","Value":[{"00081150":{"vr":"UI","Value":["1.2.840.10008.5.1.4.1.1.2"]},"00081155":{"vr":"UI","Value":["1.2.3"]}},
                                            {"00081155":{"vr":"UI","Value":["1.2.4"]},"00081196":{"vr":"US","Value":[45056]}}]},
             "00081198":{"vr":"SQ","Value":[{"00081155":{"vr":"UI","Value":["1.2.5"]},"00081197":{"vr":"US","Value":[49442]}}]}}
            """;
        var items = new List<(string, string, long)> { ("a.dcm", "1.2.3", 10), ("b.dcm", "1.2.4", 20), ("c.dcm", "1.2.5", 30), ("d.dcm", "1.2.6", 40) };
        var r = StowRsClient.Interpret(202, "Accepted", "application/dicom+json", json, items);
        Assert.Equal(StoreOutcome.Success, r[0].Outcome);
        Assert.Equal(StoreOutcome.Warning, r[1].Outcome);
        Assert.Contains("0xB000", r[1].Message);
        Assert.Equal(StoreOutcome.Failure, r[2].Outcome);
        Assert.Contains("0xC122", r[2].Message);
        Assert.Contains("transfer syntax not supported", r[2].Message);
        Assert.Equal(StoreOutcome.Failure, r[3].Outcome); // not listed at all
        Assert.Equal(30L, r.Sum(x => x.Bytes)); // only stored ones count

        string xml = """
            <?xml version="1.0" encoding="UTF-8"?>
            <NativeDicomModel xmlns="http://dicom.nema.org/PS3.19/models/NativeDICOM">
              <DicomAttribute tag="00081198" vr="SQ" keyword="FailedSOPSequence">
                <Item number="1">
                  <DicomAttribute tag="00081155" vr="UI" keyword="ReferencedSOPInstanceUID"><Value number="1">1.2.3</Value></DicomAttribute>
                  <DicomAttribute tag="00081197" vr="US" keyword="FailureReason"><Value number="1">272</Value></DicomAttribute>
                </Item>
              </DicomAttribute>
            </NativeDicomModel>
            """;
        var x = StowRsClient.Interpret(409, "Conflict", "application/dicom+xml", xml, items.Take(2).ToList());
        Assert.Equal(StoreOutcome.Failure, x[0].Outcome);
        Assert.Contains("HTTP 409", x[0].Message);
        Assert.Contains("processing failure", x[0].Message);
        Assert.Equal(StoreOutcome.Failure, x[1].Outcome);
        Assert.Contains("HTTP 409", x[1].Message);
    }

    [Theory]
    [InlineData("http://h:8042/dicom-web", "http://h:8042/dicom-web/studies")]
    [InlineData("http://h:8042/dicom-web/", "http://h:8042/dicom-web/studies")]
    [InlineData("https://h/wado/studies", "https://h/wado/studies")]
    [InlineData("https://h/wado/studies/1.2.3", "https://h/wado/studies/1.2.3")]
    public void StowUrl_AppendsStudiesOnlyToABase(string given, string posted) =>
        Assert.Equal(posted, new StowRsOptions { Url = new Uri(given) }.StudiesUrl.ToString());
}
