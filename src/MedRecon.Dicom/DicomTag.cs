using System.Globalization;

namespace MedRecon.Dicom;

/// <summary>An immutable (group, element) tag, ordered as DICOM orders data elements.</summary>
public readonly struct DicomTag : IEquatable<DicomTag>, IComparable<DicomTag>
{
    public DicomTag(ushort group, ushort element)
    {
        Group = group;
        Element = element;
    }

    public ushort Group { get; }
    public ushort Element { get; }
    public uint Value => ((uint)Group << 16) | Element;
    public bool IsPrivate => (Group & 1) == 1;
    /// <summary>A private creator (gggg,0010-00FF) in an odd group.</summary>
    public bool IsPrivateCreator => IsPrivate && Element >= 0x10 && Element <= 0xFF;
    public bool IsGroupLength => Element == 0;

    public DicomVR? DictionaryVR => DicomDictionary.Lookup(this)?.VR;
    public string Keyword => DicomDictionary.Lookup(this)?.Keyword ?? (IsPrivate ? "Private" : "Unknown");

    public static DicomTag Parse(string s)
    {
        s = s.Trim().Trim('(', ')');
        var parts = s.Split(',');
        if (parts.Length == 2)
            return new DicomTag(ushort.Parse(parts[0], NumberStyles.HexNumber), ushort.Parse(parts[1], NumberStyles.HexNumber));
        if (s.Length == 8) return new DicomTag(ushort.Parse(s[..4], NumberStyles.HexNumber), ushort.Parse(s[4..], NumberStyles.HexNumber));
        var byName = DicomDictionary.LookupKeyword(s);
        if (byName != null) return byName.Tag;
        throw new FormatException($"not a DICOM tag: {s}");
    }

    public bool Equals(DicomTag other) => Value == other.Value;
    public override bool Equals(object? obj) => obj is DicomTag t && Equals(t);
    public override int GetHashCode() => (int)Value;
    public int CompareTo(DicomTag other) => Value.CompareTo(other.Value);
    public static bool operator ==(DicomTag a, DicomTag b) => a.Value == b.Value;
    public static bool operator !=(DicomTag a, DicomTag b) => a.Value != b.Value;
    public static bool operator <(DicomTag a, DicomTag b) => a.Value < b.Value;
    public static bool operator >(DicomTag a, DicomTag b) => a.Value > b.Value;
    public override string ToString() => $"({Group:X4},{Element:X4})";

    // ---- structural tags
    public static readonly DicomTag Item = new(0xFFFE, 0xE000);
    public static readonly DicomTag ItemDelimitationItem = new(0xFFFE, 0xE00D);
    public static readonly DicomTag SequenceDelimitationItem = new(0xFFFE, 0xE0DD);

    // ---- file meta (group 2)
    public static readonly DicomTag FileMetaInformationGroupLength = new(0x0002, 0x0000);
    public static readonly DicomTag FileMetaInformationVersion = new(0x0002, 0x0001);
    public static readonly DicomTag MediaStorageSOPClassUID = new(0x0002, 0x0002);
    public static readonly DicomTag MediaStorageSOPInstanceUID = new(0x0002, 0x0003);
    public static readonly DicomTag TransferSyntaxUID = new(0x0002, 0x0010);
    public static readonly DicomTag ImplementationClassUID = new(0x0002, 0x0012);
    public static readonly DicomTag ImplementationVersionName = new(0x0002, 0x0013);
    public static readonly DicomTag SourceApplicationEntityTitle = new(0x0002, 0x0016);

    // ---- SOP common, general
    public static readonly DicomTag SpecificCharacterSet = new(0x0008, 0x0005);
    public static readonly DicomTag ImageType = new(0x0008, 0x0008);
    public static readonly DicomTag InstanceCreationDate = new(0x0008, 0x0012);
    public static readonly DicomTag InstanceCreationTime = new(0x0008, 0x0013);
    public static readonly DicomTag InstanceCreatorUID = new(0x0008, 0x0014);
    public static readonly DicomTag SOPClassUID = new(0x0008, 0x0016);
    public static readonly DicomTag SOPInstanceUID = new(0x0008, 0x0018);
    public static readonly DicomTag StudyDate = new(0x0008, 0x0020);
    public static readonly DicomTag SeriesDate = new(0x0008, 0x0021);
    public static readonly DicomTag AcquisitionDate = new(0x0008, 0x0022);
    public static readonly DicomTag ContentDate = new(0x0008, 0x0023);
    public static readonly DicomTag AcquisitionDateTime = new(0x0008, 0x002A);
    public static readonly DicomTag StudyTime = new(0x0008, 0x0030);
    public static readonly DicomTag SeriesTime = new(0x0008, 0x0031);
    public static readonly DicomTag AcquisitionTime = new(0x0008, 0x0032);
    public static readonly DicomTag ContentTime = new(0x0008, 0x0033);
    public static readonly DicomTag AccessionNumber = new(0x0008, 0x0050);
    public static readonly DicomTag Modality = new(0x0008, 0x0060);
    public static readonly DicomTag ConversionType = new(0x0008, 0x0064);
    public static readonly DicomTag Manufacturer = new(0x0008, 0x0070);
    public static readonly DicomTag InstitutionName = new(0x0008, 0x0080);
    public static readonly DicomTag InstitutionAddress = new(0x0008, 0x0081);
    public static readonly DicomTag ReferringPhysicianName = new(0x0008, 0x0090);
    public static readonly DicomTag ReferringPhysicianAddress = new(0x0008, 0x0092);
    public static readonly DicomTag ReferringPhysicianTelephoneNumbers = new(0x0008, 0x0094);
    public static readonly DicomTag CodeValue = new(0x0008, 0x0100);
    public static readonly DicomTag CodingSchemeDesignator = new(0x0008, 0x0102);
    public static readonly DicomTag CodeMeaning = new(0x0008, 0x0104);
    public static readonly DicomTag TimezoneOffsetFromUTC = new(0x0008, 0x0201);
    public static readonly DicomTag StationName = new(0x0008, 0x1010);
    public static readonly DicomTag StudyDescription = new(0x0008, 0x1030);
    public static readonly DicomTag ProcedureCodeSequence = new(0x0008, 0x1032);
    public static readonly DicomTag SeriesDescription = new(0x0008, 0x103E);
    public static readonly DicomTag InstitutionalDepartmentName = new(0x0008, 0x1040);
    public static readonly DicomTag PhysiciansOfRecord = new(0x0008, 0x1048);
    public static readonly DicomTag PerformingPhysicianName = new(0x0008, 0x1050);
    public static readonly DicomTag NameOfPhysiciansReadingStudy = new(0x0008, 0x1060);
    public static readonly DicomTag OperatorsName = new(0x0008, 0x1070);
    public static readonly DicomTag AdmittingDiagnosesDescription = new(0x0008, 0x1080);
    public static readonly DicomTag ManufacturerModelName = new(0x0008, 0x1090);
    public static readonly DicomTag ReferencedSeriesSequence = new(0x0008, 0x1115);
    public static readonly DicomTag ReferencedStudySequence = new(0x0008, 0x1110);
    public static readonly DicomTag ReferencedPatientSequence = new(0x0008, 0x1120);
    public static readonly DicomTag ReferencedImageSequence = new(0x0008, 0x1140);
    public static readonly DicomTag ReferencedInstanceSequence = new(0x0008, 0x114A);
    public static readonly DicomTag ReferencedPerformedProcedureStepSequence = new(0x0008, 0x1111);
    public static readonly DicomTag CodingSchemeVersion = new(0x0008, 0x0103);
    public static readonly DicomTag BodyPartExamined = new(0x0018, 0x0015);
    public static readonly DicomTag RotationDirection = new(0x0018, 0x1140);
    public static readonly DicomTag FilterType = new(0x0018, 0x1160);
    public static readonly DicomTag ReceiveCoilName = new(0x0018, 0x1250);
    public static readonly DicomTag PixelAspectRatio = new(0x0028, 0x0034);
    public static readonly DicomTag RequestingPhysician = new(0x0032, 0x1032);
    public static readonly DicomTag RequestedProcedureDescription = new(0x0032, 0x1060);
    public static readonly DicomTag PerformedProcedureStepStartTime = new(0x0040, 0x0245);
    public static readonly DicomTag PerformedProcedureStepDescription = new(0x0040, 0x0254);
    public static readonly DicomTag ReferencedFrameNumber = new(0x0008, 0x1160);
    public static readonly DicomTag LossyImageCompressionRatio = new(0x0028, 0x2112);
    public static readonly DicomTag LossyImageCompressionMethod = new(0x0028, 0x2114);
    public static readonly DicomTag ReferencedSOPClassUID = new(0x0008, 0x1150);
    public static readonly DicomTag ReferencedSOPInstanceUID = new(0x0008, 0x1155);
    public static readonly DicomTag DerivationDescription = new(0x0008, 0x2111);
    public static readonly DicomTag SourceImageSequence = new(0x0008, 0x2112);
    public static readonly DicomTag DerivationCodeSequence = new(0x0008, 0x9215);
    public static readonly DicomTag PurposeOfReferenceCodeSequence = new(0x0040, 0xA170);

    // ---- patient
    public static readonly DicomTag PatientName = new(0x0010, 0x0010);
    public static readonly DicomTag PatientID = new(0x0010, 0x0020);
    public static readonly DicomTag IssuerOfPatientID = new(0x0010, 0x0021);
    public static readonly DicomTag PatientBirthDate = new(0x0010, 0x0030);
    public static readonly DicomTag PatientBirthTime = new(0x0010, 0x0032);
    public static readonly DicomTag PatientSex = new(0x0010, 0x0040);
    public static readonly DicomTag OtherPatientIDs = new(0x0010, 0x1000);
    public static readonly DicomTag OtherPatientNames = new(0x0010, 0x1001);
    public static readonly DicomTag PatientAge = new(0x0010, 0x1010);
    public static readonly DicomTag PatientSize = new(0x0010, 0x1020);
    public static readonly DicomTag PatientWeight = new(0x0010, 0x1030);
    public static readonly DicomTag PatientAddress = new(0x0010, 0x1040);
    public static readonly DicomTag PatientMotherBirthName = new(0x0010, 0x1060);
    public static readonly DicomTag MilitaryRank = new(0x0010, 0x1080);
    public static readonly DicomTag MedicalRecordLocator = new(0x0010, 0x1090);
    public static readonly DicomTag PatientTelephoneNumbers = new(0x0010, 0x2154);
    public static readonly DicomTag EthnicGroup = new(0x0010, 0x2160);
    public static readonly DicomTag Occupation = new(0x0010, 0x2180);
    public static readonly DicomTag AdditionalPatientHistory = new(0x0010, 0x21B0);
    public static readonly DicomTag PatientComments = new(0x0010, 0x4000);
    public static readonly DicomTag PatientIdentityRemoved = new(0x0012, 0x0062);
    public static readonly DicomTag DeidentificationMethod = new(0x0012, 0x0063);
    public static readonly DicomTag DeidentificationMethodCodeSequence = new(0x0012, 0x0064);
    public static readonly DicomTag LongitudinalTemporalInformationModified = new(0x0028, 0x0303);

    // ---- acquisition
    public static readonly DicomTag ContrastBolusAgent = new(0x0018, 0x0010);
    public static readonly DicomTag ScanningSequence = new(0x0018, 0x0020);
    public static readonly DicomTag SequenceVariant = new(0x0018, 0x0021);
    public static readonly DicomTag ScanOptions = new(0x0018, 0x0022);
    public static readonly DicomTag MRAcquisitionType = new(0x0018, 0x0023);
    public static readonly DicomTag SequenceName = new(0x0018, 0x0024);
    public static readonly DicomTag SliceThickness = new(0x0018, 0x0050);
    public static readonly DicomTag KVP = new(0x0018, 0x0060);
    public static readonly DicomTag RepetitionTime = new(0x0018, 0x0080);
    public static readonly DicomTag EchoTime = new(0x0018, 0x0081);
    public static readonly DicomTag InversionTime = new(0x0018, 0x0082);
    public static readonly DicomTag NumberOfAverages = new(0x0018, 0x0083);
    public static readonly DicomTag ImagingFrequency = new(0x0018, 0x0084);
    public static readonly DicomTag ImagedNucleus = new(0x0018, 0x0085);
    public static readonly DicomTag EchoNumbers = new(0x0018, 0x0086);
    public static readonly DicomTag MagneticFieldStrength = new(0x0018, 0x0087);
    public static readonly DicomTag SpacingBetweenSlices = new(0x0018, 0x0088);
    public static readonly DicomTag EchoTrainLength = new(0x0018, 0x0091);
    public static readonly DicomTag DeviceSerialNumber = new(0x0018, 0x1000);
    public static readonly DicomTag SoftwareVersions = new(0x0018, 0x1020);
    public static readonly DicomTag ProtocolName = new(0x0018, 0x1030);
    public static readonly DicomTag DataCollectionDiameter = new(0x0018, 0x0090);
    public static readonly DicomTag ReconstructionDiameter = new(0x0018, 0x1100);
    public static readonly DicomTag GantryDetectorTilt = new(0x0018, 0x1120);
    public static readonly DicomTag TableHeight = new(0x0018, 0x1130);
    public static readonly DicomTag ExposureTime = new(0x0018, 0x1150);
    public static readonly DicomTag XRayTubeCurrent = new(0x0018, 0x1151);
    public static readonly DicomTag Exposure = new(0x0018, 0x1152);
    public static readonly DicomTag ConvolutionKernel = new(0x0018, 0x1210);
    public static readonly DicomTag FlipAngle = new(0x0018, 0x1314);
    public static readonly DicomTag PatientPosition = new(0x0018, 0x5100);

    // ---- relationship
    public static readonly DicomTag StudyInstanceUID = new(0x0020, 0x000D);
    public static readonly DicomTag SeriesInstanceUID = new(0x0020, 0x000E);
    public static readonly DicomTag StudyID = new(0x0020, 0x0010);
    public static readonly DicomTag SeriesNumber = new(0x0020, 0x0011);
    public static readonly DicomTag AcquisitionNumber = new(0x0020, 0x0012);
    public static readonly DicomTag InstanceNumber = new(0x0020, 0x0013);
    public static readonly DicomTag PatientOrientation = new(0x0020, 0x0020);
    public static readonly DicomTag ImagePositionPatient = new(0x0020, 0x0032);
    public static readonly DicomTag ImageOrientationPatient = new(0x0020, 0x0037);
    public static readonly DicomTag FrameOfReferenceUID = new(0x0020, 0x0052);
    public static readonly DicomTag Laterality = new(0x0020, 0x0060);
    public static readonly DicomTag PositionReferenceIndicator = new(0x0020, 0x1040);
    public static readonly DicomTag SliceLocation = new(0x0020, 0x1041);
    public static readonly DicomTag ImageComments = new(0x0020, 0x4000);

    // ---- image pixel
    public static readonly DicomTag SamplesPerPixel = new(0x0028, 0x0002);
    public static readonly DicomTag PhotometricInterpretation = new(0x0028, 0x0004);
    public static readonly DicomTag PlanarConfiguration = new(0x0028, 0x0006);
    public static readonly DicomTag NumberOfFrames = new(0x0028, 0x0008);
    public static readonly DicomTag FrameIncrementPointer = new(0x0028, 0x0009);
    public static readonly DicomTag Rows = new(0x0028, 0x0010);
    public static readonly DicomTag Columns = new(0x0028, 0x0011);
    public static readonly DicomTag PixelSpacing = new(0x0028, 0x0030);
    public static readonly DicomTag BitsAllocated = new(0x0028, 0x0100);
    public static readonly DicomTag BitsStored = new(0x0028, 0x0101);
    public static readonly DicomTag HighBit = new(0x0028, 0x0102);
    public static readonly DicomTag PixelRepresentation = new(0x0028, 0x0103);
    public static readonly DicomTag SmallestImagePixelValue = new(0x0028, 0x0106);
    public static readonly DicomTag LargestImagePixelValue = new(0x0028, 0x0107);
    public static readonly DicomTag PixelPaddingValue = new(0x0028, 0x0120);
    public static readonly DicomTag BurnedInAnnotation = new(0x0028, 0x0301);
    public static readonly DicomTag WindowCenter = new(0x0028, 0x1050);
    public static readonly DicomTag WindowWidth = new(0x0028, 0x1051);
    public static readonly DicomTag RescaleIntercept = new(0x0028, 0x1052);
    public static readonly DicomTag RescaleSlope = new(0x0028, 0x1053);
    public static readonly DicomTag RescaleType = new(0x0028, 0x1054);
    public static readonly DicomTag WindowCenterWidthExplanation = new(0x0028, 0x1055);
    public static readonly DicomTag LossyImageCompression = new(0x0028, 0x2110);
    public static readonly DicomTag PixelData = new(0x7FE0, 0x0010);
    public static readonly DicomTag FloatPixelData = new(0x7FE0, 0x0008);
    public static readonly DicomTag DoubleFloatPixelData = new(0x7FE0, 0x0009);

    // ---- misc identifying
    public static readonly DicomTag RequestAttributesSequence = new(0x0040, 0x0275);
    public static readonly DicomTag PerformedProcedureStepStartDate = new(0x0040, 0x0244);
    public static readonly DicomTag PerformedProcedureStepID = new(0x0040, 0x0253);
    public static readonly DicomTag RequestedProcedureID = new(0x0040, 0x1001);
    public static readonly DicomTag ContentSequence = new(0x0040, 0xA730);
    public static readonly DicomTag StorageMediaFileSetUID = new(0x0088, 0x0140);
    public static readonly DicomTag DeviceUID = new(0x0018, 0x1002);
    public static readonly DicomTag IrradiationEventUID = new(0x0008, 0x3010);
    public static readonly DicomTag SynchronizationFrameOfReferenceUID = new(0x0020, 0x0200);
    public static readonly DicomTag ConcatenationUID = new(0x0020, 0x9161);
    public static readonly DicomTag DimensionOrganizationUID = new(0x0020, 0x9164);
    public static readonly DicomTag ReferencedFrameOfReferenceUID = new(0x3006, 0x0024);
    public static readonly DicomTag TransactionUID = new(0x0008, 0x1195);
}
