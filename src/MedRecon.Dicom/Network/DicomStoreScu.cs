using System.Diagnostics;

namespace MedRecon.Dicom.Network;

/// <summary>
/// C-ECHO and C-STORE as service class user. Many instances go over one association; presentation contexts are
/// proposed per SOP class found in the files, each with Explicit and Implicit VR Little Endian, plus a context with
/// the file's own syntax when that is another one (compressed files are then sent unchanged).
/// </summary>
public static class DicomStoreScu
{
    static readonly string[] Uncompressed = { DicomTransferSyntax.ExplicitVRLittleEndian.UID, DicomTransferSyntax.ImplicitVRLittleEndian.UID };

    /// <summary>C-ECHO. Returns the response status; network problems raise <see cref="DicomNetworkException"/>.</summary>
    public static DicomStatus Echo(DicomClientOptions options, Action<string>? log = null)
    {
        var contexts = new[] { new PresentationContext(1, DimseCommand.VerificationSopClass, Uncompressed) };
        using var assoc = DicomAssociation.Open(options, contexts, log);
        var ctx = assoc.Accept.Contexts.FirstOrDefault(c => c.Id == 1 && c.Accepted)
                  ?? throw new DicomNetworkException(NetworkFailure.Rejected,
                      $"{options.Host}:{options.Port}: Verification SOP class {PresentationContextAnswer.Describe(assoc.Accept.Contexts.FirstOrDefault()?.Result ?? PresentationContextResult.NoReason)}");
        var rsp = assoc.Echo(ctx.Id);
        assoc.Release();
        return rsp.Status;
    }

    /// <summary>The presentation contexts proposed for a set of instances.</summary>
    public static List<PresentationContext> ProposeContexts(IEnumerable<InstanceFile> files)
    {
        var list = new List<PresentationContext>();
        byte id = 1;
        foreach (var cls in files.Select(f => f.SopClassUid).Distinct())
        {
            Add(cls, Uncompressed);
            foreach (var ts in files.Where(f => f.SopClassUid == cls).Select(f => f.TransferSyntax.UID).Distinct())
                if (!Uncompressed.Contains(ts)) Add(cls, new[] { ts });
        }
        return list;

        void Add(string cls, string[] ts)
        {
            if (list.Count >= 128) throw new ArgumentException("more than 128 presentation contexts needed (too many SOP classes/transfer syntaxes in one send); send them in groups");
            list.Add(new PresentationContext(id, cls, ts));
            id += 2;
        }
    }

