using System.Diagnostics;
using MedRecon.Dicom;
using MedRecon.Dicom.Network;
using MedRecon.Tests.Infrastructure;

namespace MedRecon.Tests.Dicom.Network;

/// <summary>C-ECHO/C-STORE against dcmtk storescp and the fake acceptor, all on 127.0.0.1.</summary>
public class DimseIntegrationTests
{
    [SkippableFact]
    public void Storescp_ReceivesTheDerivedSeries_WithIdenticalUidsAndPixels()
    {
        using var tmp = new TempDir();
        var files = PacsTestUtil.WriteDerivedSeries(tmp["series"], "CT", 5);
        using var scp = new StorescpPeer(tmp.Path);
        Assert.Equal(StatusCategory.Success, DicomStoreScu.Echo(scp.Client()).Category);
        var results = DicomStoreScu.Send(files, scp.Client());
        Assert.All(results, r => Assert.True(r.Outcome == StoreOutcome.Success, r.Message));
        Assert.All(results, r => Assert.Equal((ushort)0, r.Status));
        Assert.Equal(files, results.Select(r => r.Path));
        PacsTestUtil.AssertSameInstances(files, scp.ReceivedFiles());
        // one association for the echo, one for the whole series, both released (not aborted)
        int Released() => scp.Log.Split('\n').Count(l => l.Contains("Association Release", StringComparison.OrdinalIgnoreCase));
        for (int i = 0; i < 40 && Released() < 2; i++) Thread.Sleep(50); // storescp's log arrives asynchronously
        Assert.Equal(2, CountAssociations(scp.Log));
        Assert.Equal(2, Released());
    }

    static int CountAssociations(string storescpLog) =>
        storescpLog.Split('\n').Count(l => l.Contains("Association Acknowledged", StringComparison.OrdinalIgnoreCase));

    [SkippableFact]
    public void Storescp_ImplicitOnly_ExplicitFilesAreTranscoded_PixelsIdentical()
    {
        using var tmp = new TempDir();
        var files = PacsTestUtil.WriteDerivedSeries(tmp["series"], "MR", 3);
        Assert.All(files, f => Assert.Equal(DicomTransferSyntax.ExplicitVRLittleEndian, DicomFile.Open(f).TransferSyntax));
        using var scp = new StorescpPeer(tmp.Path, "IMPLICIT", "+xi");
        var results = DicomStoreScu.Send(files, scp.Client());
        Assert.All(results, r => Assert.True(r.Outcome == StoreOutcome.Success, r.Message));
        var received = scp.ReceivedFiles();
        Assert.All(received, f => Assert.Equal(DicomTransferSyntax.ImplicitVRLittleEndian, DicomFile.Open(f).TransferSyntax));
        PacsTestUtil.AssertSameInstances(files, received);
    }

    [SkippableFact]
    public void Storescp_CompressedFile_IsSentInItsOwnSyntax()
    {
        using var tmp = new TempDir();
        string dcmcjpeg = ExternalTools.RequireTool("dcmcjpeg", "dcmtk");
        var files = PacsTestUtil.WriteDerivedSeries(tmp["series"], "CT", 2);
        string jpeg = tmp["jpeg.dcm"];
        Assert.Equal(0, ExternalTools.Run(dcmcjpeg, new[] { files[0], jpeg }).ExitCode);
        using var scp = new StorescpPeer(tmp.Path, "ALLTS", "+xa");
        var r = Assert.Single(DicomStoreScu.Send(new[] { jpeg }, scp.Client()));
        Assert.True(r.Outcome == StoreOutcome.Success, r.Message);
        var got = DicomFile.Open(Assert.Single(scp.ReceivedFiles()));
        Assert.Equal(DicomTransferSyntax.JPEGProcess14SV1, got.TransferSyntax);
        Assert.Equal(DicomFile.Open(jpeg).Dataset.GetString(DicomTag.SOPInstanceUID), got.Dataset.GetString(DicomTag.SOPInstanceUID));
    }

