namespace MedRecon.Dicom;

/// <summary>A Part 10 file: preamble, file meta information (group 2) and the data set.</summary>
public sealed class DicomFile
{
    internal DicomFile(DicomDataset meta, DicomDataset dataset, DicomTransferSyntax syntax, string? path, byte[]? preamble)
    {
        FileMetaInfo = meta;
        Dataset = dataset;
        TransferSyntax = syntax;
        FilePath = path;
        Preamble = preamble;
    }

    /// <summary>A new file for a data set; it will be written as Explicit VR Little Endian.</summary>
    public DicomFile(DicomDataset dataset)
        : this(new DicomDataset(), dataset, DicomTransferSyntax.ExplicitVRLittleEndian, null, null) { }

    public DicomDataset FileMetaInfo { get; }
    public DicomDataset Dataset { get; }
    /// <summary>The syntax the data set was read in (or will be written in).</summary>
    public DicomTransferSyntax TransferSyntax { get; private set; }
    public string? FilePath { get; }
    /// <summary>The 128-byte preamble, or null when the file had none (it is written as zeros).</summary>
    public byte[]? Preamble { get; }

    public static DicomFile Open(string path, DicomReadOptions? options = null)
    {
        var opt = options ?? DicomReadOptions.Default;
        byte[] data;
        try
        {
            var info = new FileInfo(path);
            if (!info.Exists) throw new FileNotFoundException($"{path}: no such file", path);
            if (info.Length > opt.MaxFileBytes) throw new DicomFileException(path, -1, $"file of {info.Length} bytes exceeds the {opt.MaxFileBytes}-byte limit");
            data = File.ReadAllBytes(path);
        }
        catch (UnauthorizedAccessException ex)
        {
            throw new DicomFileException(path, -1, "cannot read: " + ex.Message, ex);
        }
        return DicomReader.ReadFile(data, path, opt);
    }

    /// <summary>Reads a file from a stream (read to its end); nameForErrors appears in exception messages.</summary>
    public static DicomFile Open(Stream stream, string? nameForErrors = null, DicomReadOptions? options = null)
    {
        var opt = options ?? DicomReadOptions.Default;
        using var ms = new MemoryStream();
        var buf = new byte[81920];
        int n;
        while ((n = stream.Read(buf, 0, buf.Length)) > 0)
        {
            if (ms.Length + n > opt.MaxFileBytes) throw new DicomFileException(nameForErrors, ms.Length, "stream exceeds the size limit");
            ms.Write(buf, 0, n);
        }
        return DicomReader.ReadFile(ms.ToArray(), nameForErrors, opt);
    }

    /// <summary>Reads a file held in memory.</summary>
    public static DicomFile Open(byte[] data, string? nameForErrors = null, DicomReadOptions? options = null) =>
        DicomReader.ReadFile(data, nameForErrors, options);

    /// <summary>True when the file starts with a preamble and "DICM" (a cheap check before a full parse).</summary>
    public static bool HasDicmPrefix(string path)
    {
        using var fs = File.OpenRead(path);
        if (fs.Length < 132) return false;
        Span<byte> b = stackalloc byte[132];
        fs.ReadExactly(b);
        return b[128] == 'D' && b[129] == 'I' && b[130] == 'C' && b[131] == 'M';
    }

    /// <summary>Writes the file as Explicit VR Little Endian (or its encapsulated syntax, whose fragments are kept).
    /// Implicit/big-endian/deflated input is converted to Explicit VR Little Endian. The file is written to a temporary
    /// name beside the target and moved into place, so a failure leaves nothing half-written.</summary>
    public void Save(string path)
    {
        var full = Path.GetFullPath(path);
        var tmp = full + ".tmp-" + Guid.NewGuid().ToString("N")[..8];
        try
        {
            using (var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
                Save(fs);
            File.Move(tmp, full, overwrite: true);
        }
        catch
        {
            try { File.Delete(tmp); } catch (IOException) { }
            throw;
        }
    }

    public void Save(Stream stream)
    {
        if (!TransferSyntax.IsEncapsulated && TransferSyntax != DicomTransferSyntax.ImplicitVRLittleEndian)
            TransferSyntax = DicomTransferSyntax.ExplicitVRLittleEndian;
        if (TransferSyntax.IsEncapsulated && Dataset.GetItem(DicomTag.PixelData) is DicomElement)
            TransferSyntax = DicomTransferSyntax.ExplicitVRLittleEndian; // pixel data was replaced by native data
        var bs = new BufferedStream(stream, 1 << 16);
        DicomWriter.WriteFile(bs, this);
        bs.Flush();
    }

    /// <summary>Changes the syntax used by <see cref="Save(string)"/> to Implicit VR Little Endian (for tests and old peers).</summary>
    public DicomFile AsImplicitVRLittleEndian()
    {
        if (TransferSyntax.IsEncapsulated) throw new InvalidOperationException("decompress the pixel data first");
        TransferSyntax = DicomTransferSyntax.ImplicitVRLittleEndian;
        return this;
    }
}