    /// <summary>
    /// Sends every file over one association and returns one result per file, in order. Unreadable files and instances
    /// without an accepted context fail on their own; a failure to associate (after the retries) or a lost association
    /// fails the instances not yet acknowledged. Never throws for network problems.
    /// </summary>
    public static IReadOnlyList<StoreResult> Send(IReadOnlyList<string> paths, DicomClientOptions options,
        IProgress<StoreProgress>? progress = null, Action<string>? log = null, CancellationToken cancel = default)
    {
        var clock = Stopwatch.StartNew();
        var results = new StoreResult?[paths.Count];
        var files = new InstanceFile?[paths.Count];
        for (int i = 0; i < paths.Count; i++)
        {
            try
            {
                files[i] = InstanceFile.Probe(paths[i]);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or DicomFileException)
            {
                results[i] = StoreResult.Failed(paths[i], null, "not sent: " + e.Message);
            }
        }
        var sendable = files.Where(f => f != null).Select(f => f!).ToList();
        int done = results.Count(r => r != null);
        long bytes = 0;
        void Report(int i, StoreResult r)
        {
            results[i] = r;
            done++;
            bytes += r.Bytes;
            progress?.Report(new StoreProgress(done, paths.Count, bytes, clock.Elapsed, r));
        }
        if (sendable.Count == 0) return results.Select(r => r!).ToList();

        List<PresentationContext> proposed;
        DicomAssociation assoc;
        try
        {
            proposed = ProposeContexts(sendable);
            assoc = DicomAssociation.Open(options, proposed, log);
        }
        catch (Exception e) when (e is DicomNetworkException or ArgumentException)
        {
            for (int i = 0; i < paths.Count; i++)
                if (results[i] == null) Report(i, StoreResult.Failed(paths[i], files[i]!.SopInstanceUid, "not sent: " + e.Message));
            return results.Select(r => r!).ToList();
        }

        string? lost = null;
        using (assoc)
        {
            for (int i = 0; i < paths.Count; i++)
            {
                if (results[i] != null) continue;
                var f = files[i]!;
                if (lost != null || cancel.IsCancellationRequested)
                {
                    Report(i, StoreResult.Failed(f.Path, f.SopInstanceUid, "not sent: " + (lost ?? "cancelled")));
                    continue;
                }
                var (ctx, why) = ChooseContext(assoc, proposed, f);
                if (ctx == null)
                {
                    Report(i, StoreResult.Failed(f.Path, f.SopInstanceUid, why!));
                    continue;
                }
                ReadOnlyMemory<byte> data;
                try
                {
                    data = f.ReadDataset(DicomTransferSyntax.Parse(ctx.TransferSyntax));
                }
                catch (Exception e) when (e is IOException or DicomFileException or InvalidOperationException or DicomDataException)
                {
                    Report(i, StoreResult.Failed(f.Path, f.SopInstanceUid, "not sent: " + e.Message));
                    continue;
                }
                try
                {
                    var rsp = assoc.Store(ctx.Id, f.SopClassUid, f.SopInstanceUid, data);
                    var st = rsp.Status;
                    var outcome = st.Category switch
                    {
                        StatusCategory.Success => StoreOutcome.Success,
                        StatusCategory.Warning => StoreOutcome.Warning,
                        _ => StoreOutcome.Failure,
                    };
                    string msg = $"C-STORE status {st}" + (string.IsNullOrEmpty(rsp.ErrorComment) ? "" : $": {rsp.ErrorComment}");
                    Report(i, new StoreResult(f.Path, f.SopInstanceUid, outcome, msg, st.Code, outcome == StoreOutcome.Failure ? 0 : data.Length));
                }
                catch (DicomNetworkException e)
                {
                    lost = "association lost earlier: " + e.Message;
                    // Unknown whether the peer kept it: no response means not acknowledged.
                    Report(i, StoreResult.Failed(f.Path, f.SopInstanceUid, "not acknowledged: " + e.Message));
                }
            }
            if (lost == null) assoc.Release();
        }
        return results.Select(r => r!).ToList();
    }

    static (PresentationContextAnswer? Context, string? Why) ChooseContext(DicomAssociation assoc, List<PresentationContext> proposed, InstanceFile f)
    {
        // the file's own syntax first (no re-encoding), then any uncompressed one when the file can be transcoded
        var own = assoc.FindContext(proposed, f.SopClassUid, f.TransferSyntax.UID);
        if (own != null) return (own, null);
        if (f.CanTranscodeToUncompressed)
            foreach (var ts in Uncompressed)
                if (assoc.FindContext(proposed, f.SopClassUid, ts) is { } c) return (c, null);
        var answers = proposed.Where(p => p.AbstractSyntax == f.SopClassUid)
            .Select(p => assoc.Accept.Contexts.FirstOrDefault(a => a.Id == p.Id)).ToList();
        string name = DicomUID.NameOf(f.SopClassUid);
        var rejected = answers.FirstOrDefault(a => a is { Accepted: false });
        if (rejected != null || answers.All(a => a == null))
            return (null, $"not sent: no accepted presentation context for {name} ({f.SopClassUid}): " +
                          PresentationContextAnswer.Describe(rejected?.Result ?? PresentationContextResult.NoReason));
        return (null, $"not sent: the peer accepted {name} only in a transfer syntax this {f.TransferSyntax.Name} file cannot be converted to");
    }
}