    [SkippableFact]
    public void Storescp_SopClassNotAccepted_FailsOnlyThoseInstances()
    {
        using var tmp = new TempDir();
        var ct = PacsTestUtil.WriteDerivedSeries(tmp["ct"], "CT", 2);
        var mr = PacsTestUtil.WriteDerivedSeries(tmp["mr"], "MR", 2);
        string cfg = tmp["mr-only.cfg"];
        File.WriteAllText(cfg, """
            [[TransferSyntaxes]]
            [Uncompressed]
            TransferSyntax1 = LocalEndianExplicit
            TransferSyntax2 = LittleEndianImplicit

            [[PresentationContexts]]
            [MROnly]
            PresentationContext1 = MRImageStorage\Uncompressed
            PresentationContext2 = VerificationSOPClass\Uncompressed

            [[Profiles]]
            [MROnly]
            PresentationContexts = MROnly
            """);
        using var scp = new StorescpPeer(tmp.Path, "MRONLY", "-xf", cfg, "MROnly");
        var results = DicomStoreScu.Send(ct.Concat(mr).ToList(), scp.Client());
        for (int i = 0; i < 2; i++)
        {
            Assert.Equal(StoreOutcome.Failure, results[i].Outcome);
            Assert.Contains("CT Image Storage", results[i].Message);
            Assert.Contains("SOP class not supported", results[i].Message);
        }
        Assert.All(results.Skip(2), r => Assert.True(r.Outcome == StoreOutcome.Success, r.Message));
        PacsTestUtil.AssertSameInstances(mr, scp.ReceivedFiles());
    }

    [Fact]
    public void ServerDown_ConnectionRefused_RetriesWithBackoff_ThenFailsEveryInstance()
    {
        using var tmp = new TempDir();
        var files = PacsTestUtil.WriteDerivedSeries(tmp["s"], "CT", 2, 16);
        int port = PacsTestUtil.FreePort();
        var log = new List<string>();
        var clock = Stopwatch.StartNew();
        var results = DicomStoreScu.Send(files, new DicomClientOptions
        {
            Host = "127.0.0.1", Port = port, Retries = 2, RetryDelay = TimeSpan.FromMilliseconds(100), ConnectTimeout = TimeSpan.FromSeconds(2),
        }, log: log.Add);
        Assert.InRange(clock.Elapsed.TotalSeconds, 0.3, 5); // 100 + 200 ms of backoff, bounded
        Assert.Equal(2, log.Count);
        Assert.Contains("retry 1/2", log[0]);
        Assert.All(results, r =>
        {
            Assert.Equal(StoreOutcome.Failure, r.Outcome);
            Assert.Contains("connection refused", r.Message);
        });
        var e = Assert.Throws<DicomNetworkException>(() => DicomStoreScu.Echo(new DicomClientOptions { Host = "127.0.0.1", Port = port, Retries = 0 }));
        Assert.Equal(NetworkFailure.ConnectionFailed, e.Failure);
        Assert.True(e.IsTransient);
    }

    [Theory]
    [InlineData(0x0000, StoreOutcome.Success, "success")]
    [InlineData(0xB000, StoreOutcome.Warning, "coercion of data elements")]
    [InlineData(0xA700, StoreOutcome.Failure, "out of resources")]
    public void FakePeer_SmallMaxPdu_IsRespected_AndStatusesAreReportedPerInstance(int status, StoreOutcome outcome, string meaning)
    {
        using var tmp = new TempDir();
        var files = PacsTestUtil.WriteDerivedSeries(tmp["s"], "CT", 3, 40);
        using var scp = new FakeScp(FakeBehaviour.Store) { MaxPduLength = 4096, Status = (ushort)status };
        var results = DicomStoreScu.Send(files, scp.Client());
        Assert.All(results, r =>
        {
            Assert.Equal(outcome, r.Outcome);
            Assert.Equal((ushort)status, r.Status);
            Assert.Contains(meaning, r.Message);
            Assert.Contains($"0x{status:X4}", r.Message);
        });
        Assert.All(scp.PDataBodyLengths, n => Assert.InRange(n, 1, 4096));
        Assert.Contains(4096, scp.PDataBodyLengths); // full fragments are used
        Assert.Equal(3, scp.DataSets.Count);
        for (int i = 0; i < 3; i++)
        {
            var f = InstanceFile.Probe(files[i]);
            Assert.Equal(File.ReadAllBytes(files[i])[(int)f.DatasetOffset..], scp.DataSets[i]);
        }
        Assert.Single(scp.Requests); // one association
        Assert.Null(scp.Error);
    }

