using System.IO.Compression;
using static TorchSharp.torch;

namespace MedRecon.Core.IO;

/// <summary>NumPy .npz archives (stored or deflated zip of .npy members), read with <see cref="Npy"/>.</summary>
public static class Npz
{
    /// <summary>All arrays, keyed by member name without the ".npy" suffix, in archive order.</summary>
    public static IReadOnlyDictionary<string, Tensor> Read(string path)
    {
        FileStream fs;
        try { fs = File.OpenRead(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        { throw new InvalidInputFileException(path, $"cannot open: {e.Message}", e); }
        using (fs)
        {
            ZipArchive zip;
            try { zip = new ZipArchive(fs, ZipArchiveMode.Read); }
            catch (InvalidDataException e) { throw new InvalidInputFileException(path, $"not a .npz (zip) archive: {e.Message}", e); }
            using (zip)
            {
                var result = new Dictionary<string, Tensor>();
                foreach (var entry in zip.Entries)
                {
                    if (entry.FullName.EndsWith('/')) continue;
                    string name = entry.FullName.EndsWith(".npy", StringComparison.Ordinal) ? entry.FullName[..^4] : entry.FullName;
                    try
                    {
                        using var s = entry.Open();
                        // Zip streams cannot seek; buffer the member so Npy can check lengths before allocating.
                        if (entry.Length > Array.MaxLength) throw new InvalidInputFileException($"{path}:{entry.FullName}", "member too large");
                        using var ms = new MemoryStream((int)Math.Max(0, entry.Length));
                        s.CopyTo(ms);
                        ms.Position = 0;
                        result[name] = Npy.Read(ms, $"{path}:{entry.FullName}");
                    }
                    catch (InvalidDataException e)
                    { throw new InvalidInputFileException($"{path}:{entry.FullName}", $"corrupt zip member: {e.Message}", e); }
                }
                if (result.Count == 0) throw new InvalidInputFileException(path, "the archive holds no arrays");
                return result;
            }
        }
    }
}
