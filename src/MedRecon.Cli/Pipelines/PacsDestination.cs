using System.CommandLine;
using System.Globalization;
using MedRecon.Dicom;
using MedRecon.Dicom.Network;

namespace MedRecon.Cli.Pipelines;

/// <summary>
/// A PACS destination for any command that writes DICOM: DIMSE C-STORE (<c>--host/--port</c>) or DICOMweb STOW-RS
/// (<c>--stow URL</c>). Use it in three steps:
/// <code>
/// PacsDestination.AddOptions(cmd);                         // when building the command
/// var pacs = PacsDestination.TryParse(parseResult);        // in the action, before the long work (null: no push)
/// var summary = pacs?.Push(writtenFiles, Console.Out);     // after the files are written; summary.Failed > 0 → exit 1
/// </code>
/// Secrets come only from files (<c>--password-file</c>, <c>--token-file</c>) or the environment
/// (<c>MEDRECON_PACS_PASSWORD</c>, <c>MEDRECON_PACS_TOKEN</c>) and are never printed. Logs name files and statuses;
/// SOP Instance UIDs are printed only with <c>--verbose-phi</c>, and no other data set value is ever logged.
/// </summary>
public sealed class PacsDestination
{
    public const string PasswordEnvironment = "MEDRECON_PACS_PASSWORD";
    public const string TokenEnvironment = "MEDRECON_PACS_TOKEN";

    PacsDestination(DicomClientOptions? dimse, StowRsOptions? stow, bool verbosePhi)
    {
        Dimse = dimse;
        Stow = stow;
        VerbosePhi = verbosePhi;
    }

    /// <summary>Set for a DIMSE destination.</summary>
    public DicomClientOptions? Dimse { get; }
    /// <summary>Set for a STOW-RS destination.</summary>
    public StowRsOptions? Stow { get; }
    public bool VerbosePhi { get; }

    /// <summary>Where the files go, for logs (no credentials).</summary>
    public string Description => Dimse is { } d
        ? $"C-STORE to {d.Host}:{d.Port} (called AE '{d.CalledAE}', calling AE '{d.CallingAE}')"
        : $"STOW-RS to {Stow!.StudiesUrl.GetLeftPart(UriPartial.Path)}";

    /// <summary>Adds the destination options (all optional) to a command.</summary>
    public static void AddOptions(Command command)
    {
        foreach (var o in CreateOptions()) command.Options.Add(o);
    }

    /// <summary>The destination options; <see cref="AddOptions"/> adds them all.</summary>
    public static IEnumerable<Option> CreateOptions() => new Option[]
    {
        new Option<string?>("--host") { Description = "PACS host for DIMSE C-STORE (with --port)." },
        new Option<int?>("--port") { Description = "PACS DIMSE port (default 104)." },
        new Option<string>("--called-aet") { Description = "Called AE title (the PACS's).", DefaultValueFactory = _ => "ANY-SCP" },
        new Option<string>("--calling-aet") { Description = "Calling AE title (ours).", DefaultValueFactory = _ => "MEDRECON" },
        new Option<string?>("--stow") { Description = "DICOMweb base or /studies URL for STOW-RS (http or https), instead of --host." },
        new Option<string?>("--user") { Description = "STOW-RS basic-auth user; the password comes from --password-file or $" + PasswordEnvironment + "." },
        new Option<string?>("--password-file") { Description = "File holding the basic-auth password (first line)." },
        new Option<string?>("--token-file") { Description = "File holding a bearer token for STOW-RS (first line); or $" + TokenEnvironment + "." },
        new Option<double>("--connect-timeout") { Description = "Seconds to wait for the TCP connection.", DefaultValueFactory = _ => 10 },
        new Option<double>("--timeout") { Description = "Seconds to wait for each answer (association, C-STORE response; a whole STOW-RS request).", DefaultValueFactory = _ => 60 },
        new Option<int>("--retries") { Description = "Retries with exponential backoff (1 s, 2 s, ...) when the connection fails before anything was sent.", DefaultValueFactory = _ => 2 },
        new Option<bool>("--verbose-phi") { Description = "Also log SOP Instance UIDs and every instance (off by default: logs hold no identifiers)." },
    };

    static T Get<T>(ParseResult r, string name)
    {
        var option = r.CommandResult.Command.Options.OfType<Option<T>>().FirstOrDefault(o => o.Name == name)
                     ?? throw new InvalidOperationException($"option {name} missing: call PacsDestination.AddOptions on the command");
        return r.GetValue(option)!;
    }

