using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using MedRecon.Core.IO;
using TorchSharp;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace MedRecon.Model;

/// <summary>What a weights file says about itself (the safetensors <c>__metadata__</c>, all values strings).</summary>
public sealed record ModelMetadata
{
    public UNetConfig Architecture { get; init; } = new();
    public NoiseParameters Noise { get; init; } = new();
    /// <summary>"ct" or "mr" (or empty).</summary>
    public string Modality { get; init; } = "";
    /// <summary>Human-readable normalisation, e.g. "HU [-1024,3071] -> [-1,1]".</summary>
    public string Normalisation { get; init; } = "";
    /// <summary>Training stage of these weights: "denoiser" (EDM) or "consistency".</summary>
    public string Stage { get; init; } = "";
    public long Steps { get; init; }
    /// <summary>Which weights: "ema" or "online".</summary>
    public string Weights { get; init; } = "ema";
}

/// <summary>
/// Weights I/O: safetensors written with TorchSharp.PyBridge (<c>save_safetensors</c>/<c>load_safetensors</c>, so
/// PyTorch users can read them with <c>safetensors.torch.load_file</c>), with the architecture, noise parameters and
/// normalisation stored as JSON strings in the header's <c>__metadata__</c> (key <c>medrecon</c>). Loading checks the
/// architecture before touching any tensor and fails with a message that says what differs. float16 files (the twin's
/// <c>resave --half</c>, for networks that would not fit the 20 MB a shipped model may take) load too: each tensor is
/// cast into the float32 parameter (tested in TwinTests).
/// </summary>
public static class ModelIO
{
    public const string MetadataKey = "medrecon";
    static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    /// <summary>Writes the network's weights and metadata (temporary file, then moved into place).</summary>
    public static void Save(UNet network, ModelMetadata metadata, string path)
    {
        if (!metadata.Architecture.SameArchitecture(network.Config))
            throw new ArgumentException("metadata architecture differs from the network's");
        string full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        string tmp = full + ".tmp-" + Environment.ProcessId;
        try
        {
            network.save_safetensors(tmp);
            AddMetadata(tmp, new Dictionary<string, string>
            {
                [MetadataKey] = JsonSerializer.Serialize(metadata, Json),
                ["format"] = "pt",
            });
            File.Move(tmp, full, overwrite: true);
        }
        catch
        {
            try { File.Delete(tmp); } catch (IOException) { }
            throw;
        }
    }

    /// <summary>Reads only the metadata of a weights file.</summary>
    public static ModelMetadata ReadMetadata(string path)
    {
        var meta = ReadHeaderMetadata(path);
        if (!meta.TryGetValue(MetadataKey, out var json))
            throw new InvalidInputFileException(path, $"no MedRecon metadata ('{MetadataKey}' in the safetensors __metadata__): not a MedRecon model file, architecture unknown");
        try { return JsonSerializer.Deserialize<ModelMetadata>(json, Json) ?? throw new JsonException("null"); }
        catch (JsonException e) { throw new InvalidInputFileException(path, $"unreadable MedRecon metadata: {e.Message}", e); }
    }

    /// <summary>Builds the network the file describes and loads its weights.</summary>
    public static (ConsistencyFunction Function, ModelMetadata Metadata) Load(string path, Device? device = null)
    {
        var meta = ReadMetadata(path);
        var net = new UNet(meta.Architecture);
        LoadInto(net, path, meta);
        if (device != null) net.to(device);
        net.eval();
        return (new ConsistencyFunction(net, meta.Noise), meta);
    }

    /// <summary>Loads weights into an existing network; throws <see cref="ModelArchitectureMismatchException"/> when the file was written for another architecture.</summary>
    public static ModelMetadata LoadInto(UNet network, string path) => LoadInto(network, path, ReadMetadata(path));

