namespace MedRecon.Dicom;

/// <summary>One entry of the tag dictionary.</summary>
public sealed record DicomDictionaryEntry(DicomTag Tag, DicomVR VR, string Keyword);

/// <summary>
/// The tag dictionary: VRs for the attributes MedRecon reads and writes (used to decode Implicit VR files and to
/// choose the VR when a value is added). Unknown tags decode as UN; repeating groups (50xx, 60xx) map to their base.
/// </summary>
public static class DicomDictionary
{
    // "ggggeeee VR Keyword"; the table covers the file meta, patient, study, series, equipment, frame of reference,
    // image plane/pixel, CT/MR image, SOP common, VOI LUT and the de-identification attributes.
    const string Table = """
00020000 UL FileMetaInformationGroupLength
00020001 OB FileMetaInformationVersion
00020002 UI MediaStorageSOPClassUID
00020003 UI MediaStorageSOPInstanceUID
00020010 UI TransferSyntaxUID
00020012 UI ImplementationClassUID
00020013 SH ImplementationVersionName
00020016 AE SourceApplicationEntityTitle
00020100 UI PrivateInformationCreatorUID
00020102 OB PrivateInformation
00080005 CS SpecificCharacterSet
00080008 CS ImageType
00080012 DA InstanceCreationDate
00080013 TM InstanceCreationTime
00080014 UI InstanceCreatorUID
00080016 UI SOPClassUID
00080018 UI SOPInstanceUID
00080020 DA StudyDate
00080021 DA SeriesDate
00080022 DA AcquisitionDate
00080023 DA ContentDate
0008002A DT AcquisitionDateTime
00080030 TM StudyTime
00080031 TM SeriesTime
00080032 TM AcquisitionTime
00080033 TM ContentTime
00080050 SH AccessionNumber
00080060 CS Modality
00080064 CS ConversionType
00080070 LO Manufacturer
00080080 LO InstitutionName
00080081 ST InstitutionAddress
00080090 PN ReferringPhysicianName
00080092 ST ReferringPhysicianAddress
00080094 SH ReferringPhysicianTelephoneNumbers
00080100 SH CodeValue
00080102 SH CodingSchemeDesignator
00080103 SH CodingSchemeVersion
00080104 LO CodeMeaning
00080201 SH TimezoneOffsetFromUTC
00081010 SH StationName
00081030 LO StudyDescription
00081032 SQ ProcedureCodeSequence
0008103E LO SeriesDescription
00081040 LO InstitutionalDepartmentName
00081048 PN PhysiciansOfRecord
00081050 PN PerformingPhysicianName
00081060 PN NameOfPhysiciansReadingStudy
00081070 PN OperatorsName
00081080 LO AdmittingDiagnosesDescription
00081090 LO ManufacturerModelName
00081110 SQ ReferencedStudySequence
00081111 SQ ReferencedPerformedProcedureStepSequence
00081115 SQ ReferencedSeriesSequence
00081120 SQ ReferencedPatientSequence
00081140 SQ ReferencedImageSequence
0008114A SQ ReferencedInstanceSequence
00081150 UI ReferencedSOPClassUID
00081155 UI ReferencedSOPInstanceUID
00081160 IS ReferencedFrameNumber
00081195 UI TransactionUID
00082111 ST DerivationDescription
00082112 SQ SourceImageSequence
00083010 UI IrradiationEventUID
00089215 SQ DerivationCodeSequence
00100010 PN PatientName
00100020 LO PatientID
00100021 LO IssuerOfPatientID
00100030 DA PatientBirthDate
00100032 TM PatientBirthTime
00100040 CS PatientSex
00101000 LO OtherPatientIDs
00101001 PN OtherPatientNames
00101010 AS PatientAge
00101020 DS PatientSize
00101030 DS PatientWeight
00101040 LO PatientAddress
00101060 PN PatientMotherBirthName
00101080 LO MilitaryRank
00101090 LO MedicalRecordLocator
00102154 SH PatientTelephoneNumbers
00102160 SH EthnicGroup
00102180 SH Occupation
001021B0 LT AdditionalPatientHistory
00104000 LT PatientComments
00120062 CS PatientIdentityRemoved
00120063 LO DeidentificationMethod
00120064 SQ DeidentificationMethodCodeSequence
00180010 LO ContrastBolusAgent
00180015 CS BodyPartExamined
00181004 LO PlateID
00180020 CS ScanningSequence
00180021 CS SequenceVariant
00180022 CS ScanOptions
00180023 CS MRAcquisitionType
00180024 SH SequenceName
00180050 DS SliceThickness
00180060 DS KVP
00180080 DS RepetitionTime
00180081 DS EchoTime
00180082 DS InversionTime
00180083 DS NumberOfAverages
00180084 DS ImagingFrequency
00180085 SH ImagedNucleus
00180086 IS EchoNumbers
00180087 DS MagneticFieldStrength
00180088 DS SpacingBetweenSlices
00180090 DS DataCollectionDiameter
00180091 IS EchoTrainLength
00181000 LO DeviceSerialNumber
00181002 UI DeviceUID
00181020 LO SoftwareVersions
00181030 LO ProtocolName
00181100 DS ReconstructionDiameter
00181120 DS GantryDetectorTilt
00181130 DS TableHeight
00181140 CS RotationDirection
00181150 IS ExposureTime
00181151 IS XRayTubeCurrent
00181152 IS Exposure
00181160 SH FilterType
00181210 SH ConvolutionKernel
00181250 SH ReceiveCoilName
00181314 DS FlipAngle
00185100 CS PatientPosition
0020000D UI StudyInstanceUID
0020000E UI SeriesInstanceUID
00200010 SH StudyID
00200011 IS SeriesNumber
00200012 IS AcquisitionNumber
00200013 IS InstanceNumber
00200020 CS PatientOrientation
00200032 DS ImagePositionPatient
00200037 DS ImageOrientationPatient
00200052 UI FrameOfReferenceUID
00200060 CS Laterality
00200200 UI SynchronizationFrameOfReferenceUID
00201040 LO PositionReferenceIndicator
00201041 DS SliceLocation
00204000 LT ImageComments
00209161 UI ConcatenationUID
00209164 UI DimensionOrganizationUID
00280002 US SamplesPerPixel
00280004 CS PhotometricInterpretation
00280006 US PlanarConfiguration
00280008 IS NumberOfFrames
00280009 AT FrameIncrementPointer
00280010 US Rows
00280011 US Columns
00280030 DS PixelSpacing
00280034 IS PixelAspectRatio
00280100 US BitsAllocated
00280101 US BitsStored
00280102 US HighBit
00280103 US PixelRepresentation
00280106 US SmallestImagePixelValue
00280107 US LargestImagePixelValue
00280120 US PixelPaddingValue
00280301 CS BurnedInAnnotation
00280303 CS LongitudinalTemporalInformationModified
00281050 DS WindowCenter
00281051 DS WindowWidth
00281052 DS RescaleIntercept
00281053 DS RescaleSlope
00281054 LO RescaleType
00281055 LO WindowCenterWidthExplanation
00281101 US RedPaletteColorLookupTableDescriptor
00281102 US GreenPaletteColorLookupTableDescriptor
00281103 US BluePaletteColorLookupTableDescriptor
00281201 OW RedPaletteColorLookupTableData
00281202 OW GreenPaletteColorLookupTableData
00281203 OW BluePaletteColorLookupTableData
00282110 CS LossyImageCompression
00282112 DS LossyImageCompressionRatio
00282114 CS LossyImageCompressionMethod
00283000 SQ ModalityLUTSequence
00283010 SQ VOILUTSequence
00321032 PN RequestingPhysician
00321060 LO RequestedProcedureDescription
00400244 DA PerformedProcedureStepStartDate
00400245 TM PerformedProcedureStepStartTime
00400253 SH PerformedProcedureStepID
00400254 LO PerformedProcedureStepDescription
00400275 SQ RequestAttributesSequence
00401001 SH RequestedProcedureID
0040A170 SQ PurposeOfReferenceCodeSequence
0040A730 SQ ContentSequence
00880140 UI StorageMediaFileSetUID
30060024 UI ReferencedFrameOfReferenceUID
7FE00008 OF FloatPixelData
7FE00009 OD DoubleFloatPixelData
7FE00010 OW PixelData
FFFEE000 UN Item
FFFEE00D UN ItemDelimitationItem
FFFEE0DD UN SequenceDelimitationItem
""";

