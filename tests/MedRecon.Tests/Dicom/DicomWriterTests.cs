using MedRecon.Dicom;
using MedRecon.Tests.Infrastructure;

namespace MedRecon.Tests.Dicom;

public class DicomWriterTests
{
    static List<string> DciodvfyErrors(string file)
    {
        var (_, o, e) = ExternalTools.Run("dciodvfy", new[] { file });
        return (o + "\n" + e).Split('\n').Where(l => l.StartsWith("Error")).ToList();
    }

    static float[] Pattern(int w, int h, int d, double scale, double offset)
    {
        var v = new float[w * h * d];
        for (int i = 0; i < v.Length; i++) v[i] = (float)(offset + scale * Math.Sin(i * 0.0123) * Math.Cos(i * 0.00071));
        return v;
    }

    [Theory]
    [InlineData("CT")]
    [InlineData("MR")]
    public void Phantom_And_Derived_Series_HaveValuesAndReferences(string modality)
    {
        using var tmp = new TempDir();
        var vol = Pattern(24, 20, 3, modality == "CT" ? 1500 : 300, modality == "CT" ? -200 : 400);
        var files = DicomSeriesWriter.WritePhantom(vol, 24, 20, 3, new PhantomSeriesOptions { Modality = modality, PhantomName = "Shepp-Logan", Spacing = (0.5, 0.6, 2) }, tmp["phantom"]);
        Assert.Equal(3, files.Count);
        Assert.All(files, f => Assert.StartsWith(tmp["phantom"], f));
        Assert.Empty(Directory.GetDirectories(tmp.Path, ".medrecon-tmp-*", SearchOption.AllDirectories));
        var src = Assert.Single(DicomSeriesLoader.Load(tmp["phantom"]).Series);
        var first = src.Instances[0].Dataset;
        Assert.Equal("PHANTOM^MEDRECON", first.GetString(DicomTag.PatientName));
        Assert.Contains("phantom", first.GetString(DicomTag.StudyDescription), StringComparison.OrdinalIgnoreCase);
        Assert.Equal((0.5, 0.6, 2.0), src.Spacing);
        var v = src.ToVolume();
        double slope = first.GetValue<double>(DicomTag.RescaleSlope);
        for (int i = 0; i < vol.Length; i++) Assert.InRange(v.Voxels[i] - vol[i], -slope * 0.51 - 1e-3, slope * 0.51 + 1e-3);

        // derived series from the phantom
        var recon = v.Voxels.Select(x => x * 0.5f + 3.25f).ToArray();
        var derived = DicomSeriesWriter.WriteDerived(src, recon, 24, 20, 3,
            new DerivedSeriesOptions { DerivationDescription = "MedRecon CM zero-shot; operator: test; NFE 2" }, tmp["derived"]);
        var ds = Assert.Single(DicomSeriesLoader.Load(tmp["derived"]).Series);
        var d0 = ds.Instances[0].Dataset;
        Assert.NotEqual(src.SeriesInstanceUID, ds.SeriesInstanceUID);
        Assert.StartsWith("2.25.", ds.SeriesInstanceUID);
        Assert.StartsWith("2.25.", d0.GetString(DicomTag.SOPInstanceUID));
        Assert.Equal(first.GetString(DicomTag.StudyInstanceUID), d0.GetString(DicomTag.StudyInstanceUID));
        Assert.Equal(first.GetString(DicomTag.PatientID), d0.GetString(DicomTag.PatientID));
        Assert.Equal(first.GetString(DicomTag.FrameOfReferenceUID), d0.GetString(DicomTag.FrameOfReferenceUID));
        Assert.Equal("DERIVED", d0.GetValue<string>(DicomTag.ImageType, 0));
        Assert.Equal("SECONDARY", d0.GetValue<string>(DicomTag.ImageType, 1));
        Assert.Contains("NFE 2", d0.GetString(DicomTag.DerivationDescription));
        var srcItem = Assert.Single(d0.GetSequence(DicomTag.SourceImageSequence).Items);
        Assert.Equal(first.GetString(DicomTag.SOPInstanceUID), srcItem.GetString(DicomTag.ReferencedSOPInstanceUID));
        var refSeries = Assert.Single(d0.GetSequence(DicomTag.ReferencedSeriesSequence).Items);
        Assert.Equal(src.SeriesInstanceUID, refSeries.GetString(DicomTag.SeriesInstanceUID));
        Assert.Equal(3, refSeries.GetSequence(DicomTag.ReferencedInstanceSequence).Items.Count);
        Assert.Equal(first.GetValues<double>(DicomTag.ImagePositionPatient), d0.GetValues<double>(DicomTag.ImagePositionPatient));
        Assert.Equal(first.GetString(DicomTag.WindowCenter), d0.GetString(DicomTag.WindowCenter));
        var dv = ds.ToVolume();
        double dslope = d0.GetValue<double>(DicomTag.RescaleSlope);
        for (int i = 0; i < recon.Length; i++) Assert.InRange(dv.Voxels[i] - recon[i], -dslope * 0.51 - 1e-3, dslope * 0.51 + 1e-3);
    }

