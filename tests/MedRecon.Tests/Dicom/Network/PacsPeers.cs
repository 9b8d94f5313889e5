using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using MedRecon.Dicom;
using MedRecon.Dicom.Network;
using MedRecon.Tests.Infrastructure;

namespace MedRecon.Tests.Dicom.Network;

/// <summary>Free ports, waiting for listeners and test series for the PACS tests (all on 127.0.0.1).</summary>
public static class PacsTestUtil
{
    public static int FreePort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        int port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }

    public static void WaitForPort(int port, Process? process, string what, int timeoutMs = 15000)
    {
        var clock = Stopwatch.StartNew();
        while (clock.ElapsedMilliseconds < timeoutMs)
        {
            if (process is { HasExited: true }) throw new InvalidOperationException($"{what} exited with code {process.ExitCode} before listening");
            try
            {
                using var c = new TcpClient();
                c.Connect(IPAddress.Loopback, port);
                return;
            }
            catch (SocketException) { Thread.Sleep(50); }
        }
        throw new TimeoutException($"{what} did not listen on 127.0.0.1:{port} within {timeoutMs} ms");
    }

    /// <summary>A "reconstructed" series: a phantom source and a derived series of it (new UIDs, DERIVED), the kind
    /// MedRecon pushes. Returns the derived files.</summary>
    public static IReadOnlyList<string> WriteDerivedSeries(string folder, string modality = "CT", int slices = 4, int size = 48)
    {
        var vol = new float[size * size * slices];
        for (int i = 0; i < vol.Length; i++) vol[i] = (float)(100 + 900 * Math.Sin(i * 0.0173) * Math.Cos(i * 0.00091));
        DicomSeriesWriter.WritePhantom(vol, size, size, slices, new PhantomSeriesOptions { Modality = modality, PhantomName = "pacs-test" }, Path.Combine(folder, "source"));
        var src = DicomSeriesLoader.Load(Path.Combine(folder, "source")).Series[0];
        return DicomSeriesWriter.WriteDerived(src, vol.Select(v => v * 0.9f + 5).ToArray(), size, size, slices,
            new DerivedSeriesOptions { DerivationDescription = "MedRecon pacs test: scaled" }, Path.Combine(folder, "derived"));
    }

    /// <summary>SOP Instance UID → (SOP class, series UID, pixel data bytes) of each file.</summary>
    public static Dictionary<string, (string SopClass, string Series, byte[] Pixels)> Fingerprints(IEnumerable<string> files) =>
        files.Select(f => DicomFile.Open(f).Dataset).ToDictionary(
            d => d.GetString(DicomTag.SOPInstanceUID),
            d => (d.GetString(DicomTag.SOPClassUID), d.GetString(DicomTag.SeriesInstanceUID), PixelBytes(d)));

    public static byte[] PixelBytes(DicomDataset d) =>
        d.GetItem(DicomTag.PixelData) is DicomElement e ? e.Buffer.ToArray() : throw new InvalidOperationException("no native pixel data");

    public static void AssertSameInstances(IEnumerable<string> sent, IEnumerable<string> received)
    {
        var a = Fingerprints(sent);
        var b = Fingerprints(received);
        Assert.Equal(a.Keys.Order(), b.Keys.Order());
        foreach (var (uid, (cls, series, px)) in a)
        {
            Assert.Equal(cls, b[uid].SopClass);
            Assert.Equal(series, b[uid].Series);
            Assert.True(px.AsSpan().SequenceEqual(b[uid].Pixels), $"pixel data of {uid} differs after the transfer");
        }
    }
}

/// <summary>dcmtk storescp on a free port, writing into a temp folder; killed on dispose.</summary>
public sealed class StorescpPeer : IDisposable
{
    readonly Process _process;
    public int Port { get; }
    public string AeTitle { get; }
    public string OutputFolder { get; }
    readonly StringBuilder _log = new();

