using static TorchSharp.torch;

namespace MedRecon.Operators.Mri;

/// <summary>Coil sensitivity estimation from the fully sampled k-space centre (calibration region).</summary>
public static class CoilMapEstimation
{
    /// <summary>Maps (coils, ky, kx) complex64 from multi-coil k-space (coils, ky, kx); calibration region found from the mask.</summary>
    public static Tensor FromCalibration(Tensor kspace, Tensor mask, int? calibrationSize = null) =>
        throw new NotImplementedException();
}