    [Fact]
    public void IntegerValues_AreStoredExactlyWithUnitSlope()
    {
        var (slope, intercept, signed) = DicomSeriesWriter.ChooseRescale(new float[] { -1024, 0, 3071 });
        Assert.Equal((1.0, 0.0, true), (slope, intercept, signed));
        var r = DicomSeriesWriter.ChooseRescale(new float[] { -0.5f, 1e6f });
        Assert.False(r.Signed);
        Assert.True((1e6 - r.Intercept) / r.Slope <= 65535.5);
        Assert.True(r.Intercept <= -0.5);
    }

    [SkippableTheory]
    [InlineData("CT")]
    [InlineData("MR")]
    public void Output_PassesDciodvfy_DcmdumpAndPydicom(string modality)
    {
        ExternalTools.RequireTool("dciodvfy", "dicom3tools");
        ExternalTools.RequireTool("dcmdump", "dcmtk");
        ExternalTools.RequirePython("pydicom", "numpy");
        using var tmp = new TempDir();
        var vol = Pattern(32, 32, 2, 800, 100);
        var phantom = DicomSeriesWriter.WritePhantom(vol, 32, 32, 2, new PhantomSeriesOptions { Modality = modality, PhantomName = "Shepp-Logan" }, tmp["p"]);
        var src = DicomSeriesLoader.Load(tmp["p"]).Series[0];
        var derived = DicomSeriesWriter.WriteDerived(src, vol.Select(x => x + 1).ToArray(), 32, 32, 2,
            new DerivedSeriesOptions { DerivationDescription = "test" }, tmp["d"]);
        var all = phantom.Concat(derived).ToList();
        foreach (var f in all)
        {
            Assert.Empty(DciodvfyErrors(f));
            var (code, _, err) = ExternalTools.Run("dcmdump", new[] { "-q", f });
            Assert.True(code == 0 && err.Length == 0, err);
        }
        var reference = DicomTestData.PydicomReference(all);
        foreach (var f in all) Assert.Equal(reference[f].GetProperty("sha256").GetString(), DicomTestData.StoredHash(DicomFile.Open(f)));
    }

    [SkippableFact]
    public void DerivedFromPhilips_PassesDciodvfy()
    {
        var folder = DicomTestData.PhilipsFolder;
        Skip.If(folder == null, "shared data not present");
        ExternalTools.RequireTool("dciodvfy", "dicom3tools");
        using var tmp = new TempDir();
        var slices = new[] { "I10", "I100", "I1000" }.Select(n => DicomFile.Open(Path.Combine(folder!, n)).Dataset).ToList();
        var vox = new float[3 * 512 * 512];
        for (int z = 0; z < 3; z++)
            DicomPixelData.Create(slices[z], DicomTransferSyntax.ExplicitVRLittleEndian).GetFrameFloat(0).CopyTo(vox, z * 512 * 512);
        for (int i = 0; i < vox.Length; i++) vox[i] = vox[i] * 0.9f + 0.3f; // a "reconstruction": not integers
        var files = DicomSeriesWriter.WriteDerived(slices, vox, 512, 512, 3, new DerivedSeriesOptions { DerivationDescription = "FBP, 60 views" }, tmp["d"]);
        foreach (var f in files) Assert.Empty(DciodvfyErrors(f));
        var d = DicomFile.Open(files[0]).Dataset;
        Assert.Equal("HEAD", d.GetString(DicomTag.PatientName));
        Assert.Equal(slices[0].GetString(DicomTag.StudyInstanceUID), d.GetString(DicomTag.StudyInstanceUID));
    }