    /// <summary>The destination given on the command line, or null when neither --host nor --stow was given.
    /// Throws <see cref="CliException"/> for inconsistent options or unreadable secret files.</summary>
    public static PacsDestination? TryParse(ParseResult result)
    {
        string? host = Get<string?>(result, "--host"), stow = Get<string?>(result, "--stow");
        int? port = Get<int?>(result, "--port");
        string? user = Get<string?>(result, "--user"), passwordFile = Get<string?>(result, "--password-file"), tokenFile = Get<string?>(result, "--token-file");
        double connect = Get<double>(result, "--connect-timeout"), timeout = Get<double>(result, "--timeout");
        int retries = Get<int>(result, "--retries");
        bool phi = Get<bool>(result, "--verbose-phi");
        if (host is null && stow is null)
        {
            if (port is not null || user is not null || passwordFile is not null || tokenFile is not null)
                throw new CliException("--port/--user/--password-file/--token-file need a destination: --host H --port P or --stow URL");
            return null;
        }
        if (host is not null && stow is not null) throw new CliException("give either --host (DIMSE) or --stow (DICOMweb), not both");
        if (connect <= 0 || timeout <= 0) throw new CliException("--connect-timeout and --timeout must be positive (seconds)");
        if (retries < 0 || retries > 10) throw new CliException($"--retries {retries}: must be between 0 and 10");
        if (host is not null)
        {
            if (user is not null || passwordFile is not null || tokenFile is not null)
                throw new CliException("--user/--password-file/--token-file apply to --stow only (DIMSE has no passwords)");
            int p = port ?? 104;
            if (p is < 1 or > 65535) throw new CliException($"--port {p}: must be between 1 and 65535");
            string called = Get<string>(result, "--called-aet"), calling = Get<string>(result, "--calling-aet");
            CheckAe("--called-aet", called);
            CheckAe("--calling-aet", calling);
            return new PacsDestination(new DicomClientOptions
            {
                Host = host, Port = p, CalledAE = called, CallingAE = calling,
                ConnectTimeout = TimeSpan.FromSeconds(connect), ReadTimeout = TimeSpan.FromSeconds(timeout), Retries = retries,
            }, null, phi);
        }
        if (port is not null) throw new CliException("--port applies to --host; put the port in the --stow URL");
        if (!Uri.TryCreate(stow, UriKind.Absolute, out var url) || url.Scheme is not ("http" or "https"))
            throw new CliException($"--stow {stow}: must be an http:// or https:// URL");
        if (!string.IsNullOrEmpty(url.UserInfo)) throw new CliException("--stow: put no credentials in the URL; use --user with --password-file, or --token-file");
        string? token = tokenFile is not null ? ReadSecret(tokenFile, "--token-file") : Environment.GetEnvironmentVariable(TokenEnvironment);
        string? password = null;
        if (user is not null)
        {
            if (tokenFile is not null) throw new CliException("give either --user (basic) or --token-file (bearer), not both");
            password = passwordFile is not null ? ReadSecret(passwordFile, "--password-file") : Environment.GetEnvironmentVariable(PasswordEnvironment);
            if (password is null) throw new CliException($"--user needs --password-file FILE or ${PasswordEnvironment}");
            token = null;
        }
        else if (passwordFile is not null) throw new CliException("--password-file needs --user");
        if (url.Scheme == "http" && (password != null || token != null) && !url.IsLoopback)
            Console.Error.WriteLine($"warning: credentials sent over plain http to {url.Host}; use https");
        return new PacsDestination(null, new StowRsOptions
        {
            Url = url, User = user, Password = password, BearerToken = string.IsNullOrEmpty(token) ? null : token,
            ConnectTimeout = TimeSpan.FromSeconds(connect), Timeout = TimeSpan.FromSeconds(timeout), Retries = retries,
        }, phi);
    }

    static void CheckAe(string name, string ae)
    {
        if (ae.Length is 0 or > 16 || ae.Any(c => c < 0x20 || c > 0x7E || c == '\\'))
            throw new CliException($"{name} '{ae}': an AE title has 1 to 16 printable ASCII characters, no backslash");
    }

    /// <summary>The first line of a secret file (never echoed, not even in errors).</summary>
    static string ReadSecret(string path, string option)
    {
        if (!File.Exists(path)) throw new CliException($"{option} {path}: file not found");
        var line = File.ReadLines(path).FirstOrDefault()?.Trim();
        if (string.IsNullOrEmpty(line)) throw new CliException($"{option} {path}: file is empty");
        return line;
    }

