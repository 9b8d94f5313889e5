using System.Diagnostics;
using System.Net;
using System.Text;
using MedRecon.Dicom;
using MedRecon.Dicom.Network;
using MedRecon.Tests.Infrastructure;

namespace MedRecon.Tests.Dicom.Network;

/// <summary>A tiny HTTP server on 127.0.0.1 that answers each request with the next canned response and records requests.</summary>
public sealed class FakeHttpServer : IDisposable
{
    readonly HttpListener _listener = new();
    readonly Thread _thread;
    readonly Queue<(int Code, string ContentType, string Body, int DelayMs)> _responses = new();
    public int Port { get; }
    public Uri Url => new($"http://127.0.0.1:{Port}/dicom-web");
    public List<(string? ContentType, string? Authorization, byte[] Body)> Requests { get; } = new();

    public FakeHttpServer(params (int Code, string ContentType, string Body, int DelayMs)[] responses)
    {
        foreach (var r in responses) _responses.Enqueue(r);
        Port = PacsTestUtil.FreePort();
        _listener.Prefixes.Add($"http://127.0.0.1:{Port}/");
        _listener.Start();
        _thread = new Thread(Loop) { IsBackground = true };
        _thread.Start();
    }

    void Loop()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext ctx;
            try { ctx = _listener.GetContext(); }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException) { return; }
            try
            {
                var ms = new MemoryStream();
                ctx.Request.InputStream.CopyTo(ms);
                lock (Requests) Requests.Add((ctx.Request.ContentType, ctx.Request.Headers["Authorization"], ms.ToArray()));
                var (code, type, body, delay) = _responses.Count > 1 ? _responses.Dequeue() : _responses.Peek();
                if (delay > 0) Thread.Sleep(delay);
                ctx.Response.StatusCode = code;
                ctx.Response.ContentType = type;
                var bytes = Encoding.UTF8.GetBytes(body);
                ctx.Response.OutputStream.Write(bytes);
                ctx.Response.Close();
            }
            // InvalidOperationException: the listener was stopped mid-response; anything escaping this thread aborts the run
            catch (Exception e) when (e is HttpListenerException or IOException or ObjectDisposedException or InvalidOperationException) { }
        }
    }

    public void Dispose()
    {
        try { _listener.Stop(); _listener.Close(); } catch (ObjectDisposedException) { }
        _thread.Join(2000);
    }

    /// <summary>A STOW-RS JSON response listing UIDs as stored or failed.</summary>
    public static string Json(IEnumerable<string> referenced, IEnumerable<(string Uid, int Reason)> failed)
    {
        static string Item(string uid, string? extra) =>
            $"{{\"00081155\":{{\"vr\":\"UI\",\"Value\":[\"{uid}\"]}}{extra}}}";
        var refs = string.Join(",", referenced.Select(u => Item(u, null)));
        var fails = string.Join(",", failed.Select(f => Item(f.Uid, $",\"00081197\":{{\"vr\":\"US\",\"Value\":[{f.Reason}]}}")));
        return $"{{\"00081199\":{{\"vr\":\"SQ\",\"Value\":[{refs}]}},\"00081198\":{{\"vr\":\"SQ\",\"Value\":[{fails}]}}}}";
    }
}

public class StowRsTests
{
    static (IReadOnlyList<string> Files, string[] Uids) Series(TempDir tmp, int n = 3)
    {
        var files = PacsTestUtil.WriteDerivedSeries(tmp["s"], "CT", n, 16);
        return (files, files.Select(f => DicomFile.Open(f).Dataset.GetString(DicomTag.SOPInstanceUID)).ToArray());
    }

    [Fact]
    public void Request_IsMultipartRelatedDicom_WithBearerToken_AndOnePartPerInstance()
    {
        using var tmp = new TempDir();
        var (files, uids) = Series(tmp);
        using var server = new FakeHttpServer((200, "application/dicom+json", FakeHttpServer.Json(new[] { "placeholder" }, Array.Empty<(string, int)>()), 0));
        // the server lists no real UID: every instance gets an explicit "not listed" failure
        var results = StowRsClient.Send(files, new StowRsOptions { Url = server.Url, BearerToken = "tok-123" });
        Assert.All(results, r => Assert.Equal(StoreOutcome.Failure, r.Outcome));
        Assert.All(results, r => Assert.Contains("not listed as stored", r.Message));
        var (type, auth, body) = Assert.Single(server.Requests);
        Assert.StartsWith("multipart/related", type);
        Assert.Contains("type=\"application/dicom\"", type);
        Assert.Equal("Bearer tok-123", auth);
        string boundary = type!.Split("boundary=")[1].Split(';')[0].Trim('"');
        var parts = SplitMultipart(body, boundary);
        Assert.Equal(3, parts.Count);
        Assert.Equal(uids, parts.Select(p => DicomFile.Open(p).Dataset.GetString(DicomTag.SOPInstanceUID)));
    }

