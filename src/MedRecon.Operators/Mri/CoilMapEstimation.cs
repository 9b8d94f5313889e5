using MedRecon.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace MedRecon.Operators.Mri;

/// <summary>
/// A fully sampled calibration block in k-space: rows [Y0, Y0 + Height), columns [X0, X0 + Width).
/// Blocks found by <see cref="CoilMapEstimation.FindCalibrationRegion"/> are symmetric about the k-space centre
/// (index n/2), so their size is odd.
/// </summary>
public readonly record struct CalibrationRegion(int Y0, int X0, int Height, int Width)
{
    public override string ToString() => $"{Height}x{Width} at ({Y0}, {X0})";
}

/// <summary>Coil sensitivity estimation from the fully sampled k-space centre (calibration region).</summary>
/// <remarks>
/// Method (a low-resolution ratio with a smooth mask): the calibration block is weighted with a separable Hann window
/// that is symmetric about the k-space centre (so it adds no phase), giving low-resolution coil images l_c;
/// maps are <c>S_c = l_c / sqrt(Σ|l|² + ε)</c>, multiplied by a soft threshold on the low-resolution root sum of
/// squares (a smoothstep from <c>threshold/2</c> to <c>threshold</c> of its maximum) that brings the maps smoothly to
/// 0 outside the object. Inside the object Σ|S_c|² = 1, and the image phase (common to all coils) goes into the maps, so
/// Σ conj(S_c)·(coil image c) is the magnitude-like coil combination.
/// </remarks>
public static class CoilMapEstimation
{
    /// <summary>Default soft threshold, relative to the maximum of the low-resolution root sum of squares.</summary>
    public const double DefaultThreshold = 0.05;

    /// <summary>Maps (coils, ky, kx) complex64 from multi-coil k-space (coils, ky, kx); calibration region found from the mask.</summary>
    public static Tensor FromCalibration(Tensor kspace, Tensor mask, int? calibrationSize = null) =>
        FromCalibration(kspace, mask, calibrationSize, DefaultThreshold);

