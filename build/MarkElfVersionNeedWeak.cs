using System;
using System.IO;
using System.Text;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

// Sets VER_FLG_WEAK on one version-need entry of an ELF64 little-endian shared object, so the dynamic loader
// accepts a system library that lacks that version. Used on TorchSharp's native glue (see Directory.Build.targets).
public class MarkElfVersionNeedWeak : Task
{
    [Required] public ITaskItem[] Files { get; set; }
    [Required] public string Version { get; set; }

    const uint ShtGnuVerneed = 0x6ffffffe;
    const ushort VerFlgWeak = 0x2;

    static readonly string[] SystemLibStdCxx =
    {
        "/usr/lib/x86_64-linux-gnu/libstdc++.so.6", "/lib/x86_64-linux-gnu/libstdc++.so.6",
        "/usr/lib64/libstdc++.so.6", "/usr/lib/libstdc++.so.6", "/usr/lib/aarch64-linux-gnu/libstdc++.so.6",
    };

    public override bool Execute()
    {
        string system = Array.Find(SystemLibStdCxx, File.Exists);
        if (system == null) { Log.LogMessage(MessageImportance.Low, "No system libstdc++ found; nothing to patch."); return true; }
        if (Contains(File.ReadAllBytes(system), Encoding.ASCII.GetBytes(Version + "\0")))
        {
            Log.LogMessage(MessageImportance.Low, $"{system} provides {Version}; no patch needed.");
            return true;
        }
        foreach (var item in Files)
        {
            try
            {
                int n = Patch(item.ItemSpec, Version);
                Log.LogMessage(MessageImportance.Normal, $"{item.ItemSpec}: {Version} need marked weak ({n} entries).");
            }
            catch (Exception e)
            {
                Log.LogWarning($"Could not patch {item.ItemSpec}: {e.Message}");
            }
        }
        return !Log.HasLoggedErrors;
    }

    static bool Contains(byte[] hay, byte[] needle)
    {
        for (int i = 0; i + needle.Length <= hay.Length; i++)
        {
            int j = 0;
            while (j < needle.Length && hay[i + j] == needle[j]) j++;
            if (j == needle.Length) return true;
        }
        return false;
    }

    static int Patch(string path, string version)
    {
        byte[] b = File.ReadAllBytes(path);
        if (b.Length < 64 || b[0] != 0x7f || b[1] != (byte)'E' || b[4] != 2 || b[5] != 1)
            throw new InvalidDataException("not an ELF64 little-endian file");
        long shoff = BitConverter.ToInt64(b, 0x28);
        int shentsize = BitConverter.ToUInt16(b, 0x3A), shnum = BitConverter.ToUInt16(b, 0x3C);
        int patched = 0;
        for (int s = 0; s < shnum; s++)
        {
            long sh = shoff + (long)s * shentsize;
            if (BitConverter.ToUInt32(b, (int)sh + 4) != ShtGnuVerneed) continue;
            long off = BitConverter.ToInt64(b, (int)sh + 0x18);
            int link = (int)BitConverter.ToUInt32(b, (int)sh + 0x28);
            long strOff = BitConverter.ToInt64(b, (int)(shoff + (long)link * shentsize) + 0x18);
            long vn = off;
            while (true)
            {
                int cnt = BitConverter.ToUInt16(b, (int)vn + 2);
                long aux = vn + BitConverter.ToUInt32(b, (int)vn + 8);
                for (int a = 0; a < cnt; a++)
                {
                    long name = strOff + BitConverter.ToUInt32(b, (int)aux + 8);
                    int end = (int)name;
                    while (b[end] != 0) end++;
                    if (Encoding.ASCII.GetString(b, (int)name, end - (int)name) == version)
                    {
                        ushort flags = BitConverter.ToUInt16(b, (int)aux + 4);
                        if ((flags & VerFlgWeak) == 0)
                        {
                            flags |= VerFlgWeak;
                            BitConverter.GetBytes(flags).CopyTo(b, (int)aux + 4);
                        }
                        patched++;
                    }
                    uint next = BitConverter.ToUInt32(b, (int)aux + 12);
                    if (next == 0) break;
                    aux += next;
                }
                uint vnNext = BitConverter.ToUInt32(b, (int)vn + 12);
                if (vnNext == 0) break;
                vn += vnNext;
            }
        }
        if (patched == 0) throw new InvalidDataException($"no version need named {version}");
        string tmp = path + ".patching";
        File.WriteAllBytes(tmp, b);
        File.Copy(tmp, path, true);
        File.Delete(tmp);
        return patched;
    }
}