    static List<byte[]> SplitMultipart(byte[] body, string boundary)
    {
        var text = Encoding.Latin1.GetString(body);
        var parts = new List<byte[]>();
        foreach (var chunk in text.Split("--" + boundary).Skip(1))
        {
            if (chunk.StartsWith("--")) break;
            int start = chunk.IndexOf("\r\n\r\n", StringComparison.Ordinal) + 4;
            var content = chunk[start..^2]; // drop the CRLF before the next boundary
            Assert.Contains("Content-Type: application/dicom", chunk[..start]);
            parts.Add(Encoding.Latin1.GetBytes(content));
        }
        return parts;
    }

    [Fact]
    public void Http409_WithFailedSopSequence_AndHttp500_GivePerInstanceResults()
    {
        using var tmp = new TempDir();
        var (files, uids) = Series(tmp);
        string body409 = FakeHttpServer.Json(new[] { uids[0] }, new[] { (uids[1], 0xA700), (uids[2], 0x0111) });
        using (var server = new FakeHttpServer((409, "application/dicom+json", body409, 0)))
        {
            var r = StowRsClient.Send(files, new StowRsOptions { Url = server.Url, Retries = 0 });
            Assert.Equal(StoreOutcome.Warning, r[0].Outcome); // listed as stored despite 409
            Assert.Equal(StoreOutcome.Failure, r[1].Outcome);
            Assert.Contains("HTTP 409 conflict", r[1].Message);
            Assert.Contains("out of resources", r[1].Message);
            Assert.Equal(StoreOutcome.Failure, r[2].Outcome);
            Assert.Contains("duplicate SOP instance", r[2].Message);
        }
        using (var server = new FakeHttpServer((500, "text/plain", "boom", 0)))
        {
            var r = StowRsClient.Send(files, new StowRsOptions { Url = server.Url, Retries = 2, RetryDelay = TimeSpan.FromMilliseconds(10) });
            Assert.All(r, x =>
            {
                Assert.Equal(StoreOutcome.Failure, x.Outcome);
                Assert.Equal("HTTP 500 internal server error", x.Message);
            });
            Assert.Single(server.Requests); // a 500 is not retried (the server may have stored part)
        }
    }

    [Fact]
    public void Http503_IsRetried_ThenStored()
    {
        using var tmp = new TempDir();
        var (files, uids) = Series(tmp, 2);
        using var server = new FakeHttpServer(
            (503, "text/plain", "busy", 0),
            (200, "application/dicom+json", FakeHttpServer.Json(uids, Array.Empty<(string, int)>()), 0));
        var log = new List<string>();
        var r = StowRsClient.Send(files, new StowRsOptions { Url = server.Url, RetryDelay = TimeSpan.FromMilliseconds(20) }, log: log.Add);
        Assert.All(r, x => Assert.True(x.Outcome == StoreOutcome.Success, x.Message));
        Assert.Equal(2, server.Requests.Count);
        Assert.Contains("HTTP 503", Assert.Single(log));
    }

    [Fact]
    public void ServerDown_And_SlowServer_FailWithinTheTimeouts()
    {
        using var tmp = new TempDir();
        var (files, _) = Series(tmp, 2);
        var clock = Stopwatch.StartNew();
        var down = StowRsClient.Send(files, new StowRsOptions { Url = new Uri($"http://127.0.0.1:{PacsTestUtil.FreePort()}/dicom-web"), Retries = 1, RetryDelay = TimeSpan.FromMilliseconds(50) });
        Assert.All(down, x => Assert.Contains("connection refused", x.Message));
        using var slow = new FakeHttpServer((200, "application/dicom+json", "{}", 3000));
        var r = StowRsClient.Send(files, new StowRsOptions { Url = slow.Url, Timeout = TimeSpan.FromSeconds(1) });
        Assert.All(r, x =>
        {
            Assert.Equal(StoreOutcome.Failure, x.Outcome);
            Assert.Contains("did not answer within 1 s", x.Message);
        });
        Assert.InRange(clock.Elapsed.TotalSeconds, 0, 6);
    }
}