    /// <summary>Files to send: files as given, folders searched recursively for DICOM files (DICM prefix or .dcm),
    /// in a stable order. Missing paths raise <see cref="CliException"/>.</summary>
    public static List<string> CollectFiles(IEnumerable<string> paths, out int skipped)
    {
        var list = new List<string>();
        skipped = 0;
        foreach (var p in paths)
        {
            if (File.Exists(p)) list.Add(p);
            else if (Directory.Exists(p))
            {
                foreach (var f in Directory.EnumerateFiles(p, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
                {
                    if (Path.GetFileName(f).StartsWith('.')) continue;
                    bool dicom;
                    try { dicom = f.EndsWith(".dcm", StringComparison.OrdinalIgnoreCase) || DicomFile.HasDicmPrefix(f); }
                    catch (IOException) { dicom = false; }
                    if (dicom) list.Add(f);
                    else skipped++;
                }
            }
            else throw new CliException($"{p}: no such file or folder");
        }
        return list;
    }

    /// <summary>Sends the files, logging progress (stderr), warnings and failures per instance and a summary line
    /// to <paramref name="log"/>. Never throws for network or server failures: they are in the summary.</summary>
    public StoreSummary Push(IReadOnlyList<string> files, TextWriter log)
    {
        log.WriteLine($"{Description}: {files.Count} instance(s)");
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var progress = new TransferProgress(files.Count, r => LogResult(r, log), Console.IsErrorRedirected);
        Action<string> note = s => log.WriteLine("  " + s);
        var results = Dimse is not null
            ? DicomStoreScu.Send(files, Dimse, progress, note)
            : StowRsClient.Send(files, Stow!, progress, note);
        var summary = StoreSummary.Of(results, clock.Elapsed);
        log.WriteLine(SummaryLine(summary));
        return summary;
    }

    void LogResult(StoreResult r, TextWriter log)
    {
        string uid = VerbosePhi && r.SopInstanceUid != null ? $" [{r.SopInstanceUid}]" : "";
        switch (r.Outcome)
        {
            case StoreOutcome.Failure: log.WriteLine($"  failed: {r.Path}{uid}: {r.Message}"); break;
            case StoreOutcome.Warning: log.WriteLine($"  warning: {r.Path}{uid}: {r.Message}"); break;
            default:
                if (VerbosePhi) log.WriteLine($"  stored: {r.Path}{uid}: {r.Message}");
                break;
        }
    }

    public static string SummaryLine(StoreSummary s)
    {
        double sec = Math.Max(s.Elapsed.TotalSeconds, 1e-9);
        return string.Format(CultureInfo.InvariantCulture,
            "sent {0}, warnings {1}, failed {2} ({3:F1} MB in {4:F2} s, {5:F1} MB/s, {6:F1} instances/s)",
            s.Sent, s.Warnings, s.Failed, s.Bytes / 1e6, sec, s.Bytes / 1e6 / sec, (s.Sent + s.Warnings) / sec);
    }

    /// <summary>Progress on stderr: an updating line on a terminal, a line per 25 % when redirected.</summary>
    sealed class TransferProgress : IProgress<StoreProgress>
    {
        readonly int total;
        readonly Action<StoreResult> onResult;
        readonly bool redirected;
        int lastQuarter;

        public TransferProgress(int total, Action<StoreResult> onResult, bool redirected)
        {
            this.total = total;
            this.onResult = onResult;
            this.redirected = redirected;
        }

        public void Report(StoreProgress p)
        {
            onResult(p.Last);
            if (ConsoleProgress.Quiet || total < 10) return;
            double sec = Math.Max(p.Elapsed.TotalSeconds, 1e-9);
            string line = string.Format(CultureInfo.InvariantCulture, "send: {0}/{1} ({2:P0}), {3:F1} MB, {4:F1} MB/s",
                p.Done, p.Total, (double)p.Done / p.Total, p.Bytes / 1e6, p.Bytes / 1e6 / sec);
            if (!redirected)
            {
                Console.Error.Write("\r" + line.PadRight(70));
                if (p.Done == p.Total) Console.Error.WriteLine();
            }
            else
            {
                int q = p.Done * 4 / p.Total;
                if (q != lastQuarter || p.Done == p.Total)
                {
                    lastQuarter = q;
                    Console.Error.WriteLine(line);
                }
            }
        }
    }
}