    [Theory]
    [InlineData(FakeBehaviour.AbortOnData, "A-ABORT")]
    [InlineData(FakeBehaviour.CloseOnData, "connection")]
    [InlineData(FakeBehaviour.Silent, "within 1 s")]
    public void AssociationLostMidTransfer_FailsClearly_WithoutHanging(FakeBehaviour behaviour, string expected)
    {
        using var tmp = new TempDir();
        var files = PacsTestUtil.WriteDerivedSeries(tmp["s"], "CT", 3, 64);
        using var scp = new FakeScp(behaviour);
        var clock = Stopwatch.StartNew();
        var results = DicomStoreScu.Send(files, scp.Client(readTimeoutSeconds: 1));
        Assert.InRange(clock.Elapsed.TotalSeconds, 0, 5);
        Assert.Equal(StoreOutcome.Failure, results[0].Outcome);
        Assert.StartsWith("not acknowledged", results[0].Message);
        if (behaviour == FakeBehaviour.AbortOnData) Assert.Contains("aborted", results[0].Message);
        else if (behaviour == FakeBehaviour.Silent) Assert.Contains(expected, results[0].Message);
        else Assert.Contains(expected, results[0].Message, StringComparison.OrdinalIgnoreCase);
        Assert.All(results.Skip(1), r =>
        {
            Assert.Equal(StoreOutcome.Failure, r.Outcome);
            Assert.StartsWith("not sent: association lost", r.Message);
        });
    }

    [Fact]
    public void FakePeer_RejectingEveryContext_GivesSopClassNotAccepted()
    {
        using var tmp = new TempDir();
        var files = PacsTestUtil.WriteDerivedSeries(tmp["s"], "MR", 2, 16);
        using var scp = new FakeScp(FakeBehaviour.RejectContexts);
        var results = DicomStoreScu.Send(files, scp.Client());
        Assert.All(results, r =>
        {
            Assert.Equal(StoreOutcome.Failure, r.Outcome);
            Assert.Contains("MR Image Storage", r.Message);
            Assert.Contains("SOP class not supported by the peer", r.Message);
        });
        var e = Assert.Throws<DicomNetworkException>(() => DicomStoreScu.Echo(scp.Client()));
        Assert.Contains("Verification", e.Message);
    }

    [Theory]
    [InlineData(FakeBehaviour.TransientRejectFirst, "temporary congestion")]
    [InlineData(FakeBehaviour.CloseBeforeAssociationFirst, "connection")]
    public void TransientFailureBeforeTheAssociation_IsRetried_ThenSucceeds_OrFailsAfterTheRetries(FakeBehaviour behaviour, string expected)
    {
        using var tmp = new TempDir();
        var files = PacsTestUtil.WriteDerivedSeries(tmp["s"], "CT", 2, 16);
        using (var scp = new FakeScp(behaviour) { FailFirst = 1 })
        {
            var log = new List<string>();
            var results = DicomStoreScu.Send(files, new DicomClientOptions { Host = "127.0.0.1", Port = scp.Port, Retries = 1, RetryDelay = TimeSpan.FromMilliseconds(50) }, log: log.Add);
            Assert.All(results, r => Assert.True(r.Outcome == StoreOutcome.Success, r.Message));
            Assert.Contains(expected, Assert.Single(log), StringComparison.OrdinalIgnoreCase);
            Assert.Equal(2, scp.Connections);
        }
        using (var scp = new FakeScp(behaviour) { FailFirst = 10 })
        {
            var clock = Stopwatch.StartNew();
            var results = DicomStoreScu.Send(files, new DicomClientOptions { Host = "127.0.0.1", Port = scp.Port, Retries = 2, RetryDelay = TimeSpan.FromMilliseconds(50) });
            Assert.All(results, r =>
            {
                Assert.Equal(StoreOutcome.Failure, r.Outcome);
                Assert.Contains(expected, r.Message, StringComparison.OrdinalIgnoreCase);
            });
            Assert.Equal(3, scp.Connections);
            Assert.InRange(clock.Elapsed.TotalSeconds, 0.1, 5);
        }
    }
}
