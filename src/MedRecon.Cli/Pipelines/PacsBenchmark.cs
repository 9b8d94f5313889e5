using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using MedRecon.Dicom.Network;

namespace MedRecon.Cli.Pipelines;

/// <summary>
/// C-STORE throughput: one series sent over one association to a dcmtk storescp on 127.0.0.1, by MedRecon (in
/// process) and by dcmtk storescu (a process per run, start-up included), alternating, best and median of the runs.
/// </summary>
public static class PacsBenchmark
{
    public static string Run(string folder, TextWriter log, int repeats = 5, bool store = false)
    {
        string? storescp = Which("storescp"), storescu = Which("storescu");
        if (storescp is null || storescu is null)
        {
            log.WriteLine("pacs: dcmtk storescp/storescu not installed (apt-get install dcmtk); skipped");
            return "## PACS: skipped (dcmtk not installed)\n";
        }
        var files = PacsDestination.CollectFiles(new[] { folder }, out _);
        if (files.Count == 0) throw new CliException($"{folder}: no DICOM files");
        long totalBytes = files.Sum(f => new FileInfo(f).Length);
        int port = FreePort();
        string outDir = Path.Combine(Path.GetTempPath(), "medrecon-pacs-bench-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(outDir);
        var psi = new ProcessStartInfo(storescp) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "-aet", "BENCHSCP", "-od", outDir }) psi.ArgumentList.Add(a);
        if (!store) psi.ArgumentList.Add("--ignore"); // receive, do not write: time the network path, not the disk
        psi.ArgumentList.Add(port.ToString(CultureInfo.InvariantCulture));
        using var scp = Process.Start(psi)!;
        scp.OutputDataReceived += (_, _) => { };
        scp.ErrorDataReceived += (_, _) => { };
        scp.BeginOutputReadLine();
        scp.BeginErrorReadLine();
        try
        {
            WaitForPort(port);
            var options = new DicomClientOptions { Host = "127.0.0.1", Port = port, CalledAE = "BENCHSCP", Retries = 0 };
            var warm = DicomStoreScu.Send(files.Take(5).ToList(), options); // JIT warm-up
            if (warm.Any(r => r.Outcome == StoreOutcome.Failure)) throw new CliException("pacs: warm-up send failed: " + warm.First(r => r.Outcome == StoreOutcome.Failure).Message);
            var ours = new List<double>();
            var theirs = new List<double>();
            for (int i = 0; i < repeats; i++)
            {
                var clock = Stopwatch.StartNew();
                var results = DicomStoreScu.Send(files, options);
                ours.Add(clock.Elapsed.TotalSeconds);
                int failed = results.Count(r => r.Outcome != StoreOutcome.Success);
                if (failed > 0) throw new CliException($"pacs: MedRecon send had {failed} failure(s): {results.First(r => r.Outcome != StoreOutcome.Success).Message}");

                clock.Restart();
                var (code, err) = RunStorescu(storescu, port, folder);
                theirs.Add(clock.Elapsed.TotalSeconds);
                if (code != 0) throw new CliException($"pacs: storescu failed ({code}): {err.Trim()}");
                log.WriteLine(Inv($"pacs run {i + 1}/{repeats}: MedRecon {ours[^1]:F3} s, storescu {theirs[^1]:F3} s"));
            }
            var sb = new StringBuilder();
            sb.AppendLine(Inv($"## PACS: C-STORE of {Path.GetFileName(folder.TrimEnd('/'))} ({files.Count} instances, {totalBytes / 1e6:F1} MB) to storescp on 127.0.0.1"));
            sb.AppendLine();
            string how = store ? "writing to a temp folder" : "with --ignore (received, not written)";
            sb.AppendLine(Inv($"Machine: {Environment.ProcessorCount} cores, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}. One association per run, storescp {how}, {repeats} alternating runs; storescu times include its process start."));
            sb.AppendLine();
            sb.AppendLine("| sender | best s | median s | MB/s (best) | instances/s (best) | MB/s (median) |");
            sb.AppendLine("| --- | ---: | ---: | ---: | ---: | ---: |");
            foreach (var (name, t) in new[] { ("MedRecon send", ours), ("dcmtk storescu +sd +r", theirs) })
            {
                double best = t.Min(), med = t.Order().ElementAt(t.Count / 2);
                sb.AppendLine(Inv($"| {name} | {best:F3} | {med:F3} | {totalBytes / 1e6 / best:F1} | {files.Count / best:F0} | {totalBytes / 1e6 / med:F1} |"));
            }
            log.Write(sb.ToString());
            return sb.ToString();
        }
        finally
        {
            try { scp.Kill(entireProcessTree: true); scp.WaitForExit(5000); } catch (InvalidOperationException) { }
            try { Directory.Delete(outDir, true); } catch (IOException) { }
        }
    }

    static (int Code, string Err) RunStorescu(string exe, int port, string folder)
    {
        var psi = new ProcessStartInfo(exe) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "+sd", "+r", "-aec", "BENCHSCP", "-aet", "STORESCU", "127.0.0.1", port.ToString(CultureInfo.InvariantCulture), folder })
            psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        p.StandardOutput.ReadToEnd();
        if (!p.WaitForExit(300_000)) { p.Kill(true); return (-1, "timeout"); }
        return (p.ExitCode, err.Result);
    }

    static string? Which(string tool) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin").Split(':').Select(d => Path.Combine(d, tool)).FirstOrDefault(File.Exists);

    static int FreePort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        int port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }

    static void WaitForPort(int port)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed.TotalSeconds < 10)
        {
            try
            {
                using var c = new TcpClient();
                c.Connect(IPAddress.Loopback, port);
                return;
            }
            catch (SocketException) { Thread.Sleep(50); }
        }
        throw new CliException($"pacs: storescp did not listen on 127.0.0.1:{port}");
    }

    static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