    static readonly Dictionary<uint, DicomDictionaryEntry> ByTag = new();
    static readonly Dictionary<string, DicomDictionaryEntry> ByKeyword = new(StringComparer.OrdinalIgnoreCase);

    static DicomDictionary()
    {
        foreach (var line in Table.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var p = line.Split(' ');
            uint v = Convert.ToUInt32(p[0], 16);
            var e = new DicomDictionaryEntry(new DicomTag((ushort)(v >> 16), (ushort)v), DicomVR.Parse(p[1]), p[2]);
            ByTag[v] = e;
            ByKeyword[e.Keyword] = e;
        }
    }

    /// <summary>The entry for a tag, or null. Group lengths (gggg,0000) are UL; private creators (odd gggg,0010-00FF) LO.</summary>
    public static DicomDictionaryEntry? Lookup(DicomTag tag)
    {
        if (ByTag.TryGetValue(tag.Value, out var e)) return e;
        if (tag.Element == 0) return new DicomDictionaryEntry(tag, DicomVR.UL, "GroupLength");
        if (tag.IsPrivateCreator) return new DicomDictionaryEntry(tag, DicomVR.LO, "PrivateCreator");
        return null;
    }

    public static DicomDictionaryEntry? LookupKeyword(string keyword) => ByKeyword.GetValueOrDefault(keyword);

    /// <summary>The VR implied for a tag in an Implicit VR stream (UN when unknown).</summary>
    public static DicomVR ImplicitVR(DicomTag tag) => Lookup(tag)?.VR ?? DicomVR.UN;
}
