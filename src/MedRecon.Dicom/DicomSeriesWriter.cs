using System.Globalization;

namespace MedRecon.Dicom;

/// <summary>Settings of a derived (reconstructed) series.</summary>
public sealed class DerivedSeriesOptions
{
    /// <summary>Method, operator and settings, e.g. "MedRecon CM zero-shot; operator: radial MRI 4x; NFE 4". Max 1024 chars.</summary>
    public required string DerivationDescription { get; init; }
    public string? SeriesDescription { get; init; }
    public int? SeriesNumber { get; init; }
    /// <summary>Default Series Number of a derived series: the source's plus this (a second derived series, e.g. a
    /// standard-deviation map, takes the next number).</summary>
    public const int SeriesNumberOffset = 1000;
}

/// <summary>Settings of a synthetic phantom series.</summary>
public sealed class PhantomSeriesOptions
{
    public string Modality { get; init; } = "CT";
    /// <summary>Phantom name, e.g. "Shepp-Logan"; it appears in the series and study descriptions.</summary>
    public string PhantomName { get; init; } = "phantom";
    /// <summary>Voxel spacing in mm (x = column, y = row, z = slice).</summary>
    public (double X, double Y, double Z) Spacing { get; init; } = (1, 1, 1);
    public string? SeriesDescription { get; init; }
    /// <summary>Set when the volume is not synthetic but converted from an image file without DICOM identity (e.g. a
    /// NIfTI volume): its file name. The patient is then "ANONYMOUS^MEDRECON" and the texts say "converted", not
    /// "synthetic phantom".</summary>
    public string? ConvertedFrom { get; init; }
    /// <summary>Patient geometry (LPS mm, as DICOM): the row and column direction cosines (Image Orientation (Patient)),
    /// the first slice's top-left voxel centre and the step from one slice to the next. Null: axial, centred on 0.</summary>
    public PatientGeometry? Geometry { get; init; }
}

/// <summary>Where a volume's voxels lie in the patient (DICOM LPS, mm).</summary>
/// <param name="Orientation">Row direction (x, y, z), then column direction: unit vectors.</param>
/// <param name="FirstPosition">Centre of voxel (column 0, row 0) of the first slice.</param>
/// <param name="SliceStep">Displacement between consecutive slices.</param>
public sealed record PatientGeometry(double[] Orientation, double[] FirstPosition, double[] SliceStep);

/// <summary>
/// Writes CT/MR Image Storage series (Explicit VR Little Endian, 16-bit) from float volumes: derived series that keep the
/// patient and study of their source, and synthetic phantom series. Files are written into a temporary folder and
/// moved into place, so a failure leaves no partial series.
/// </summary>
public static class DicomSeriesWriter
{
    const string PhantomPatientName = "PHANTOM^MEDRECON";
    const string PhantomPatientID = "MEDRECON-PHANTOM";
    const string ConvertedPatientName = "ANONYMOUS^MEDRECON";
    const string ConvertedPatientID = "MEDRECON-IMPORT";

    /// <summary>Rescale (stored = round((value − intercept) / slope)) so the values fit 16 bits. Integer data that fits a
    /// signed 16-bit range is stored exactly with slope 1; anything else uses the whole unsigned range.</summary>
    public static (double Slope, double Intercept, bool Signed) ChooseRescale(ReadOnlySpan<float> values)
    {
        double min = double.PositiveInfinity, max = double.NegativeInfinity;
        bool integers = true;
        foreach (var v in values)
        {
            if (!float.IsFinite(v)) throw new ArgumentException("values contain NaN or infinity");
            if (v < min) min = v;
            if (v > max) max = v;
            if (integers && v != MathF.Round(v)) integers = false;
        }
        if (values.Length == 0) return (1, 0, true);
        if (integers && min >= short.MinValue && max <= short.MaxValue) return (1, 0, true);
        double intercept = Quantize(min);
        if (intercept > min) intercept = Quantize(min - Math.Abs(min) * 1e-12 - 1e-9);
        double slope = max > min ? Quantize((max - intercept) / 65534.0) : 1.0;
        return (slope, intercept, false);
    }

    /// <summary>The value a DS string will hold (DS is limited to 16 characters).</summary>
    static double Quantize(double v) => double.Parse(ValueCodec.FormatDS(v), CultureInfo.InvariantCulture);

