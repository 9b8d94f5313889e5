using static TorchSharp.torch;

namespace MedRecon.Core.IO;

/// <summary>BART .cfl/.hdr pairs: complex64 data in column-major (Fortran) order, dims in the .hdr.</summary>
public static class Cfl
{
    /// <summary>Reads BASE.hdr/BASE.cfl into a complex64 tensor in C order with the reversed BART dims (trailing 1s dropped).</summary>
    public static Tensor Read(string basePath) => throw new NotImplementedException();

    /// <summary>Writes a tensor (promoted to complex64) so that BART sees dims reversed (C order ⇔ BART column-major).</summary>
    public static void Write(string basePath, Tensor tensor) => throw new NotImplementedException();
}
