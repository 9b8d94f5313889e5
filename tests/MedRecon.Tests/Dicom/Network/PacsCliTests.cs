using MedRecon.Dicom;
using MedRecon.Tests.Cli;
using MedRecon.Tests.Infrastructure;

namespace MedRecon.Tests.Dicom.Network;

/// <summary>`medrecon echo`, `send` and `recon mri --host` through the real executable, against peers on 127.0.0.1.</summary>
public class PacsCliTests
{
    static void Ok((int ExitCode, string StdOut, string StdErr) r) =>
        Assert.True(r.ExitCode == 0, $"exit {r.ExitCode}\nstdout: {r.StdOut}\nstderr: {r.StdErr}");

    [SkippableFact]
    public void Recon_PushesItsDerivedSeries_And_SendReportsFailuresWithExitCode1()
    {
        using var dir = new TempDir();
        using var scp = new StorescpPeer(dir.Path);
        Ok(CliRunner.Run("phantom", "--kind", "ellipses", "--size", "32", "--count", "3", "--format", "dicom", "--modality", "mr", "--out", dir["phantom"]));
        Ok(CliRunner.Run("simulate", "mri", "--image", dir["phantom"], "--slice", "all", "--accel", "2", "--out", dir["sim"]));
        var r = CliRunner.Run("recon", "mri", "--kspace", dir["sim/ksp.npy"], "--mask", dir["sim/mask.npy"], "--method", "zf", "--out", dir["zf"],
            "--host", "127.0.0.1", "--port", scp.Port.ToString(), "--called-aet", scp.AeTitle);
        Ok(r);
        Assert.Contains("sent 3, warnings 0, failed 0", r.StdOut);
        Assert.DoesNotContain("PHANTOM", r.StdOut + r.StdErr); // no patient data in the log
        PacsTestUtil.AssertSameInstances(Directory.GetFiles(dir["zf"]), scp.ReceivedFiles());

        int down = PacsTestUtil.FreePort();
        var failed = CliRunner.Run("send", dir["phantom"], dir["zf"], "--host", "127.0.0.1", "--port", down.ToString(), "--retries", "0");
        Assert.Equal(1, failed.ExitCode);
        Assert.Contains("sent 0, warnings 0, failed 6", failed.StdOut);
        Assert.Contains("connection refused", failed.StdOut);
        var echo = CliRunner.Run("echo", "--host", "127.0.0.1", "--port", down.ToString());
        Assert.Equal(1, echo.ExitCode);
        Assert.Contains("connection refused", echo.StdErr);
    }

    [SkippableFact]
    public void Run_PushesTheDerivedSeriesItWrote()
    {
        using var dir = new TempDir();
        using var scp = new StorescpPeer(dir.Path);
        var r = CliRunner.Run("run", "--size", "32", "--simulate", "mri:accel=2,center=0.25", "--method", "zf", "--out", dir["run"],
            "--host", "127.0.0.1", "--port", scp.Port.ToString(), "--called-aet", scp.AeTitle);
        Ok(r);
        Assert.Contains("sent 1, warnings 0, failed 0", r.StdOut);
        PacsTestUtil.AssertSameInstances(Directory.GetFiles(Path.Combine(dir["run"], "dicom")), scp.ReceivedFiles());
    }

    [Fact]
    public void Stow_TokenComesFromAFile_IsSent_AndNeverPrinted()
    {
        using var dir = new TempDir();
        var files = PacsTestUtil.WriteDerivedSeries(dir["s"], "CT", 2, 16);
        const string token = "s3cr3t-token-value";
        File.WriteAllText(dir["token"], token + "\n");
        using var server = new FakeHttpServer((500, "text/plain", "boom", 0));
        var r = CliRunner.Run("send", dir["s/derived"], "--stow", server.Url.ToString(), "--token-file", dir["token"], "--verbose-phi");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("HTTP 500", r.StdOut);
        Assert.Contains("sent 0, warnings 0, failed 2", r.StdOut);
        Assert.DoesNotContain(token, r.StdOut + r.StdErr);
        Assert.Equal("Bearer " + token, server.Requests[0].Authorization);

        File.WriteAllText(dir["pw"], "pa55word");
        var basic = CliRunner.Run("send", files[0], "--stow", server.Url.ToString(), "--user", "bob", "--password-file", dir["pw"]);
        Assert.Equal(1, basic.ExitCode);
        Assert.DoesNotContain("pa55word", basic.StdOut + basic.StdErr);
        Assert.Equal("Basic " + Convert.ToBase64String("bob:pa55word"u8.ToArray()), server.Requests[1].Authorization);
    }

    static void Bad(string fragment, params string[] args)
    {
        var parse = MedRecon.Cli.Program.BuildRoot().Parse(args);
        Assert.Empty(parse.Errors);
        var e = Assert.Throws<MedRecon.Cli.CliException>(() => MedRecon.Cli.Pipelines.PacsDestination.TryParse(parse));
        Assert.Contains(fragment, e.Message);
    }

    [Fact]
    public void BadDestinationOptions_AreClearErrors()
    {
        using var dir = new TempDir();
        string f = dir["x.dcm"];
        Bad("either --host", "send", f, "--host", "127.0.0.1", "--stow", "http://127.0.0.1:1/");
        Bad("--password-file", "send", f, "--stow", "http://127.0.0.1:1/", "--user", "bob");
        Bad("no credentials in the URL", "send", f, "--stow", "http://bob:pw@127.0.0.1:1/");
        Bad("--token-file", "send", f, "--stow", "http://127.0.0.1:1/", "--token-file", dir["missing"]);
        Bad("AE title", "send", f, "--host", "127.0.0.1", "--called-aet", "THIS-AE-TITLE-IS-TOO-LONG");
        Bad("apply to --stow only", "send", f, "--host", "127.0.0.1", "--user", "bob");
        // recon ct and recon mri carry the same options
        var ct = MedRecon.Cli.Pipelines.PacsDestination.TryParse(MedRecon.Cli.Program.BuildRoot().Parse(new[] { "recon", "ct", "--sinogram", f, "--out", dir["o"], "--host", "127.0.0.1", "--port", "11112", "--timeout", "5" }));
        Assert.Equal(11112, ct!.Dimse!.Port);
        Assert.Equal(TimeSpan.FromSeconds(5), ct.Dimse.ReadTimeout);
        var mri = MedRecon.Cli.Pipelines.PacsDestination.TryParse(MedRecon.Cli.Program.BuildRoot().Parse(new[] { "recon", "mri", "--kspace", f, "--mask", f, "--out", dir["o"], "--stow", "https://127.0.0.1:8043/dicom-web" }));
        Assert.Equal("https://127.0.0.1:8043/dicom-web/studies", mri!.Stow!.StudiesUrl.ToString());
        Assert.Null(MedRecon.Cli.Pipelines.PacsDestination.TryParse(MedRecon.Cli.Program.BuildRoot().Parse(new[] { "recon", "ct", "--sinogram", f, "--out", dir["o"] })));
        // through the real executable: one line, exit code 2
        CliRunner.AssertBadInput(CliRunner.Run("send", dir.Path, "--stow", "http://127.0.0.1:1/", "--user", "bob"), "--password-file");
    }
}
