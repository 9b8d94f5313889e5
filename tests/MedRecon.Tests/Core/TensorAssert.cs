using static TorchSharp.torch;

namespace MedRecon.Tests.Core;

/// <summary>Exact tensor comparisons for I/O tests (TorchSharp's torch.equal is element-wise here).</summary>
static class TensorAssert
{
    public static byte[] Bytes(Tensor t) => t.cpu().contiguous().clone().bytes.ToArray();

    /// <summary>True when dtype, shape and every byte agree.</summary>
    public static bool Same(Tensor a, Tensor b) =>
        a.dtype == b.dtype && a.shape.SequenceEqual(b.shape) && Bytes(a).AsSpan().SequenceEqual(Bytes(b));
}