    public StorescpPeer(string folder, string aeTitle = "STORESCP", params string[] extraArgs)
    {
        string exe = ExternalTools.RequireTool("storescp", "dcmtk");
        Port = PacsTestUtil.FreePort();
        AeTitle = aeTitle;
        OutputFolder = Path.Combine(folder, "storescp-out");
        Directory.CreateDirectory(OutputFolder);
        var psi = new ProcessStartInfo(exe) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "-v", "-aet", aeTitle, "-od", OutputFolder }.Concat(extraArgs).Append(Port.ToString())) psi.ArgumentList.Add(a);
        _process = Process.Start(psi)!;
        _process.OutputDataReceived += (_, e) => { lock (_log) _log.AppendLine(e.Data); };
        _process.ErrorDataReceived += (_, e) => { lock (_log) _log.AppendLine(e.Data); };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        PacsTestUtil.WaitForPort(Port, _process, "storescp");
    }

    public DicomClientOptions Client(string? calledAe = null) => new()
    {
        Host = "127.0.0.1", Port = Port, CalledAE = calledAe ?? AeTitle, ConnectTimeout = TimeSpan.FromSeconds(5),
        ReadTimeout = TimeSpan.FromSeconds(10), Retries = 0,
    };

    public string[] ReceivedFiles() => Directory.GetFiles(OutputFolder);
    public string Log { get { lock (_log) return _log.ToString(); } }

    public void Dispose()
    {
        try { _process.Kill(entireProcessTree: true); _process.WaitForExit(5000); } catch (InvalidOperationException) { }
        _process.Dispose();
    }
}

/// <summary>Orthanc with the DICOMweb plugin on free ports, authentication on, storage in a temp folder.</summary>
public sealed class OrthancPeer : IDisposable
{
    public const string User = "medrecon-test", Password = "pacs-test-password-0";
    public const string Plugin = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so";
    readonly Process _process;
    public int DicomPort { get; }
    public int HttpPort { get; }
    public string AeTitle => "ORTHANCTEST";
    public HttpClient Rest { get; }
    public Uri DicomWeb => new($"http://127.0.0.1:{HttpPort}/dicom-web/");

    public OrthancPeer(string folder)
    {
        string exe = ExternalTools.RequireTool("Orthanc", "orthanc");
        Skip.IfNot(File.Exists(Plugin), $"{Plugin} missing (apt-get install orthanc-dicomweb)");
        DicomPort = PacsTestUtil.FreePort();
        HttpPort = PacsTestUtil.FreePort();
        var db = Path.Combine(folder, "orthanc-db");
        Directory.CreateDirectory(db);
        var config = Path.Combine(folder, "orthanc.json");
        File.WriteAllText(config, System.Text.Json.JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["Name"] = "medrecon-test",
            ["StorageDirectory"] = db,
            ["IndexDirectory"] = db,
            ["DicomAet"] = AeTitle,
            ["DicomPort"] = DicomPort,
            ["HttpPort"] = HttpPort,
            ["RemoteAccessAllowed"] = false, // HTTP from loopback only; DICOM listens on all interfaces, hence the AE check
            ["AuthenticationEnabled"] = true,
            ["RegisteredUsers"] = new Dictionary<string, string> { [User] = Password },
            ["DicomCheckCalledAet"] = true,
            ["Plugins"] = new[] { Plugin },
            ["DicomWeb"] = new Dictionary<string, object> { ["Enable"] = true, ["Root"] = "/dicom-web/" },
            ["StableAge"] = 1,
        }));
        var psi = new ProcessStartInfo(exe) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(config);
        _process = Process.Start(psi)!;
        _process.OutputDataReceived += (_, _) => { };
        _process.ErrorDataReceived += (_, _) => { };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        PacsTestUtil.WaitForPort(HttpPort, _process, "Orthanc (HTTP)");
        PacsTestUtil.WaitForPort(DicomPort, _process, "Orthanc (DICOM)");
        Rest = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{HttpPort}/"), Timeout = TimeSpan.FromSeconds(30) };
        Rest.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes(User + ":" + Password)));
    }

    public DicomClientOptions Client(string? calledAe = null) => new()
    {
        Host = "127.0.0.1", Port = DicomPort, CalledAE = calledAe ?? AeTitle, ConnectTimeout = TimeSpan.FromSeconds(5),
        ReadTimeout = TimeSpan.FromSeconds(20), Retries = 0,
    };

    /// <summary>Downloads every stored instance through the authenticated REST API into a folder.</summary>
    public List<string> DownloadAll(string folder)
    {
        Directory.CreateDirectory(folder);
        var ids = System.Text.Json.JsonSerializer.Deserialize<string[]>(Rest.GetStringAsync("instances").GetAwaiter().GetResult())!;
        var files = new List<string>();
        foreach (var id in ids)
        {
            var path = Path.Combine(folder, id + ".dcm");
            File.WriteAllBytes(path, Rest.GetByteArrayAsync($"instances/{id}/file").GetAwaiter().GetResult());
            files.Add(path);
        }
        return files;
    }

    public void Dispose()
    {
        Rest?.Dispose();
        try { _process.Kill(entireProcessTree: true); _process.WaitForExit(5000); } catch (InvalidOperationException) { }
        _process.Dispose();
    }
}
