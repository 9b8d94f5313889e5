using static TorchSharp.torch;

namespace MedRecon.Core.IO;

/// <summary>8-bit grayscale PNG previews of 2-D images (magnitude for complex), with windowing.</summary>
public static class Png
{
    /// <summary>Writes a 2-D image; values are mapped linearly from [windowMin, windowMax] to [0, 255] (defaults: min/max of the image).</summary>
    public static void Write(string path, Tensor image, double? windowMin = null, double? windowMax = null) =>
        throw new NotImplementedException();

    /// <summary>Writes several equally sized 2-D images side by side with optional captions.</summary>
    public static void WriteMontage(string path, IReadOnlyList<Tensor> images, IReadOnlyList<string>? captions = null,
        double? windowMin = null, double? windowMax = null) => throw new NotImplementedException();

    /// <summary>Reads a PNG as a float32 (rows, cols) tensor of luma in [0, 1].</summary>
    public static Tensor Read(string path) => throw new NotImplementedException();
}