    static readonly DicomTag[] CopiedFromSource =
    {
        DicomTag.SpecificCharacterSet,
        // patient
        DicomTag.PatientName, DicomTag.PatientID, DicomTag.IssuerOfPatientID, DicomTag.PatientBirthDate, DicomTag.PatientSex,
        DicomTag.PatientAge, DicomTag.PatientSize, DicomTag.PatientWeight, DicomTag.PatientIdentityRemoved, DicomTag.DeidentificationMethod,
        // study
        DicomTag.StudyInstanceUID, DicomTag.StudyDate, DicomTag.StudyTime, DicomTag.ReferringPhysicianName, DicomTag.StudyID,
        DicomTag.AccessionNumber, DicomTag.StudyDescription,
        // frame of reference, equipment, acquisition
        DicomTag.FrameOfReferenceUID, DicomTag.PositionReferenceIndicator, DicomTag.BodyPartExamined, DicomTag.PatientPosition,
        DicomTag.AcquisitionDate, DicomTag.AcquisitionTime, DicomTag.AcquisitionNumber, DicomTag.KVP, DicomTag.SliceThickness,
        DicomTag.SpacingBetweenSlices, DicomTag.SliceLocation, DicomTag.ImagePositionPatient, DicomTag.ImageOrientationPatient,
        DicomTag.PixelSpacing, DicomTag.WindowCenter, DicomTag.WindowWidth, DicomTag.InstanceNumber, DicomTag.LongitudinalTemporalInformationModified,
        // MR image module
        DicomTag.ScanningSequence, DicomTag.SequenceVariant, DicomTag.ScanOptions, DicomTag.MRAcquisitionType, DicomTag.RepetitionTime,
        DicomTag.EchoTime, DicomTag.InversionTime, DicomTag.EchoTrainLength, DicomTag.NumberOfAverages, DicomTag.ImagingFrequency,
        DicomTag.ImagedNucleus, DicomTag.MagneticFieldStrength, DicomTag.FlipAngle, DicomTag.SequenceName, DicomTag.EchoNumbers,
    };

    /// <summary>Writes a derived series: one output slice per source instance (voxels [z][y][x], depth = source slices).</summary>
    public static IReadOnlyList<string> WriteDerived(DicomSeries source, float[] voxels, int width, int height, int depth,
        DerivedSeriesOptions options, string outputFolder) =>
        WriteDerived(source.Instances.Select(i => i.Dataset).ToList(), voxels, width, height, depth, options, outputFolder);

