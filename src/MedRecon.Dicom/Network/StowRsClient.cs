using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Xml.Linq;

namespace MedRecon.Dicom.Network;

/// <summary>Target and credentials of a STOW-RS request. Secrets are held here only; they are never formatted into
/// messages or <see cref="ToString"/>.</summary>
public sealed class StowRsOptions
{
    /// <summary>The DICOMweb base (e.g. http://host:8042/dicom-web) or its /studies[/{StudyInstanceUID}] URL.</summary>
    public required Uri Url { get; init; }
    public string? User { get; init; }
    public string? Password { get; init; }
    public string? BearerToken { get; init; }
    /// <summary>Time limit of one HTTP request (connect, upload and answer).</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(120);
    /// <summary>Time limit for the TCP connect alone.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(10);
    /// <summary>Instances per request (one multipart body), also bounded by <see cref="MaxBatchBytes"/>.</summary>
    public int BatchSize { get; init; } = 20;
    public long MaxBatchBytes { get; init; } = 64L << 20;
    /// <summary>Retries after a connection failure or HTTP 503 (0 = one attempt).</summary>
    public int Retries { get; init; } = 2;
    public TimeSpan RetryDelay { get; init; } = TimeSpan.FromSeconds(1);
    /// <summary>For tests: a custom handler (e.g. one that trusts a test certificate).</summary>
    public HttpMessageHandler? Handler { get; init; }

    public override string ToString() => $"STOW-RS {StudiesUrl}";

    /// <summary>The URL posted to: the given one when it already ends in /studies or /studies/{uid}, else base + /studies.</summary>
    public Uri StudiesUrl
    {
        get
        {
            var path = Url.AbsolutePath.TrimEnd('/');
            var segs = path.Split('/');
            bool isStudies = segs.Length >= 1 && segs[^1] == "studies" || segs.Length >= 2 && segs[^2] == "studies";
            if (isStudies) return Url;
            var b = new UriBuilder(Url) { Path = path + "/studies" };
            return b.Uri;
        }
    }
}

/// <summary>
/// DICOMweb STOW-RS client: POSTs the files as multipart/related; type="application/dicom" and maps the response
/// (ReferencedSOPSequence, FailedSOPSequence with FailureReason, in DICOM JSON or XML) to one result per instance.
/// </summary>
public static class StowRsClient
{
    public static IReadOnlyList<StoreResult> Send(IReadOnlyList<string> paths, StowRsOptions options,
        IProgress<StoreProgress>? progress = null, Action<string>? log = null, CancellationToken cancel = default)
    {
        var clock = Stopwatch.StartNew();
        var results = new StoreResult?[paths.Count];
        var files = new InstanceFile?[paths.Count];
        int done = 0;
        long bytes = 0;
        void Report(int i, StoreResult r)
        {
            results[i] = r;
            done++;
            bytes += r.Bytes;
            progress?.Report(new StoreProgress(done, paths.Count, bytes, clock.Elapsed, r));
        }
        for (int i = 0; i < paths.Count; i++)
        {
            try { files[i] = InstanceFile.Probe(paths[i]); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or DicomFileException)
            {
                Report(i, StoreResult.Failed(paths[i], null, "not sent: " + e.Message));
            }
        }

        using var client = CreateClient(options);
        var batch = new List<(int Index, byte[] Data)>();
        long batchBytes = 0;
        for (int i = 0; i <= paths.Count; i++)
        {
            if (i < paths.Count && files[i] is { } f)
            {
                byte[] data;
                try { data = f.ReadPart10(); }
                catch (Exception e) when (e is IOException or DicomFileException or DicomDataException)
                {
                    Report(i, StoreResult.Failed(f.Path, f.SopInstanceUid, "not sent: " + e.Message));
                    continue;
                }
                if (batch.Count > 0 && batchBytes + data.Length > options.MaxBatchBytes) Flush();
                batch.Add((i, data));
                batchBytes += data.Length;
                if (batch.Count >= options.BatchSize) Flush();
            }
            else if (i == paths.Count && batch.Count > 0) Flush();
        }
        return results.Select(r => r!).ToList();

        void Flush()
        {
            var items = batch.Select(b => (files[b.Index]!, b.Data)).ToList();
            var outcome = cancel.IsCancellationRequested
                ? items.Select(x => StoreResult.Failed(x.Item1.Path, x.Item1.SopInstanceUid, "not sent: cancelled")).ToList()
                : PostBatch(client, options, items, log, cancel);
            for (int k = 0; k < batch.Count; k++) Report(batch[k].Index, outcome[k]);
            batch.Clear();
            batchBytes = 0;
        }
    }

