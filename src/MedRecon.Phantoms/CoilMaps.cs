using static TorchSharp.torch;

namespace MedRecon.Phantoms;

/// <summary>Simulated coil sensitivity maps.</summary>
public static class CoilMaps
{
    /// <summary>Birdcage-style maps (coils, ny, nx) complex64, coils evenly spaced on a circle around the field of view.</summary>
    public static Tensor Birdcage(int coils, int ny, int nx, double relativeRadius = 1.5) => throw new NotImplementedException();
}
