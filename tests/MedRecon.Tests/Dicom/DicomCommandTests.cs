using MedRecon.Cli;
using MedRecon.Dicom;
using MedRecon.Tests.Infrastructure;

namespace MedRecon.Tests.Dicom;

[Collection("Console")]
public class DicomCommandTests
{
    static (int Code, string Out, string Err) Cli(params string[] args)
    {
        var oldOut = Console.Out;
        var oldErr = Console.Error;
        var o = new StringWriter();
        var e = new StringWriter();
        try
        {
            Console.SetOut(o);
            Console.SetError(e);
            int code = Program.BuildRoot().Parse(args).Invoke();
            return (code, o.ToString(), e.ToString());
        }
        finally
        {
            Console.SetOut(oldOut);
            Console.SetError(oldErr);
        }
    }

    [Fact]
    public void InfoAndExport_OnPhantomSeries()
    {
        using var tmp = new TempDir();
        var vol = Enumerable.Range(0, 12 * 10 * 3).Select(i => (float)(i % 17) * 10 - 50).ToArray();
        DicomSeriesWriter.WritePhantom(vol, 12, 10, 3, new PhantomSeriesOptions { PhantomName = "cli", Spacing = (0.5, 0.5, 2) }, tmp["in"]);
        File.WriteAllText(tmp["in/readme.txt"], "a note that is certainly not a DICOM file");
        var (code, stdout, stderr) = Cli("dicom", "info", tmp["in"]);
        Assert.Equal(0, code);
        Assert.Contains("CT", stdout);
        Assert.Contains("12x10", stdout);
        Assert.Contains("0.5 x 0.5 x 2", stdout);
        Assert.Contains("Explicit VR Little Endian", stdout);
        Assert.Contains("skipped", stdout);
        Assert.DoesNotContain("PHANTOM^MEDRECON", stdout); // no patient identifiers in the output

        (code, stdout, stderr) = Cli("dicom", "export", tmp["in"], "--out", tmp["v.npy"]);
        Assert.True(code == 0, stderr);
        var t = MedRecon.Core.IO.Npy.Read(tmp["v.npy"]);
        Assert.Equal(new long[] { 3, 10, 12 }, t.shape);
        Assert.Equal(TorchSharp.torch.ScalarType.Float32, t.dtype);
        var data = t.data<float>().ToArray();
        for (int i = 0; i < vol.Length; i++) Assert.Equal(vol[i], data[i], 3);
    }

    [Fact]
    public void Errors_OneLineOnStderr_ExitCode2()
    {
        using var tmp = new TempDir();
        File.WriteAllText(tmp["x.dcm"], "not dicom at all, but long enough to look like a file");
        var (code, _, err) = Cli("dicom", "export", tmp["x.dcm"], "--out", tmp["v.npy"]);
        Assert.Equal(2, code);
        Assert.Single(err.Trim().Split('\n'));
        Assert.Contains("no image series found", err);
        (code, _, err) = Cli("dicom", "info", tmp["missing"]);
        Assert.Equal(2, code);
        Assert.Contains("no such file or folder", err);
        Assert.False(File.Exists(tmp["v.npy"]));
    }
}