    static HttpClient CreateClient(StowRsOptions o)
    {
        var handler = o.Handler ?? new SocketsHttpHandler { ConnectTimeout = o.ConnectTimeout, AllowAutoRedirect = false };
        var client = new HttpClient(handler, disposeHandler: o.Handler == null) { Timeout = o.Timeout };
        if (o.BearerToken is { Length: > 0 } token)
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        else if (o.User is { Length: > 0 } user)
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic",
                Convert.ToBase64String(Encoding.UTF8.GetBytes(user + ":" + (o.Password ?? ""))));
        client.DefaultRequestHeaders.Accept.Add(new MediaTypeWithQualityHeaderValue("application/dicom+json"));
        client.DefaultRequestHeaders.Accept.Add(new MediaTypeWithQualityHeaderValue("application/dicom+xml", 0.5));
        return client;
    }

    /// <summary>The multipart/related body of a STOW-RS request.</summary>
    public static MultipartContent BuildContent(IEnumerable<byte[]> part10Files)
    {
        var content = new MultipartContent("related", "medrecon-" + Guid.NewGuid().ToString("N"));
        content.Headers.ContentType!.Parameters.Add(new NameValueHeaderValue("type", "\"application/dicom\""));
        foreach (var data in part10Files)
        {
            var part = new ByteArrayContent(data);
            part.Headers.ContentType = new MediaTypeHeaderValue("application/dicom");
            content.Add(part);
        }
        return content;
    }

    static List<StoreResult> PostBatch(HttpClient client, StowRsOptions o, List<(InstanceFile File, byte[] Data)> items,
        Action<string>? log, CancellationToken cancel)
    {
        var url = o.StudiesUrl;
        var delay = o.RetryDelay;
        for (int attempt = 0; ; attempt++)
        {
            HttpResponseMessage rsp;
            string body;
            try
            {
                using var content = BuildContent(items.Select(x => x.Data));
                rsp = client.PostAsync(url, content, cancel).GetAwaiter().GetResult();
                body = rsp.Content.ReadAsStringAsync(cancel).GetAwaiter().GetResult();
            }
            catch (HttpRequestException e) when (attempt < o.Retries && IsConnectFailure(e))
            {
                log?.Invoke($"{Host(url)}: {Describe(e)}; retry {attempt + 1}/{o.Retries} in {delay.TotalSeconds:0.##} s");
                Thread.Sleep(delay);
                delay *= 2;
                continue;
            }
            catch (HttpRequestException e)
            {
                return All(items, $"not sent: {Host(url)}: {Describe(e)}");
            }
            catch (TaskCanceledException) when (!cancel.IsCancellationRequested)
            {
                return All(items, $"not acknowledged: {Host(url)} did not answer within {o.Timeout.TotalSeconds:0.#} s");
            }
            using (rsp)
            {
                int code = (int)rsp.StatusCode;
                if (code == 503 && attempt < o.Retries)
                {
                    log?.Invoke($"{Host(url)}: HTTP 503; retry {attempt + 1}/{o.Retries} in {delay.TotalSeconds:0.##} s");
                    Thread.Sleep(delay);
                    delay *= 2;
                    continue;
                }
                return Interpret(code, rsp.ReasonPhrase, rsp.Content.Headers.ContentType?.MediaType, body, items.Select(x => (x.File.Path, x.File.SopInstanceUid, (long)x.Data.Length)).ToList());
            }
        }
    }

    static string Host(Uri u) => u.GetLeftPart(UriPartial.Authority);

    static bool IsConnectFailure(HttpRequestException e) =>
        e.InnerException is SocketException { SocketErrorCode: SocketError.ConnectionRefused or SocketError.ConnectionReset or SocketError.HostUnreachable or SocketError.NetworkUnreachable or SocketError.TryAgain }
        || e.HttpRequestError == HttpRequestError.ConnectionError;

    static string Describe(HttpRequestException e) =>
        e.InnerException is SocketException { SocketErrorCode: SocketError.ConnectionRefused } ? "connection refused (is the server running?)"
        : e.InnerException is System.Security.Authentication.AuthenticationException a ? $"TLS (SSL) connection failed: {a.Message}"
        : e.InnerException is SocketException se ? se.Message
        : e.Message;

    static List<StoreResult> All(List<(InstanceFile File, byte[] Data)> items, string message) =>
        items.Select(x => StoreResult.Failed(x.File.Path, x.File.SopInstanceUid, message)).ToList();

    /// <summary>What an HTTP status means for a STOW-RS request (PS3.18 10.5.3).</summary>
    public static string DescribeHttp(int code, string? reason) => code switch
    {
        200 => "stored",
        202 => "accepted with warnings or partial failure",
        400 => "bad request: the server could not parse the request",
        401 => "unauthorized: the server requires valid credentials (--user with --password-file, or --token-file)",
        403 => "forbidden: the credentials do not allow storing",
        404 => "not found: check the STOW-RS URL",
        409 => "conflict: the server refused to store the instance(s)",
        413 => "payload too large: send smaller batches",
        415 => "unsupported media type: the server does not accept application/dicom",
        500 => "internal server error",
        503 => "service unavailable",
        _ => reason ?? "",
    } is var text && text.Length > 0 ? $"HTTP {code} {text}" : $"HTTP {code}";

    /// <summary>One result per item from an HTTP status and response body.</summary>
    public static List<StoreResult> Interpret(int code, string? reason, string? mediaType, string body,
        IReadOnlyList<(string Path, string SopInstanceUid, long Bytes)> items)
    {
        var parsed = ParseResponse(mediaType, body);
        string http = DescribeHttp(code, reason);
        bool ok = code is >= 200 and < 300;
        var list = new List<StoreResult>();
        foreach (var (path, uid, len) in items)
        {
            if (parsed != null && parsed.Failed.TryGetValue(uid, out var reasonCode))
            {
                string meaning = reasonCode is { } rc ? $"FailureReason {FailureReason(rc)}" : "listed as failed";
                list.Add(new StoreResult(path, uid, StoreOutcome.Failure, $"{http}; {meaning}", reasonCode));
            }
            else if (parsed != null && parsed.Referenced.TryGetValue(uid, out var warning))
            {
                if (!ok)
                    list.Add(new StoreResult(path, uid, StoreOutcome.Warning, $"{http}, but the instance is listed as stored", null, len));
                else if (warning is { } w)
                    list.Add(new StoreResult(path, uid, StoreOutcome.Warning, $"{http}; WarningReason {new DicomStatus(w)}", w, len));
                else
                    list.Add(new StoreResult(path, uid, StoreOutcome.Success, http, null, len));
            }
            else if (ok && code == 200 && (parsed == null || parsed.Referenced.Count == 0 && parsed.Failed.Count == 0))
                list.Add(new StoreResult(path, uid, StoreOutcome.Warning, $"{http}, but the response does not list the instance", null, len));
            else
                list.Add(StoreResult.Failed(path, uid, ok ? $"{http}, but the instance is not listed as stored" : http));
        }
        return list;
    }

    static string FailureReason(ushort code) => code switch
    {
        0xC122 => "0xC122 (referenced transfer syntax not supported)",
        0xA770 => "0xA770 (out of resources)",
        0xC000 => "0xC000 (cannot understand)",
        0x0122 => "0x0122 (SOP class not supported)",
        0x0110 => "0x0110 (processing failure)",
        0xA900 => "0xA900 (data set does not match SOP class)",
        _ => new DicomStatus(code).ToString(),
    };

    /// <summary>SOP instances in the ReferencedSOPSequence (with WarningReason, if any) and FailedSOPSequence (with FailureReason).</summary>
    public sealed record StowResponse(Dictionary<string, ushort?> Referenced, Dictionary<string, ushort?> Failed);

    public static StowResponse? ParseResponse(string? mediaType, string body)
    {
        if (string.IsNullOrWhiteSpace(body)) return null;
        string t = body.TrimStart();
        try
        {
            if (t.StartsWith('{') || t.StartsWith('[')) return ParseJson(t);
            if (t.StartsWith('<')) return ParseXml(t);
        }
        catch (Exception e) when (e is JsonException or System.Xml.XmlException or InvalidOperationException or FormatException)
        {
            return null;
        }
        return null;
    }

    const string Referenced = "00081199", Failed = "00081198", SopInstance = "00081155", FailureReasonTag = "00081197", WarningReason = "00081196";

    static StowResponse ParseJson(string body)
    {
        using var doc = JsonDocument.Parse(body);
        var root = doc.RootElement.ValueKind == JsonValueKind.Array && doc.RootElement.GetArrayLength() > 0 ? doc.RootElement[0] : doc.RootElement;
        var r = new StowResponse(new(), new());
        Collect(root, Referenced, r.Referenced, WarningReason);
        Collect(root, Failed, r.Failed, FailureReasonTag);
        return r;

        static void Collect(JsonElement root, string seq, Dictionary<string, ushort?> into, string reasonTag)
        {
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty(seq, out var s) || !s.TryGetProperty("Value", out var items)) return;
            foreach (var item in items.EnumerateArray())
            {
                string? uid = First(item, SopInstance)?.GetString();
                if (uid == null) continue;
                ushort? reason = First(item, reasonTag) is { ValueKind: JsonValueKind.Number } n ? (ushort)n.GetInt32() : null;
                into[uid] = reason;
            }
        }

        static JsonElement? First(JsonElement item, string tag) =>
            item.TryGetProperty(tag, out var a) && a.TryGetProperty("Value", out var v) && v.ValueKind == JsonValueKind.Array && v.GetArrayLength() > 0 ? v[0] : null;
    }

    static StowResponse ParseXml(string body)
    {
        var doc = XDocument.Parse(body);
        var r = new StowResponse(new(), new());
        foreach (var seq in doc.Descendants().Where(e => e.Name.LocalName == "DicomAttribute"))
        {
            string? tag = (string?)seq.Attribute("tag");
            var into = tag == Referenced ? r.Referenced : tag == Failed ? r.Failed : null;
            if (into == null) continue;
            string reasonTag = tag == Referenced ? WarningReason : FailureReasonTag;
            foreach (var item in seq.Elements().Where(e => e.Name.LocalName == "Item"))
            {
                string? Value(string t) => item.Elements().FirstOrDefault(e => e.Name.LocalName == "DicomAttribute" && (string?)e.Attribute("tag") == t)
                    ?.Elements().FirstOrDefault(e => e.Name.LocalName == "Value")?.Value.Trim();
                var uid = Value(SopInstance);
                if (uid == null) continue;
                into[uid] = ushort.TryParse(Value(reasonTag), out var rc) ? rc : null;
            }
        }
        return r;
    }
}