    public static IReadOnlyList<string> WriteDerived(IReadOnlyList<DicomDataset> sourceSlices, float[] voxels, int width, int height,
        int depth, DerivedSeriesOptions options, string outputFolder)
    {
        if (sourceSlices.Count != depth) throw new ArgumentException($"{depth} slices given for {sourceSlices.Count} source instances");
        if ((long)width * height * depth != voxels.Length) throw new ArgumentException("voxel count does not match width × height × depth");
        if (options.DerivationDescription.Length > 1024) throw new ArgumentException("DerivationDescription is limited to 1024 characters");
        string modality = sourceSlices[0].GetString(DicomTag.Modality);
        if (modality is not ("CT" or "MR")) throw new ArgumentException($"derived series are written as CT or MR images; the source modality is '{modality}'");
        if (sourceSlices.Any(s => s.GetSingleValueOrDefault(DicomTag.NumberOfFrames, 1) > 1))
            throw new ArgumentException("multi-frame sources are not supported by the derived-series writer");
        var rescale = ChooseRescale(voxels);
        string seriesUid = DicomUID.Generate();
        var now = DateTime.Now;
        int seriesNumber = options.SeriesNumber ?? (sourceSlices[0].GetSingleValueOrDefault(DicomTag.SeriesNumber, 0) + DerivedSeriesOptions.SeriesNumberOffset);
        string sourceSeriesUid = sourceSlices[0].GetString(DicomTag.SeriesInstanceUID);
        var datasets = new List<DicomDataset>();
        for (int z = 0; z < depth; z++)
        {
            var src = sourceSlices[z];
            var ds = new DicomDataset();
            foreach (var tag in CopiedFromSource)
                if (src.GetItem(tag) is { } item && item is not DicomSequence) ds.AddOrUpdate(item);
            int srcCols = src.GetSingleValueOrDefault(DicomTag.Columns, width), srcRows = src.GetSingleValueOrDefault(DicomTag.Rows, height);
            if ((srcCols != width || srcRows != height) && src.TryGetValues<double>(DicomTag.PixelSpacing, out var ps) && ps.Length == 2)
                ds.AddOrUpdate(DicomTag.PixelSpacing, ps[0] * srcRows / height, ps[1] * srcCols / width);
            string sopClass = modality == "CT" ? DicomUID.CTImageStorage : DicomUID.MRImageStorage;
            ds.AddOrUpdate(DicomTag.SOPClassUID, sopClass);
            ds.AddOrUpdate(DicomTag.SOPInstanceUID, DicomUID.Generate());
            ds.AddOrUpdate(DicomTag.SeriesInstanceUID, seriesUid);
            ds.AddOrUpdate(DicomTag.Modality, modality);
            ds.AddOrUpdate(DicomTag.SeriesNumber, seriesNumber);
            ds.AddOrUpdate(DicomTag.SeriesDescription, Truncate(options.SeriesDescription ?? ("MedRecon " + src.GetString(DicomTag.SeriesDescription)).Trim(), 64));
            ds.AddOrUpdate(DicomTag.ImageType, modality == "CT" ? new[] { "DERIVED", "SECONDARY", "AXIAL" } : new[] { "DERIVED", "SECONDARY", "OTHER" });
            ds.AddOrUpdate(DicomTag.DerivationDescription, options.DerivationDescription);
            var srcRef = new DicomDataset()
                .AddOrUpdate(DicomTag.ReferencedSOPClassUID, src.GetString(DicomTag.SOPClassUID))
                .AddOrUpdate(DicomTag.ReferencedSOPInstanceUID, src.GetString(DicomTag.SOPInstanceUID))
                .AddOrUpdate(new DicomSequence(DicomTag.PurposeOfReferenceCodeSequence, Code("121322", "DCM", "Source image for image processing operation")));
            ds.AddOrUpdate(new DicomSequence(DicomTag.SourceImageSequence, srcRef));
            ds.AddOrUpdate(new DicomSequence(DicomTag.DerivationCodeSequence, Code("113072", "DCM", "Multiplanar reformatting")));
            var refInstances = sourceSlices.Select(s => new DicomDataset()
                .AddOrUpdate(DicomTag.ReferencedSOPClassUID, s.GetString(DicomTag.SOPClassUID))
                .AddOrUpdate(DicomTag.ReferencedSOPInstanceUID, s.GetString(DicomTag.SOPInstanceUID)));
            ds.AddOrUpdate(new DicomSequence(DicomTag.ReferencedSeriesSequence, new DicomDataset()
                .AddOrUpdate(DicomTag.SeriesInstanceUID, sourceSeriesUid)
                .AddOrUpdate(new DicomSequence(DicomTag.ReferencedInstanceSequence, refInstances))));
            if (!ds.Contains(DicomTag.InstanceNumber)) ds.AddOrUpdate(DicomTag.InstanceNumber, z + 1);
            Complete(ds, modality, now);
            SetPixels(ds, voxels.AsSpan(z * width * height, width * height), width, height, rescale, windowFromData: !src.Contains(DicomTag.WindowCenter), voxels);
            datasets.Add(ds);
        }
        return WriteAll(datasets, outputFolder);
    }