    /// <param name="kspace">Multi-coil k-space (coils, ky, kx), complex.</param>
    /// <param name="mask">Sampling mask (ky, kx), nonzero = sampled.</param>
    /// <param name="calibrationSize">Side of the centred calibration block to use (it must be fully sampled);
    /// null = the largest centred fully sampled block.</param>
    /// <param name="threshold">Soft threshold on the low-resolution root sum of squares, relative to its maximum
    /// (0 = no masking).</param>
    public static Tensor FromCalibration(Tensor kspace, Tensor mask, int? calibrationSize, double threshold)
    {
        if (kspace.dim() != 3)
            throw new ArgumentException($"k-space must be (coils, ky, kx), got {Tensors.ShapeString(kspace.shape)}");
        if (mask.dim() != 2 || mask.shape[0] != kspace.shape[1] || mask.shape[1] != kspace.shape[2])
            throw new ArgumentException(
                $"mask shape {Tensors.ShapeString(mask.shape)} does not match k-space (ky, kx) = ({kspace.shape[1]}, {kspace.shape[2]})");
        if (!double.IsFinite(threshold) || threshold < 0 || threshold >= 1)
            throw new ArgumentException($"threshold must lie in [0, 1), got {threshold}", nameof(threshold));
        int ny = (int)kspace.shape[1], nx = (int)kspace.shape[2];
        var region = FindCalibrationRegion(mask, calibrationSize);

        using var scope = NewDisposeScope();
        var k = kspace.to(ScalarType.ComplexFloat32);
        var wy = HannWindow(ny, region.Y0, region.Height);
        var wx = HannWindow(nx, region.X0, region.Width);
        var window = torch.tensor(wy, new long[] { ny, 1 }, ScalarType.Float32) * torch.tensor(wx, new long[] { 1, nx }, ScalarType.Float32);
        var lowres = Fft.InverseCentered2D(k * window);              // (coils, ny, nx)
        var sos = lowres.abs().square().sum(dim: 0);                  // Σ|l|²
        var rss = sos.sqrt();
        double max = rss.max().item<float>();
        if (!(max > 0))
            throw new ArgumentException($"the calibration region {region} holds no signal (all zero k-space)");
        double eps = Math.Pow(1e-6 * max, 2);
        var maps = lowres / (sos + eps).sqrt();
        if (threshold > 0)
        {
            // Smoothstep from threshold/2 to threshold (relative to the maximum).
            var t = ((rss / max - threshold / 2) / (threshold / 2)).clamp(0, 1);
            var soft = t * t * (3 - 2 * t);
            maps = maps * soft;
        }
        return maps.to(ScalarType.ComplexFloat32).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The calibration block: with <paramref name="calibrationSize"/>, the centred block of that side (made odd by
    /// dropping one line, and clipped to the grid), which must be fully sampled; otherwise the largest block symmetric
    /// about the k-space centre (n/2) that is fully sampled, grown alternately along ky and kx.
    /// Throws <see cref="ArgumentException"/> when there is no fully sampled centre of at least 3 × 3.
    /// </summary>
    public static CalibrationRegion FindCalibrationRegion(Tensor mask, int? calibrationSize = null)
    {
        if (mask.dim() != 2) throw new ArgumentException($"mask must be (ky, kx), got {Tensors.ShapeString(mask.shape)}");
        int ny = (int)mask.shape[0], nx = (int)mask.shape[1];
        bool[] sampled;
        using (var scope = NewDisposeScope())
        {
            var b = (mask.abs() > 0).to(ScalarType.Byte).contiguous().cpu();
            var bytes = b.data<byte>().ToArray();
            sampled = bytes.Select(v => v != 0).ToArray();
        }
        int cy = ny / 2, cx = nx / 2;
        int maxHy = Math.Min(cy, ny - 1 - cy), maxHx = Math.Min(cx, nx - 1 - cx);

        bool RowFull(int y, int hx)
        {
            for (int x = cx - hx; x <= cx + hx; x++) if (!sampled[y * nx + x]) return false;
            return true;
        }
        bool ColFull(int x, int hy)
        {
            for (int y = cy - hy; y <= cy + hy; y++) if (!sampled[y * nx + x]) return false;
            return true;
        }

        if (calibrationSize is int size)
        {
            if (size < 3)
                throw new ArgumentException($"calibrationSize must be at least 3, got {size}", nameof(calibrationSize));
            int h = (size - 1) / 2;
            int hy = Math.Min(h, maxHy), hx = Math.Min(h, maxHx);
            for (int y = cy - hy; y <= cy + hy; y++)
                if (!RowFull(y, hx))
                    throw new ArgumentException(
                        $"the centred {2 * hy + 1}x{2 * hx + 1} calibration block (calibrationSize {size}) is not fully sampled by the mask; " +
                        "pass a smaller calibrationSize or null to find the fully sampled centre");
            return new CalibrationRegion(cy - hy, cx - hx, 2 * hy + 1, 2 * hx + 1);
        }

        if (!sampled[cy * nx + cx])
            throw new ArgumentException("no calibration region: the k-space centre is not sampled by the mask");
        int gy = 0, gx = 0;
        bool grew = true;
        while (grew)
        {
            grew = false;
            if (gy < maxHy && RowFull(cy - gy - 1, gx) && RowFull(cy + gy + 1, gx)) { gy++; grew = true; }
            if (gx < maxHx && ColFull(cx - gx - 1, gy) && ColFull(cx + gx + 1, gy)) { gx++; grew = true; }
        }
        if (gy < 1 || gx < 1)
            throw new ArgumentException(
                $"no calibration region: the fully sampled block at the k-space centre is only {2 * gy + 1}x{2 * gx + 1} (need at least 3x3); " +
                "use a mask with a fully sampled centre (centerFraction > 0)");
        return new CalibrationRegion(cy - gy, cx - gx, 2 * gy + 1, 2 * gx + 1);
    }

    /// <summary>A Hann window over [start, start + length) (zero outside), positive everywhere inside.</summary>
    static float[] HannWindow(int n, int start, int length)
    {
        var w = new float[n];
        for (int i = 0; i < length; i++)
            w[start + i] = (float)(0.5 - 0.5 * Math.Cos(2 * Math.PI * (i + 1) / (length + 1)));
        return w;
    }
}
