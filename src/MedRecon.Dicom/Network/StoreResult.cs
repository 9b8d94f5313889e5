namespace MedRecon.Dicom.Network;

public enum StoreOutcome
{
    Success,
    Warning,
    Failure,
}

/// <summary>What happened to one instance. <see cref="Message"/> explains a warning or failure in words; it holds no
/// patient data (the SOP Instance UID is a separate field, for callers that may log it).</summary>
public sealed record StoreResult(string Path, string? SopInstanceUid, StoreOutcome Outcome, string Message, ushort? Status = null, long Bytes = 0)
{
    public static StoreResult Failed(string path, string? uid, string message, ushort? status = null) => new(path, uid, StoreOutcome.Failure, message, status);
}

/// <summary>Progress of a transfer: instances done of total, and bytes sent so far.</summary>
public readonly record struct StoreProgress(int Done, int Total, long Bytes, TimeSpan Elapsed, StoreResult Last);

/// <summary>Counts over a list of results.</summary>
public sealed record StoreSummary(int Sent, int Warnings, int Failed, long Bytes, TimeSpan Elapsed, IReadOnlyList<StoreResult> Results)
{
    public static StoreSummary Of(IReadOnlyList<StoreResult> results, TimeSpan elapsed) => new(
        results.Count(r => r.Outcome == StoreOutcome.Success),
        results.Count(r => r.Outcome == StoreOutcome.Warning),
        results.Count(r => r.Outcome == StoreOutcome.Failure),
        results.Sum(r => r.Bytes), elapsed, results);

    public bool AllStored => Failed == 0;
}