    [Fact]
    public void Writer_FailureLeavesNothing_AndNamesStayInside()
    {
        using var tmp = new TempDir();
        var vol = new float[8 * 8 * 2];
        vol[5] = float.NaN;
        Assert.Throws<ArgumentException>(() => DicomSeriesWriter.WritePhantom(vol, 8, 8, 2, new PhantomSeriesOptions(), tmp["out"]));
        Assert.False(Directory.Exists(tmp["out"]));
        Assert.Empty(Directory.GetFileSystemEntries(tmp.Path));
        Assert.Equal("etc_passwd", DicomSeriesWriter.SafeFileName("../../etc/passwd").Trim('_', '.'));
        Assert.DoesNotContain('/', DicomSeriesWriter.SafeFileName("1.2/../3"));
        Assert.DoesNotContain("..", DicomSeriesWriter.SafeFileName("..").Replace("_", ""));
    }

    [Fact]
    public void Deidentify_RemovesIdentifiers_RemapsUidsConsistently()
    {
        using var tmp = new TempDir();
        var vol = Pattern(8, 8, 2, 100, 0);
        DicomSeriesWriter.WritePhantom(vol, 8, 8, 2, new PhantomSeriesOptions(), tmp["p"]);
        var src = DicomSeriesLoader.Load(tmp["p"]).Series[0];
        DicomSeriesWriter.WriteDerived(src, vol, 8, 8, 2, new DerivedSeriesOptions { DerivationDescription = "x" }, tmp["d"]);
        var derived = DicomSeriesLoader.Load(tmp["d"]).Series[0];
        var files = src.Instances.Concat(derived.Instances).ToList();
        foreach (var f in files)
        {
            f.Dataset.AddOrUpdate(DicomTag.PatientName, "Secretname^Known");
            f.Dataset.AddOrUpdate(DicomTag.InstitutionName, "Secret Hospital");
            f.Dataset.AddOrUpdate(DicomVR.LO, new DicomTag(0x0011, 0x0010), "Secretvendor");
            f.Dataset.AddOrUpdate(DicomTag.PatientBirthDate, "19700101");
        }
        var deid = new DicomDeidentifier("PSEUDO^ONE");
        var outs = files.Select(f => deid.Deidentify(f.Dataset)).ToList();
        int k = 0;
        foreach (var ds in outs)
        {
            var path = tmp[$"o{k++}.dcm"];
            new DicomFile(ds).Save(path);
            var text = System.Text.Encoding.Latin1.GetString(File.ReadAllBytes(path));
            Assert.DoesNotContain("Secret", text);
            Assert.DoesNotContain("19700101", text);
            Assert.DoesNotContain(src.Instances[0].Dataset.GetString(DicomTag.StudyInstanceUID), text);
            Assert.Equal("YES", ds.GetString(DicomTag.PatientIdentityRemoved));
            Assert.Equal("REMOVED", ds.GetString(DicomTag.LongitudinalTemporalInformationModified));
            Assert.Equal("PSEUDO^ONE", ds.GetString(DicomTag.PatientName));
            Assert.DoesNotContain(ds, i => i.Tag.IsPrivate);
        }
        Assert.Single(outs.Select(o => o.GetString(DicomTag.StudyInstanceUID)).Distinct());
        Assert.Equal(DicomUID.CTImageStorage, outs[0].GetString(DicomTag.SOPClassUID));
        // references inside the set still resolve
        var refUid = outs[2].GetSequence(DicomTag.SourceImageSequence).Items[0].GetString(DicomTag.ReferencedSOPInstanceUID);
        Assert.Equal(outs[0].GetString(DicomTag.SOPInstanceUID), refUid);
        Assert.Equal(outs[0].GetString(DicomTag.SeriesInstanceUID),
            outs[2].GetSequence(DicomTag.ReferencedSeriesSequence).Items[0].GetString(DicomTag.SeriesInstanceUID));
    }
}
