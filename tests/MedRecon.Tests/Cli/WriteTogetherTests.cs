using MedRecon.Cli;
using MedRecon.Tests.Infrastructure;

namespace MedRecon.Tests.Cli;

/// <summary><see cref="CliSupport.WriteTogether"/>: outputs that belong together appear together or not at all.</summary>
public class WriteTogetherTests
{
    [Fact]
    public void AFailingSecondWriterLeavesNeitherOutputNorTemporaryFiles()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir["x.txt"], "earlier");
        var e = Assert.Throws<IOException>(() => CliSupport.WriteTogether(
            (dir["x.txt"], tmp => File.WriteAllText(tmp, "mean")),
            (dir["x.std.txt"], _ => throw new IOException("disk full"))));
        Assert.Equal("disk full", e.Message);
        Assert.Equal("earlier", File.ReadAllText(dir["x.txt"])); // the earlier output is untouched
        Assert.False(File.Exists(dir["x.std.txt"]));
        Assert.Single(Directory.GetFileSystemEntries(dir.Path)); // no temporary files left

        // Both succeed: files and a folder (a DICOM series) are moved into place.
        CliSupport.WriteTogether(
            (dir["x.txt"], tmp => File.WriteAllText(tmp, "mean")),
            (dir["series"], tmp => { Directory.CreateDirectory(tmp); File.WriteAllText(Path.Combine(tmp, "1.dcm"), "d"); }));
        Assert.Equal("mean", File.ReadAllText(dir["x.txt"]));
        Assert.True(File.Exists(Path.Combine(dir["series"], "1.dcm")));
        Assert.Equal(2, Directory.GetFileSystemEntries(dir.Path).Length);
    }
}
