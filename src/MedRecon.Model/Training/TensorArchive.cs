using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using MedRecon.Core.IO;
using TorchSharp;
using static TorchSharp.torch;

namespace MedRecon.Model.Training;

/// <summary>
/// A named set of float32/int64 tensors in the safetensors layout, for training checkpoints that hold several modules
/// and optimizer state in one file (PyBridge's module extension saves one module at a time). Readable by
/// <c>safetensors.torch.load_file</c>.
/// </summary>
public static class TensorArchive
{
    static readonly Dictionary<ScalarType, string> Codes = new()
    {
        [ScalarType.Float32] = "F32", [ScalarType.Float64] = "F64", [ScalarType.Int64] = "I64",
        [ScalarType.Int32] = "I32", [ScalarType.Byte] = "U8",
    };

    public static void Write(string path, IEnumerable<KeyValuePair<string, Tensor>> tensors)
    {
        var list = tensors.Select(kv => (kv.Key, T: kv.Value.detach().cpu().contiguous())).ToList();
        try
        {
            var header = new JsonObject();
            long offset = 0;
            foreach (var (name, t) in list)
            {
                if (!Codes.TryGetValue(t.dtype, out var code)) throw new ArgumentException($"tensor '{name}': dtype {t.dtype} not supported");
                long len = t.numel() * t.ElementSize;
                header[name] = new JsonObject
                {
                    ["dtype"] = code,
                    ["shape"] = new JsonArray(t.shape.Select(s => (JsonNode)JsonValue.Create(s)!).ToArray()),
                    ["data_offsets"] = new JsonArray(JsonValue.Create(offset), JsonValue.Create(offset + len)),
                };
                offset += len;
            }
            var hb = Encoding.UTF8.GetBytes(header.ToJsonString());
            int pad = (8 - hb.Length % 8) % 8;
            string tmp = path + ".tmp-" + Environment.ProcessId;
            try
            {
                using (var fs = File.Create(tmp))
                {
                    Span<byte> len8 = stackalloc byte[8];
                    BinaryPrimitives.WriteUInt64LittleEndian(len8, (ulong)(hb.Length + pad));
                    fs.Write(len8);
                    fs.Write(hb);
                    for (int i = 0; i < pad; i++) fs.WriteByte((byte)' ');
                    foreach (var (_, t) in list)
                        if (t.numel() > 0) fs.Write(t.bytes);
                }
                File.Move(tmp, path, overwrite: true);
            }
            catch
            {
                try { File.Delete(tmp); } catch (IOException) { }
                throw;
            }
        }
        finally
        {
            foreach (var (_, t) in list) t.Dispose();
        }
    }

    public static Dictionary<string, Tensor> Read(string path)
    {
        byte[] all;
        try { all = File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        { throw new InvalidInputFileException(path, $"cannot open: {e.Message}", e); }
        if (all.Length < 8) throw new InvalidInputFileException(path, "not a safetensors file");
        ulong hl = BinaryPrimitives.ReadUInt64LittleEndian(all);
        if (hl > (ulong)(all.Length - 8)) throw new InvalidInputFileException(path, $"header length {hl} exceeds the file");
        JsonObject header;
        try { header = JsonNode.Parse(Encoding.UTF8.GetString(all, 8, (int)hl)) as JsonObject ?? throw new JsonException("not an object"); }
        catch (JsonException e) { throw new InvalidInputFileException(path, $"bad header: {e.Message}", e); }
        long dataStart = 8 + (long)hl;
        var result = new Dictionary<string, Tensor>();
        foreach (var kv in header)
        {
            if (kv.Key == "__metadata__") continue;
            var o = kv.Value as JsonObject ?? throw new InvalidInputFileException(path, $"bad entry '{kv.Key}'");
            string code = (string?)o["dtype"] ?? "";
            var type = Codes.FirstOrDefault(c => c.Value == code);
            if (type.Value is null) throw new InvalidInputFileException(path, $"tensor '{kv.Key}': dtype '{code}' not supported");
            var shape = (o["shape"] as JsonArray)!.Select(n => (long)n!).ToArray();
            var offs = (o["data_offsets"] as JsonArray)!.Select(n => (long)n!).ToArray();
            long len = offs[1] - offs[0];
            var t = torch.empty(shape, type.Key);
            if (len != t.numel() * t.ElementSize || dataStart + offs[1] > all.Length || offs[0] < 0)
                throw new InvalidInputFileException(path, $"tensor '{kv.Key}': data offsets {offs[0]}..{offs[1]} do not fit");
            if (len > 0) t.bytes = all.AsSpan((int)(dataStart + offs[0]), (int)len).ToArray();
            result[kv.Key] = t;
        }
        return result;
    }
}