    /// <summary>Writes a synthetic phantom series under a new patient "PHANTOM^MEDRECON" and a new study, or (with
    /// <see cref="PhantomSeriesOptions.ConvertedFrom"/>) a volume converted from a non-DICOM file under "ANONYMOUS^MEDRECON".</summary>
    public static IReadOnlyList<string> WritePhantom(float[] voxels, int width, int height, int depth, PhantomSeriesOptions options, string outputFolder)
    {
        if ((long)width * height * depth != voxels.Length) throw new ArgumentException("voxel count does not match width × height × depth");
        string modality = options.Modality;
        if (modality is not ("CT" or "MR")) throw new ArgumentException("phantoms are written as CT or MR images");
        if (options.Geometry is { } geometry && (geometry.Orientation.Length != 6 || geometry.FirstPosition.Length != 3 || geometry.SliceStep.Length != 3))
            throw new ArgumentException("geometry: 6 orientation cosines, a 3-D first position and a 3-D slice step");
        bool converted = !string.IsNullOrEmpty(options.ConvertedFrom);
        var rescale = ChooseRescale(voxels);
        var now = DateTime.Now;
        string study = DicomUID.Generate(), series = DicomUID.Generate(), frame = DicomUID.Generate();
        var (sx, sy, sz) = options.Spacing;
        var datasets = new List<DicomDataset>();
        for (int z = 0; z < depth; z++)
        {
            var ds = new DicomDataset();
            ds.AddOrUpdate(DicomTag.SpecificCharacterSet, "ISO_IR 100");
            ds.AddOrUpdate(DicomTag.SOPClassUID, modality == "CT" ? DicomUID.CTImageStorage : DicomUID.MRImageStorage);
            ds.AddOrUpdate(DicomTag.SOPInstanceUID, DicomUID.Generate());
            ds.AddOrUpdate(DicomTag.PatientName, converted ? ConvertedPatientName : PhantomPatientName);
            ds.AddOrUpdate(DicomTag.PatientID, converted ? ConvertedPatientID : PhantomPatientID);
            ds.AddOrUpdate(DicomTag.PatientBirthDate, "");
            ds.AddOrUpdate(DicomTag.PatientSex, "O");
            ds.AddOrUpdate(DicomTag.PatientComments, converted
                ? Truncate($"Converted by MedRecon from {options.ConvertedFrom}, which carries no patient identity.", 10240)
                : "Synthetic phantom generated by MedRecon. Not patient data.");
            ds.AddOrUpdate(DicomTag.StudyInstanceUID, study);
            ds.AddOrUpdate(DicomTag.StudyDate, now.ToString("yyyyMMdd", CultureInfo.InvariantCulture));
            ds.AddOrUpdate(DicomTag.StudyTime, now.ToString("HHmmss", CultureInfo.InvariantCulture));
            ds.AddOrUpdate(DicomTag.StudyID, converted ? "IMPORT" : "PHANTOM");
            ds.AddOrUpdate(DicomTag.AccessionNumber, "");
            ds.AddOrUpdate(DicomTag.ReferringPhysicianName, "");
            ds.AddOrUpdate(DicomTag.StudyDescription, Truncate(converted ? $"MedRecon import: {options.PhantomName}" : $"MedRecon synthetic phantom: {options.PhantomName}", 64));
            ds.AddOrUpdate(DicomTag.SeriesInstanceUID, series);
            ds.AddOrUpdate(DicomTag.Modality, modality);
            ds.AddOrUpdate(DicomTag.SeriesNumber, 1);
            ds.AddOrUpdate(DicomTag.SeriesDescription, Truncate(options.SeriesDescription
                ?? (converted ? $"{options.PhantomName} (converted)" : $"PHANTOM {options.PhantomName} (synthetic)"), 64));
            ds.AddOrUpdate(DicomTag.ImageType, modality == "CT" ? new[] { "DERIVED", "SECONDARY", "AXIAL" } : new[] { "DERIVED", "SECONDARY", "OTHER" });
            ds.AddOrUpdate(DicomTag.DerivationDescription, Truncate(converted
                ? $"Converted by MedRecon from {options.ConvertedFrom}"
                : $"Synthetic {options.PhantomName} phantom generated by MedRecon (no acquisition)", 1024));
            ds.AddOrUpdate(DicomTag.ImageComments, converted ? "CONVERTED FROM A NON-DICOM FILE" : "SYNTHETIC PHANTOM - NOT PATIENT DATA");
            ds.AddOrUpdate(DicomTag.FrameOfReferenceUID, frame);
            ds.AddOrUpdate(DicomTag.PositionReferenceIndicator, "");
            ds.AddOrUpdate(DicomTag.InstanceNumber, z + 1);
            ds.AddOrUpdate(DicomTag.PixelSpacing, sy, sx);
            ds.AddOrUpdate(DicomTag.SliceThickness, sz);
            ds.AddOrUpdate(DicomTag.SpacingBetweenSlices, sz);
            if (options.Geometry is { } g)
            {
                var pos = Enumerable.Range(0, 3).Select(a => g.FirstPosition[a] + z * g.SliceStep[a]).ToArray();
                ds.AddOrUpdate(DicomTag.ImagePositionPatient, pos);
                ds.AddOrUpdate(DicomTag.ImageOrientationPatient, g.Orientation);
                // Slice Location: the position along the slice normal (row × column direction), as the reader sorts by.
                ds.AddOrUpdate(DicomTag.SliceLocation, DicomSeries.Dot(pos, DicomSeries.Cross(g.Orientation[..3], g.Orientation[3..])));
            }
            else
            {
                double zpos = (z - (depth - 1) / 2.0) * sz;
                ds.AddOrUpdate(DicomTag.ImagePositionPatient, -(width - 1) / 2.0 * sx, -(height - 1) / 2.0 * sy, zpos);
                ds.AddOrUpdate(DicomTag.ImageOrientationPatient, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0);
                ds.AddOrUpdate(DicomTag.SliceLocation, zpos);
            }
            ds.AddOrUpdate(DicomTag.PatientPosition, "HFS");
            if (modality == "MR")
            {
                ds.AddOrUpdate(DicomTag.ScanningSequence, "RM");
                ds.AddOrUpdate(DicomTag.SequenceVariant, "NONE");
                ds.AddOrUpdate(DicomTag.MRAcquisitionType, "2D");
            }
            Complete(ds, modality, now);
            SetPixels(ds, voxels.AsSpan(z * width * height, width * height), width, height, rescale, windowFromData: true, voxels);
            datasets.Add(ds);
        }
        return WriteAll(datasets, outputFolder);
    }

