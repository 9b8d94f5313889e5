namespace MedRecon.Dicom;

/// <summary>
/// Basic Application Level Confidentiality Profile (PS3.15 Annex E, a subset): removes or empties identifying
/// attributes, replaces the patient name/ID with a pseudonym, replaces every instance UID consistently across all data
/// sets passed to the same instance (so references inside a set stay valid), removes private tags and overlays, and
/// records PatientIdentityRemoved, DeidentificationMethod(CodeSequence) and LongitudinalTemporalInformationModified.
/// Not removed: identifying text burned into pixels (check BurnedInAnnotation) and free text in unknown standard tags.
/// </summary>
public sealed class DicomDeidentifier
{
    readonly Dictionary<string, string> _uidMap = new(StringComparer.Ordinal);
    readonly string _salt = Guid.NewGuid().ToString("N");

    public DicomDeidentifier(string pseudonym = "ANONYMOUS", string? patientId = null)
    {
        Pseudonym = pseudonym;
        PatientId = patientId ?? ("ANON-" + _salt[..8].ToUpperInvariant());
    }

    public string Pseudonym { get; }
    public string PatientId { get; }
    /// <summary>Original UID → replacement UID, for all data sets processed so far.</summary>
    public IReadOnlyDictionary<string, string> UidMap => _uidMap;

    static readonly DicomTag[] Removed =
    {
        DicomTag.InstitutionName, DicomTag.InstitutionAddress, DicomTag.ReferringPhysicianAddress, DicomTag.ReferringPhysicianTelephoneNumbers,
        DicomTag.StationName, DicomTag.InstitutionalDepartmentName, DicomTag.PhysiciansOfRecord, DicomTag.PerformingPhysicianName,
        DicomTag.NameOfPhysiciansReadingStudy, DicomTag.OperatorsName, DicomTag.AdmittingDiagnosesDescription, DicomTag.IssuerOfPatientID,
        DicomTag.PatientBirthTime, DicomTag.OtherPatientIDs, DicomTag.OtherPatientNames, DicomTag.PatientAge, DicomTag.PatientSize,
        DicomTag.PatientWeight, DicomTag.PatientAddress, DicomTag.PatientMotherBirthName, DicomTag.MilitaryRank, DicomTag.MedicalRecordLocator,
        DicomTag.PatientTelephoneNumbers, DicomTag.EthnicGroup, DicomTag.Occupation, DicomTag.AdditionalPatientHistory, DicomTag.PatientComments,
        DicomTag.DeviceSerialNumber, DicomTag.DeviceUID, DicomTag.ProtocolName, DicomTag.RequestAttributesSequence,
        DicomTag.PerformedProcedureStepStartDate, DicomTag.PerformedProcedureStepStartTime, DicomTag.PerformedProcedureStepID,
        DicomTag.PerformedProcedureStepDescription, DicomTag.RequestedProcedureID, DicomTag.RequestedProcedureDescription,
        DicomTag.RequestingPhysician, DicomTag.ImageComments, DicomTag.ReferencedPatientSequence, DicomTag.ReferencedStudySequence,
        DicomTag.ReferencedPerformedProcedureStepSequence, DicomTag.ContentSequence, DicomTag.SeriesDate, DicomTag.SeriesTime,
        DicomTag.AcquisitionDate, DicomTag.AcquisitionTime, DicomTag.AcquisitionDateTime, DicomTag.InstanceCreationDate,
        DicomTag.InstanceCreationTime, DicomTag.TimezoneOffsetFromUTC,
    };

    static readonly DicomTag[] Emptied =
    {
        DicomTag.PatientBirthDate, DicomTag.PatientSex, DicomTag.AccessionNumber, DicomTag.ReferringPhysicianName, DicomTag.StudyID,
        DicomTag.StudyDate, DicomTag.StudyTime, DicomTag.ContentDate, DicomTag.ContentTime,
    };

    static readonly HashSet<DicomTag> ClassUids = new() { DicomTag.SOPClassUID, DicomTag.ReferencedSOPClassUID, DicomTag.MediaStorageSOPClassUID, DicomTag.TransferSyntaxUID };

    /// <summary>A de-identified copy of the data set.</summary>
    public DicomDataset Deidentify(DicomDataset source)
    {
        var ds = source.Clone();
        Process(ds, top: true);
        ds.AddOrUpdate(DicomTag.PatientName, Pseudonym);
        ds.AddOrUpdate(DicomTag.PatientID, PatientId);
        ds.AddOrUpdate(DicomTag.PatientIdentityRemoved, "YES");
        ds.AddOrUpdate(DicomTag.DeidentificationMethod, "MedRecon basic profile (PS3.15 E.1.1 subset)");
        ds.AddOrUpdate(new DicomSequence(DicomTag.DeidentificationMethodCodeSequence, new DicomDataset()
            .AddOrUpdate(DicomTag.CodeValue, "113100").AddOrUpdate(DicomTag.CodingSchemeDesignator, "DCM")
            .AddOrUpdate(DicomTag.CodeMeaning, "Basic Application Confidentiality Profile")));
        ds.AddOrUpdate(DicomTag.LongitudinalTemporalInformationModified, "REMOVED");
        return ds;
    }

    public DicomFile Deidentify(DicomFile file) => new(Deidentify(file.Dataset));

    void Process(DicomDataset ds, bool top)
    {
        ds.Remove(i => i.Tag.IsPrivate || (i.Tag.Group >= 0x5000 && i.Tag.Group <= 0x50FF) || (i.Tag.Group >= 0x6000 && i.Tag.Group <= 0x60FF));
        foreach (var t in Removed) ds.Remove(t);
        foreach (var t in Emptied)
            if (ds.Contains(t)) ds.AddOrUpdate(new DicomElement(t, ds.GetItem(t)!.VR, Array.Empty<byte>()));
        if (!top)
        {
            ds.Remove(DicomTag.PatientName);
            ds.Remove(DicomTag.PatientID);
        }
        foreach (var item in ds.ToList())
        {
            if (item is DicomSequence sq)
                foreach (var child in sq.Items) Process(child, top: false);
            else if (item is DicomElement e && e.VR == DicomVR.UI && !ClassUids.Contains(e.Tag))
            {
                var values = ds.GetString(e.Tag).Split('\\');
                var mapped = values.Select(Map).ToArray();
                ds.AddOrUpdate(DicomVR.UI, e.Tag, mapped);
            }
        }
    }

    string Map(string uid)
    {
        if (uid.Length == 0 || uid.StartsWith("1.2.840.10008.", StringComparison.Ordinal)) return uid; // standard (well-known) UIDs
        if (!_uidMap.TryGetValue(uid, out var n)) _uidMap[uid] = n = DicomUID.FromName(_salt + uid);
        return n;
    }
}
