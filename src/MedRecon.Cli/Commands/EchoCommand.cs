using System.CommandLine;
using MedRecon.Dicom.Network;

namespace MedRecon.Cli.Commands;

/// <summary>`medrecon echo --host H --port P`: DICOM C-ECHO (verification) against a PACS.</summary>
public static class EchoCommand
{
    public static Command Create()
    {
        var host = new Option<string>("--host") { Description = "PACS host.", Required = true };
        var port = new Option<int>("--port") { Description = "PACS DIMSE port.", DefaultValueFactory = _ => 104 };
        var called = new Option<string>("--called-aet") { Description = "Called AE title (the PACS's).", DefaultValueFactory = _ => "ANY-SCP" };
        var calling = new Option<string>("--calling-aet") { Description = "Calling AE title (ours).", DefaultValueFactory = _ => "MEDRECON" };
        var connect = new Option<double>("--connect-timeout") { Description = "Seconds to wait for the TCP connection.", DefaultValueFactory = _ => 10 };
        var timeout = new Option<double>("--timeout") { Description = "Seconds to wait for each answer.", DefaultValueFactory = _ => 30 };
        var retries = new Option<int>("--retries") { Description = "Retries with backoff when the connection fails.", DefaultValueFactory = _ => 0 };
        var cmd = new Command("echo", "Check a DICOM peer with C-ECHO (association, verification, release); exit 0 on success.")
        {
            host, port, called, calling, connect, timeout, retries,
        };
        cmd.SetAction(p => CliSupport.Run(() =>
        {
            var o = new DicomClientOptions
            {
                Host = p.GetValue(host)!, Port = p.GetValue(port), CalledAE = p.GetValue(called)!, CallingAE = p.GetValue(calling)!,
                ConnectTimeout = TimeSpan.FromSeconds(p.GetValue(connect)), ReadTimeout = TimeSpan.FromSeconds(p.GetValue(timeout)),
                Retries = p.GetValue(retries),
            };
            if (o.Port is < 1 or > 65535) throw new CliException($"--port {o.Port}: must be between 1 and 65535");
            if (o.ConnectTimeout <= TimeSpan.Zero || o.ReadTimeout <= TimeSpan.Zero) throw new CliException("timeouts must be positive (seconds)");
            var clock = System.Diagnostics.Stopwatch.StartNew();
            try
            {
                var status = DicomStoreScu.Echo(o, s => Console.Error.WriteLine(s));
                Console.WriteLine($"C-ECHO {o.Host}:{o.Port} (called AE '{o.CalledAE}'): status {status} in {clock.Elapsed.TotalMilliseconds:F0} ms");
                return status.Category == StatusCategory.Success ? 0 : CliSupport.ExitFailure;
            }
            catch (DicomNetworkException e)
            {
                Console.Error.WriteLine($"error: C-ECHO failed: {e.Message}");
                return CliSupport.ExitFailure;
            }
        }));
        return cmd;
    }
}