    static DicomDataset Code(string value, string scheme, string meaning) => new DicomDataset()
        .AddOrUpdate(DicomTag.CodeValue, value).AddOrUpdate(DicomTag.CodingSchemeDesignator, scheme).AddOrUpdate(DicomTag.CodeMeaning, meaning);

    static string Truncate(string s, int n) => s.Length <= n ? s : s[..n];

    /// <summary>Type 1/2 attributes of the CT/MR Image IODs that the source may lack.</summary>
    static void Complete(DicomDataset ds, string modality, DateTime now)
    {
        string date = now.ToString("yyyyMMdd", CultureInfo.InvariantCulture), time = now.ToString("HHmmss.ffffff", CultureInfo.InvariantCulture);
        ds.Add(DicomTag.SpecificCharacterSet, "ISO_IR 100");
        ds.AddOrUpdate(DicomTag.InstanceCreationDate, date);
        ds.AddOrUpdate(DicomTag.InstanceCreationTime, time);
        ds.AddOrUpdate(DicomTag.SeriesDate, date);
        ds.AddOrUpdate(DicomTag.SeriesTime, time);
        ds.AddOrUpdate(DicomTag.ContentDate, date);
        ds.AddOrUpdate(DicomTag.ContentTime, time);
        foreach (var t in new[] { DicomTag.PatientName, DicomTag.PatientID, DicomTag.PatientBirthDate, DicomTag.PatientSex, DicomTag.StudyDate,
                     DicomTag.StudyTime, DicomTag.ReferringPhysicianName, DicomTag.StudyID, DicomTag.AccessionNumber, DicomTag.PositionReferenceIndicator,
                     DicomTag.SliceThickness })
            ds.Add(t, "");
        if (!ds.Contains(DicomTag.FrameOfReferenceUID)) ds.AddOrUpdate(DicomTag.FrameOfReferenceUID, DicomUID.Generate());
        ds.AddOrUpdate(DicomTag.Manufacturer, "MedRecon");
        ds.AddOrUpdate(DicomTag.ManufacturerModelName, "MedRecon");
        ds.AddOrUpdate(DicomTag.SoftwareVersions, typeof(DicomSeriesWriter).Assembly.GetName().Version?.ToString() ?? "0");
        ds.AddOrUpdate(DicomTag.BurnedInAnnotation, "NO");
        if (!ds.Contains(DicomTag.BodyPartExamined)) ds.Add(DicomTag.Laterality, "");
        if (modality == "CT")
        {
            ds.Add(DicomTag.KVP, "");
            ds.Add(DicomTag.AcquisitionNumber, "");
        }
        else
        {
            ds.Add(DicomTag.ScanningSequence, "RM");
            ds.Add(DicomTag.SequenceVariant, "NONE");
            foreach (var t in new[] { DicomTag.ScanOptions, DicomTag.MRAcquisitionType, DicomTag.EchoTime, DicomTag.EchoTrainLength, DicomTag.RepetitionTime })
                ds.Add(t, "");
            string scan = ds.GetString(DicomTag.ScanningSequence);
            if (scan.Contains("IR")) ds.Add(DicomTag.InversionTime, "");
        }
    }

