namespace MedRecon.Dicom;

/// <summary>Malformed or unsupported DICOM input. The message is "path: problem (at byte offset N)".</summary>
public class DicomFileException : Exception
{
    public DicomFileException(string? path, long offset, string problem, Exception? inner = null)
        : base($"{path ?? "<stream>"}: {problem}{(offset >= 0 ? $" (at byte offset {offset})" : "")}", inner)
    {
        FilePath = path;
        Offset = offset;
        Problem = problem;
    }

    /// <summary>The file (or the name given for a stream); null for an anonymous stream.</summary>
    public string? FilePath { get; }
    /// <summary>Byte offset in the file where the problem was found (offsets after a deflated header are into the inflated stream); -1 when not applicable.</summary>
    public long Offset { get; }
    public string Problem { get; }
}

/// <summary>The file is well-formed but its transfer syntax (compression) is not decoded by MedRecon.</summary>
public sealed class DicomUnsupportedTransferSyntaxException : DicomFileException
{
    public DicomUnsupportedTransferSyntaxException(string? path, DicomTransferSyntax syntax)
        : base(path, -1, $"transfer syntax {syntax.Name} ({syntax.UID}) is not supported by MedRecon; transcode it first, " +
                         $"e.g. with dcmtk: `dcmdjpeg in.dcm out.dcm` (JPEG), `dcmdjpls in.dcm out.dcm` (JPEG-LS), or gdcm: `gdcmconv --raw in.dcm out.dcm` (any syntax, incl. JPEG 2000)")
    {
        Syntax = syntax;
    }

    public DicomTransferSyntax Syntax { get; }
}
