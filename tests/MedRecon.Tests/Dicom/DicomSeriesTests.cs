using System.Diagnostics;
using MedRecon.Dicom;
using MedRecon.Tests.Infrastructure;

namespace MedRecon.Tests.Dicom;

public class DicomSeriesTests
{
    [SkippableFact]
    public void Philips_LoadsAsOneVolume_WithSpacingAndHU()
    {
        var folder = DicomTestData.PhilipsFolder;
        Skip.If(folder == null, "shared data (philips-phantom-head-1mm) not present");
        var sw = Stopwatch.StartNew();
        var result = DicomSeriesLoader.Load(folder!);
        var series = Assert.Single(result.Series);
        var vol = series.ToVolume();
        sw.Stop();
        Console.WriteLine($"Philips 140x512x512 load + volume: {sw.ElapsedMilliseconds} ms");
        Assert.Empty(result.Skipped);
        Assert.Equal(140, vol.Depth);
        Assert.Equal(512, vol.Width);
        Assert.Equal(512, vol.Height);
        Assert.Equal(0.451171875, vol.Spacing.X, 9);
        Assert.Equal(0.451171875, vol.Spacing.Y, 9);
        Assert.Equal(1.0, vol.Spacing.Z, 3);
        Assert.True(vol.IsHounsfield);
        Assert.Empty(series.Warnings);
        Assert.True(series.SortedByPosition);
        Assert.Equal(-1024f, vol.Voxels.Min());
        // slice order: increasing position along the normal
        var z = series.Instances.Select(i => i.Dataset.GetValue<double>(DicomTag.ImagePositionPatient, 2)).ToList();
        Assert.Equal(z.OrderBy(v => v), z);
        // voxels equal each slice's HU
        var px = DicomPixelData.Create(series.Instances[70]);
        var hu = px.GetFrame(0);
        for (int i = 0; i < hu.Length; i += 997) Assert.Equal((float)hu[i], vol.Voxels[70 * 512 * 512 + i]);
    }

    static DicomDataset Slice(string series, double z, int instance, double tilt = 0, bool geometry = true)
    {
        var ds = DicomTestData.MakeImage(rows: 8, cols: 8, seed: instance);
        ds.AddOrUpdate(DicomTag.SeriesInstanceUID, series);
        ds.AddOrUpdate(DicomTag.InstanceNumber, instance);
        if (geometry) ds.AddOrUpdate(DicomTag.ImagePositionPatient, 0.0, 0.0, z);
        else
        {
            ds.Remove(DicomTag.ImagePositionPatient);
            ds.Remove(DicomTag.ImageOrientationPatient);
        }
        if (tilt != 0) ds.AddOrUpdate(DicomTag.GantryDetectorTilt, tilt);
        return ds;
    }

    static DicomLoadResult LoadSlices(TempDir tmp, IEnumerable<DicomDataset> slices)
    {
        int k = 0;
        foreach (var s in slices) new DicomFile(s).Save(tmp[$"f{k++:D3}.dcm"]);
        return DicomSeriesLoader.Load(tmp.Path);
    }

    [Fact]
    public void Series_SortedByPositionAlongNormal_NotFileOrderOrInstanceNumber()
    {
        using var tmp = new TempDir();
        var uid = DicomUID.Generate();
        var r = LoadSlices(tmp, new[] { 3.0, 1.0, 2.0, 0.0 }.Select((z, i) => Slice(uid, z, instance: 10 - i)));
        var s = Assert.Single(r.Series);
        Assert.Equal(new[] { 0.0, 1.0, 2.0, 3.0 }, s.Instances.Select(i => i.Dataset.GetValue<double>(DicomTag.ImagePositionPatient, 2)));
        Assert.Equal(1.0, s.Spacing.Z, 9);
        Assert.Empty(s.Warnings);
    }

    [Fact]
    public void Series_FallsBackToInstanceNumber_AndWarns()
    {
        using var tmp = new TempDir();
        var uid = DicomUID.Generate();
        var r = LoadSlices(tmp, new[] { 3, 1, 2 }.Select(n => Slice(uid, 0, n, geometry: false)));
        var s = Assert.Single(r.Series);
        Assert.Equal(new[] { 1, 2, 3 }, s.Instances.Select(i => i.Dataset.GetValue<int>(DicomTag.InstanceNumber)));
        Assert.Contains(s.Warnings, w => w.Contains("InstanceNumber"));
    }

    [Fact]
    public void Series_ReportsGapsUnevenSpacingAndTilt()
    {
        using var tmp = new TempDir();
        string a = DicomUID.Generate(), b = DicomUID.Generate(), c = DicomUID.Generate();
        var slices = new List<DicomDataset>();
        slices.AddRange(new[] { 0.0, 1, 2, 4, 5 }.Select((z, i) => Slice(a, z, i + 1)));           // gap (missing slice 3)
        slices.AddRange(new[] { 0.0, 1, 2.1, 3, 4 }.Select((z, i) => Slice(b, z, i + 1)));         // uneven
        slices.AddRange(new[] { 0.0, 1, 2 }.Select((z, i) => Slice(c, z, i + 1, tilt: 15)));       // tilt
        var r = LoadSlices(tmp, slices);
        Assert.Equal(3, r.Series.Count);
        Assert.Contains(r.Series.Single(s => s.SeriesInstanceUID == a).Warnings, w => w.Contains("gap"));
        Assert.Contains(r.Series.Single(s => s.SeriesInstanceUID == b).Warnings, w => w.Contains("uneven"));
        Assert.Contains(r.Series.Single(s => s.SeriesInstanceUID == c).Warnings, w => w.Contains("tilt"));
    }

    [Fact]
    public void Folder_WithBadFiles_LoadsGoodSeriesAndListsBadOnes()
    {
        using var tmp = new TempDir();
        var vol = Enumerable.Range(0, 16 * 16 * 4).Select(i => (float)(i % 50) - 10f).ToArray();
        DicomSeriesWriter.WritePhantom(vol, 16, 16, 4, new PhantomSeriesOptions { PhantomName = "bad-files" }, tmp["sub/series"]);
        File.WriteAllText(tmp["notes.txt"], "not DICOM at all, just a note that is long enough to be read");
        var good = Directory.GetFiles(tmp["sub/series"])[0];
        var bytes = File.ReadAllBytes(good);
        File.WriteAllBytes(tmp["truncated.dcm"], bytes[..(bytes.Length - 100)]); // cut inside the pixel data
        var r = DicomSeriesLoader.Load(tmp.Path);
        var s = Assert.Single(r.Series);
        Assert.Equal(4, s.SliceCount);
        Assert.Equal(2, r.Skipped.Count);
        Assert.Contains(r.Skipped, x => x.Path.EndsWith("notes.txt") && x.Reason.Contains("not a DICOM file"));
        Assert.Contains(r.Skipped, x => x.Path.EndsWith("truncated.dcm"));
        var v = s.ToVolume();
        for (int i = 0; i < vol.Length; i++) Assert.Equal(vol[i], v.Voxels[i]);
    }
}