    static void SetPixels(DicomDataset ds, ReadOnlySpan<float> slice, int width, int height, (double Slope, double Intercept, bool Signed) r,
        bool windowFromData, float[] all)
    {
        ds.AddOrUpdate(DicomTag.SamplesPerPixel, (ushort)1);
        ds.AddOrUpdate(DicomTag.PhotometricInterpretation, "MONOCHROME2");
        ds.AddOrUpdate(DicomTag.Rows, (ushort)height);
        ds.AddOrUpdate(DicomTag.Columns, (ushort)width);
        ds.AddOrUpdate(DicomTag.BitsAllocated, (ushort)16);
        ds.AddOrUpdate(DicomTag.BitsStored, (ushort)16);
        ds.AddOrUpdate(DicomTag.HighBit, (ushort)15);
        ds.AddOrUpdate(DicomTag.PixelRepresentation, (ushort)(r.Signed ? 1 : 0));
        ds.AddOrUpdate(DicomTag.RescaleIntercept, r.Intercept);
        ds.AddOrUpdate(DicomTag.RescaleSlope, r.Slope);
        if (ds.GetString(DicomTag.Modality) == "CT") ds.AddOrUpdate(DicomTag.RescaleType, "HU");
        if (windowFromData && all.Length > 0)
        {
            float min = all.Min(), max = all.Max();
            ds.AddOrUpdate(DicomTag.WindowCenter, Math.Round((min + max) / 2.0, 3));
            ds.AddOrUpdate(DicomTag.WindowWidth, Math.Max(1, Math.Round(max - min, 3)));
        }
        var px = new byte[slice.Length * 2];
        for (int i = 0; i < slice.Length; i++)
        {
            double s = Math.Round((slice[i] - r.Intercept) / r.Slope);
            int v = r.Signed ? (int)Math.Clamp(s, short.MinValue, short.MaxValue) : (int)Math.Clamp(s, 0, ushort.MaxValue);
            px[2 * i] = (byte)v;
            px[2 * i + 1] = (byte)(v >> 8);
        }
        ds.AddOrUpdate(new DicomElement(DicomTag.PixelData, DicomVR.OW, px));
    }

    /// <summary>A file name made only of [0-9A-Za-z._-] (no separators, no "..", at most 100 characters).</summary>
    public static string SafeFileName(string name)
    {
        var chars = name.Select(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '-' or '_' ? c : '_').ToArray();
        var s = new string(chars).Trim('.');
        if (s.Length == 0) s = "unnamed";
        if (s.Length > 100) s = s[..100];
        return s;
    }

    static IReadOnlyList<string> WriteAll(List<DicomDataset> datasets, string outputFolder)
    {
        var target = Path.GetFullPath(outputFolder);
        var parent = Path.GetDirectoryName(target.TrimEnd(Path.DirectorySeparatorChar)) ?? target;
        Directory.CreateDirectory(parent);
        var tmp = Path.Combine(Directory.Exists(target) ? target : parent, ".medrecon-tmp-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(tmp);
        var names = new List<string>();
        try
        {
            foreach (var ds in datasets)
            {
                var name = SafeFileName(ds.GetString(DicomTag.SOPInstanceUID)) + ".dcm";
                var path = Path.GetFullPath(Path.Combine(tmp, name));
                if (!path.StartsWith(tmp + Path.DirectorySeparatorChar, StringComparison.Ordinal)) throw new InvalidOperationException("file name escapes the output folder");
                new DicomFile(ds).Save(path);
                names.Add(name);
            }
            if (!Directory.Exists(target))
            {
                Directory.Move(tmp, target);
            }
            else
            {
                foreach (var n in names) File.Move(Path.Combine(tmp, n), Path.Combine(target, n), overwrite: true);
                Directory.Delete(tmp, recursive: true);
            }
        }
        catch
        {
            try { Directory.Delete(tmp, recursive: true); } catch (IOException) { }
            throw;
        }
        return names.Select(n => Path.Combine(target, n)).ToList();
    }
}
