using MedRecon.Dicom.Network;
using MedRecon.Tests.Infrastructure;

namespace MedRecon.Tests.Dicom.Network;

/// <summary>One Orthanc (+ DICOMweb plugin) for the class, started on free ports with authentication.</summary>
public sealed class OrthancFixture : IDisposable
{
    readonly TempDir _dir = new();
    readonly Lazy<OrthancPeer> _peer;
    public OrthancFixture() => _peer = new Lazy<OrthancPeer>(() => new OrthancPeer(_dir.Path));
    /// <summary>The running peer; skips the calling test when Orthanc or the plugin is not installed.</summary>
    public OrthancPeer Peer => _peer.Value;

    public void Dispose()
    {
        if (_peer.IsValueCreated) _peer.Value.Dispose();
        _dir.Dispose();
    }
}

public class OrthancIntegrationTests : IClassFixture<OrthancFixture>
{
    readonly OrthancFixture _orthanc;
    public OrthancIntegrationTests(OrthancFixture orthanc) => _orthanc = orthanc;

    [SkippableFact]
    public void DimseAndStow_BothSeriesArrive_WithIdenticalUidsAndPixels()
    {
        var peer = _orthanc.Peer;
        using var tmp = new TempDir();
        var ct = PacsTestUtil.WriteDerivedSeries(tmp["ct"], "CT", 4);
        var mr = PacsTestUtil.WriteDerivedSeries(tmp["mr"], "MR", 3);

        Assert.Equal(StatusCategory.Success, DicomStoreScu.Echo(peer.Client()).Category);
        var dimse = DicomStoreScu.Send(ct, peer.Client());
        Assert.All(dimse, r => Assert.True(r.Outcome == StoreOutcome.Success, r.Message));

        var stow = StowRsClient.Send(mr, new StowRsOptions { Url = peer.DicomWeb, User = OrthancPeer.User, Password = OrthancPeer.Password, BatchSize = 2 });
        Assert.All(stow, r => Assert.True(r.Outcome == StoreOutcome.Success, r.Message));
        Assert.Equal(mr, stow.Select(r => r.Path));

        var downloaded = peer.DownloadAll(tmp["download"]);
        PacsTestUtil.AssertSameInstances(ct.Concat(mr), downloaded);
    }

    [SkippableFact]
    public void Stow_WrongPasswordOrToken_Gives401PerInstance()
    {
        var peer = _orthanc.Peer;
        using var tmp = new TempDir();
        var files = PacsTestUtil.WriteDerivedSeries(tmp["s"], "CT", 2, 16);
        foreach (var options in new[]
                 {
                     new StowRsOptions { Url = peer.DicomWeb, User = OrthancPeer.User, Password = "wrong", Retries = 0 },
                     new StowRsOptions { Url = peer.DicomWeb, BearerToken = "not-a-valid-token", Retries = 0 },
                     new StowRsOptions { Url = peer.DicomWeb, Retries = 0 },
                 })
        {
            var results = StowRsClient.Send(files, options);
            Assert.All(results, r =>
            {
                Assert.Equal(StoreOutcome.Failure, r.Outcome);
                Assert.Contains("HTTP 401", r.Message);
                Assert.Contains("credentials", r.Message);
                Assert.DoesNotContain("wrong", r.Message);
            });
        }
    }

    [SkippableFact]
    public void CalledAeTitleRejected_ByOrthanc()
    {
        var peer = _orthanc.Peer;
        using var tmp = new TempDir();
        var files = PacsTestUtil.WriteDerivedSeries(tmp["s"], "CT", 2, 16);
        var results = DicomStoreScu.Send(files, peer.Client("NOT-ORTHANC"));
        Assert.All(results, r =>
        {
            Assert.Equal(StoreOutcome.Failure, r.Outcome);
            Assert.Contains("called AE title not recognized", r.Message);
            Assert.Contains("permanent", r.Message);
        });
        var e = Assert.Throws<DicomNetworkException>(() => DicomStoreScu.Echo(peer.Client("NOT-ORTHANC") ));
        Assert.Equal(NetworkFailure.Rejected, e.Failure);
        Assert.False(e.IsTransient); // permanent: no retries
    }
}