    static ModelMetadata LoadInto(UNet network, string path, ModelMetadata meta)
    {
        if (!meta.Architecture.SameArchitecture(network.Config))
            throw new ModelArchitectureMismatchException(path, meta.Architecture, network.Config);
        CheckTensorTable(network, path);
        try { network.load_safetensors(path, strict: true); }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // libtorch appends a C++ backtrace; the first line is the message.
            string first = e.Message.Split('\n', 2)[0].Trim();
            throw new InvalidInputFileException(path, $"weights could not be loaded: {(first.Length > 200 ? first[..200] + "…" : first)}", e);
        }
        return meta;
    }

    static bool TryLongs(JsonArray array, out long[] values)
    {
        values = new long[array.Count];
        for (int i = 0; i < array.Count; i++)
            if (array[i] is not JsonValue v || !v.TryGetValue<long>(out values[i]) || values[i] < 0) return false;
        return true;
    }

    /// <summary>
    /// Compares the file's tensor table with the network before libtorch reads it, so a truncated file or weights that
    /// disagree with the metadata's architecture get a message that says which (names, shapes, bytes).
    /// </summary>
    static void CheckTensorTable(UNet network, string path)
    {
        var header = ReadHeader(path, out long headerLength);
        long fileLength = new FileInfo(path).Length;
        var inFile = new Dictionary<string, long[]>();
        long needed = 8 + headerLength;
        foreach (var (name, node) in header)
        {
            if (name == "__metadata__") continue;
            if (node is not JsonObject entry || entry["shape"] is not JsonArray shape || entry["data_offsets"] is not JsonArray offsets || offsets.Count != 2
                || !TryLongs(shape, out var dims) || !TryLongs(offsets, out var span) || span[0] < 0 || span[1] < span[0])
                throw new InvalidInputFileException(path, $"safetensors entry '{name}': shape/data_offsets are not lists of non-negative integers");
            inFile[name] = dims;
            needed = Math.Max(needed, 8 + headerLength + span[1]);
        }
        if (needed > fileLength)
            throw new InvalidInputFileException(path, $"truncated: its tensor table needs {needed} bytes, the file has {fileLength}");
        var expected = network.state_dict();
        foreach (var (name, tensor) in expected)
        {
            if (!inFile.TryGetValue(name, out var shape))
                throw new InvalidInputFileException(path, $"weights and metadata disagree: tensor '{name}' of the architecture in its metadata is missing from the file");
            if (!shape.SequenceEqual(tensor.shape))
                throw new InvalidInputFileException(path, $"weights and metadata disagree: tensor '{name}' is [{string.Join(",", shape)}] in the file, " +
                                                          $"[{string.Join(",", tensor.shape)}] in the architecture its metadata describes");
        }
        var extra = inFile.Keys.Where(k => !expected.ContainsKey(k)).Take(3).ToList();
        if (extra.Count > 0)
            throw new InvalidInputFileException(path, $"weights and metadata disagree: the file holds tensors the architecture in its metadata has no place for ('{string.Join("', '", extra)}')");
    }

    // --- safetensors header (8-byte little-endian length + JSON) -------------------------------------------------

    static Dictionary<string, string> ReadHeaderMetadata(string path)
    {
        JsonObject header = ReadHeader(path, out _);
        var result = new Dictionary<string, string>();
        if (header["__metadata__"] is JsonObject m)
            foreach (var kv in m)
                if (kv.Value is JsonValue v && v.TryGetValue<string>(out var s)) result[kv.Key] = s;
        return result;
    }

    static JsonObject ReadHeader(string path, out long headerLength)
    {
        try
        {
            using var fs = File.OpenRead(path);
            Span<byte> lenBytes = stackalloc byte[8];
            if (fs.Read(lenBytes) != 8) throw new InvalidInputFileException(path, "not a safetensors file (shorter than 8 bytes)");
            ulong len = BinaryPrimitives.ReadUInt64LittleEndian(lenBytes);
            if (len > 100_000_000 || (long)len > fs.Length - 8) throw new InvalidInputFileException(path, $"not a safetensors file (header length {len} at offset 0 is impossible for a {fs.Length}-byte file)");
            var hb = new byte[len];
            fs.ReadExactly(hb);
            headerLength = (long)len;
            return JsonNode.Parse(Encoding.UTF8.GetString(hb)) as JsonObject
                   ?? throw new InvalidInputFileException(path, "safetensors header is not a JSON object");
        }
        catch (JsonException e) { throw new InvalidInputFileException(path, $"safetensors header at offset 8 is not valid JSON: {e.Message}", e); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        { throw new InvalidInputFileException(path, $"cannot read: {e.Message}", e); }
    }

    /// <summary>Rewrites a safetensors file's header with a <c>__metadata__</c> map (values must be strings).</summary>
    static void AddMetadata(string path, IReadOnlyDictionary<string, string> metadata)
    {
        var header = ReadHeader(path, out long oldLen);
        var m = new JsonObject();
        foreach (var kv in metadata) m[kv.Key] = kv.Value;
        header.Remove("__metadata__");
        var ordered = new JsonObject { ["__metadata__"] = m };
        foreach (var kv in header.ToList())
        {
            header.Remove(kv.Key);
            ordered[kv.Key] = kv.Value;
        }
        var hb = Encoding.UTF8.GetBytes(ordered.ToJsonString());
        int pad = (8 - hb.Length % 8) % 8; // keep the data 8-byte aligned, padding with spaces as the spec allows
        var newHeader = new byte[hb.Length + pad];
        hb.CopyTo(newHeader, 0);
        for (int i = hb.Length; i < newHeader.Length; i++) newHeader[i] = (byte)' ';
        byte[] body;
        using (var fs = File.OpenRead(path))
        {
            fs.Position = 8 + oldLen;
            body = new byte[fs.Length - fs.Position];
            fs.ReadExactly(body);
        }
        using var outFs = File.Create(path);
        Span<byte> len = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)newHeader.Length);
        outFs.Write(len);
        outFs.Write(newHeader);
        outFs.Write(body);
    }
}

/// <summary>A weights file was written for a different network architecture than the one it is loaded into.</summary>
public sealed class ModelArchitectureMismatchException : Exception
{
    public ModelArchitectureMismatchException(string path, UNetConfig inFile, UNetConfig expected)
        : base($"{path}: model architecture mismatch: the file holds a UNet {Describe(inFile)}, but the network is a UNet {Describe(expected)}. " +
               "Build the network from the file's metadata (ModelIO.Load) or pass the matching model file.")
    {
        FilePath = path;
        InFile = inFile;
        Expected = expected;
    }

    public string FilePath { get; }
    public UNetConfig InFile { get; }
    public UNetConfig Expected { get; }

    static string Describe(UNetConfig c) =>
        $"with widths [{string.Join(",", c.Widths)}], {c.ResBlocksPerLevel} res blocks/level, channels {c.InChannels}->{c.OutChannels}, embedding {c.EffectiveEmbeddingDim}";
}
