using System.Runtime.InteropServices;
using SkiaSharp;
using TorchSharp;
using static TorchSharp.torch;

namespace MedRecon.Core.IO;

/// <summary>
/// 8-bit grayscale PNG previews of 2-D images (magnitude for complex), with windowing.
/// <para>
/// Mapping: pixel = round(255 · (v − min) / (max − min)) clamped to [0, 255], with v the value (magnitude for
/// complex input, computed in float64). The window defaults to the minimum and maximum of the finite values. NaN
/// pixels are written as 0 (black); +∞/−∞ clamp to 255/0 and never set the default window. A window with
/// max = min (a constant image) writes all pixels as 0.
/// </para>
/// </summary>
public static class Png
{
    /// <summary>Pixels between montage panels (drawn with <see cref="GapLevel"/>).</summary>
    public const int MontageGap = 4;

    /// <summary>Gray level of the montage gaps.</summary>
    public const byte GapLevel = 64;

    /// <summary>Writes a 2-D image; values are mapped linearly from [windowMin, windowMax] to [0, 255] (defaults: min/max of the image).</summary>
    public static void Write(string path, Tensor image, double? windowMin = null, double? windowMax = null)
    {
        ArgumentNullException.ThrowIfNull(image);
        CheckImage(image, "image");
        using var scope = NewDisposeScope();
        var v = ToFloat64(image);
        var (lo, hi) = Window(new[] { v }, windowMin, windowMax);
        var pixels = ToBytes(v, lo, hi);
        int rows = (int)image.shape[0], cols = (int)image.shape[1];
        Encode(path, pixels, rows, cols);
    }

    /// <summary>
    /// Writes several equally sized 2-D images side by side, separated by <see cref="MontageGap"/> pixels, with an
    /// optional caption strip (<see cref="CaptionStripHeight"/> pixels, white text on black) under each panel. All
    /// panels share one window (default: min/max over all panels), so their gray levels are comparable. Captions are
    /// drawn with a built-in 5×7 bitmap font (upper case, digits and common punctuation; lower case is drawn as upper
    /// case, other characters as '?') so rendering needs no system fonts; text too long for a panel is cut.
    /// Output size: width = n·cols + (n−1)·<see cref="MontageGap"/>, height = rows (+ caption strip).
    /// </summary>
    public static void WriteMontage(string path, IReadOnlyList<Tensor> images, IReadOnlyList<string>? captions = null,
        double? windowMin = null, double? windowMax = null)
    {
        ArgumentNullException.ThrowIfNull(images);
        if (images.Count == 0) throw new ArgumentException("montage needs at least one image", nameof(images));
        for (int i = 0; i < images.Count; i++) CheckImage(images[i], $"images[{i}]");
        long rows = images[0].shape[0], cols = images[0].shape[1];
        for (int i = 1; i < images.Count; i++)
        {
            if (images[i].shape[0] != rows || images[i].shape[1] != cols)
                throw new ArgumentException($"montage images must have equal sizes: images[0] is {Tensors.ShapeString(images[0].shape)}, images[{i}] is {Tensors.ShapeString(images[i].shape)}");
        }
        if (captions != null && captions.Count != images.Count)
            throw new ArgumentException($"{captions.Count} captions for {images.Count} images", nameof(captions));

        using var scope = NewDisposeScope();
        var values = images.Select(ToFloat64).ToArray();
        var (lo, hi) = Window(values, windowMin, windowMax);
        int n = images.Count, r = (int)rows, c = (int)cols;
        int strip = captions != null ? CaptionStripHeight(c) : 0;
        long width = (long)n * c + (long)(n - 1) * MontageGap, height = r + strip;
        if (width * height > int.MaxValue) throw new ArgumentException($"montage of {width}×{height} pixels is too large");
        var canvas = new byte[width * height];
        for (int i = 0; i < n; i++)
        {
            var panel = ToBytes(values[i], lo, hi);
            int x0 = i * (c + MontageGap);
            for (int y = 0; y < r; y++) Array.Copy(panel, (long)y * c, canvas, y * width + x0, c);
            if (i < n - 1)
            {
                for (int y = 0; y < height; y++) Array.Fill(canvas, GapLevel, (int)(y * width + x0 + c), MontageGap);
            }
            if (captions != null) BitmapFont.Draw(canvas, (int)width, x0, r, c, strip, captions[i] ?? "", FontScale(c));
        }
        Encode(path, canvas, (int)height, (int)width);
    }

    /// <summary>Height in pixels of the caption strip under a montage panel <paramref name="panelWidth"/> pixels wide.</summary>
    public static int CaptionStripHeight(int panelWidth) => (BitmapFont.GlyphHeight + 4) * FontScale(panelWidth);

    static int FontScale(int panelWidth) => Math.Clamp(panelWidth / 128, 1, 4);

    /// <summary>
    /// Reads a PNG as a float32 (rows, cols) tensor of luma in [0, 1]. Grayscale PNGs give value/255 exactly; colour
    /// PNGs are decoded explicitly to RGBA (no colour-space conversion) and converted with the Rec. 601 luma weights
    /// Y = 0.299 R + 0.587 G + 0.114 B; alpha is ignored.
    /// </summary>
    public static Tensor Read(string path)
    {
        byte[] file;
        try { file = File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        { throw new InvalidInputFileException(path, $"cannot open: {e.Message}", e); }

        using var data = SKData.CreateCopy(file);
        using var codec = SKCodec.Create(data) ?? throw new InvalidInputFileException(path, "not a readable PNG (wrong signature, damaged header or another format)");
        if (codec.EncodedFormat != SKEncodedImageFormat.Png)
            throw new InvalidInputFileException(path, $"not a PNG file (looks like {codec.EncodedFormat})");
        int w = codec.Info.Width, h = codec.Info.Height;
        if (w <= 0 || h <= 0 || (long)w * h > 1L << 28)
            throw new InvalidInputFileException(path, $"implausible image size {w}×{h}");

        bool gray = codec.Info.ColorType == SKColorType.Gray8;
        var info = new SKImageInfo(w, h, gray ? SKColorType.Gray8 : SKColorType.Rgba8888, gray ? SKAlphaType.Opaque : SKAlphaType.Unpremul);
        int stride = info.RowBytes;
        var raw = new byte[(long)stride * h];
        var handle = GCHandle.Alloc(raw, GCHandleType.Pinned);
        SKCodecResult result;
        try { result = codec.GetPixels(info, handle.AddrOfPinnedObject()); }
        finally { handle.Free(); }
        if (result != SKCodecResult.Success)
            throw new InvalidInputFileException(path, $"cannot decode PNG ({result})");

        var luma = new float[(long)w * h];
        for (int y = 0; y < h; y++)
        {
            int row = y * stride;
            for (int x = 0; x < w; x++)
            {
                if (gray)
                {
                    luma[(long)y * w + x] = raw[row + x] / 255f;
                }
                else
                {
                    int p = row + 4 * x;
                    byte R = raw[p], G = raw[p + 1], B = raw[p + 2];
                    luma[(long)y * w + x] = R == G && G == B ? R / 255f : (float)((0.299 * R + 0.587 * G + 0.114 * B) / 255.0);
                }
            }
        }
        return torch.tensor(luma, new long[] { h, w });
    }

    static void CheckImage(Tensor image, string name)
    {
        ArgumentNullException.ThrowIfNull(image, name);
        if (image.dim() != 2)
            throw new ArgumentException($"{name}: PNG export needs a 2-D image (rows, cols), got shape {Tensors.ShapeString(image.shape)}");
        if (image.shape[0] == 0 || image.shape[1] == 0 || image.shape[0] > 1 << 16 || image.shape[1] > 1 << 16)
            throw new ArgumentException($"{name}: unsupported image size {Tensors.ShapeString(image.shape)}");
    }

    static Tensor ToFloat64(Tensor image)
    {
        var c = image.detach().cpu();
        return c.is_complex() ? c.to(ScalarType.ComplexFloat64).abs() : c.to(ScalarType.Float64);
    }

    static (double Lo, double Hi) Window(Tensor[] values, double? windowMin, double? windowMax)
    {
        double lo = windowMin ?? double.PositiveInfinity, hi = windowMax ?? double.NegativeInfinity;
        if (windowMin is null || windowMax is null)
        {
            foreach (var v in values)
            {
                var finite = v[v.isfinite()];
                if (finite.numel() == 0) continue;
                if (windowMin is null) lo = Math.Min(lo, finite.min().item<double>());
                if (windowMax is null) hi = Math.Max(hi, finite.max().item<double>());
            }
        }
        if (double.IsNaN(lo) || double.IsNaN(hi) || (windowMin.HasValue && windowMax.HasValue && !(hi > lo)))
            throw new ArgumentException($"invalid window [{windowMin}, {windowMax}]: need min < max");
        if (double.IsInfinity(lo) || double.IsInfinity(hi)) (lo, hi) = (0, 0);   // no finite values at all
        return (lo, hi);
    }

    static byte[] ToBytes(Tensor v, double lo, double hi)
    {
        using var scope = NewDisposeScope();
        Tensor scaled = hi > lo ? (v - lo) * (255.0 / (hi - lo)) : torch.zeros_like(v);
        scaled = scaled.nan_to_num(0.0, 255.0, 0.0).clamp(0, 255).round().to(ScalarType.Byte).contiguous();
        return scaled.bytes.ToArray();
    }

    static void Encode(string path, byte[] pixels, int rows, int cols)
    {
        var info = new SKImageInfo(cols, rows, SKColorType.Gray8, SKAlphaType.Opaque);
        using var bitmap = new SKBitmap(info);
        IntPtr dst = bitmap.GetPixels();
        int stride = bitmap.RowBytes;
        for (int y = 0; y < rows; y++) Marshal.Copy(pixels, y * cols, dst + y * stride, cols);
        using var image = SKImage.FromBitmap(bitmap);
        using var encoded = image.Encode(SKEncodedImageFormat.Png, 100)
                            ?? throw new IOException($"{path}: SkiaSharp could not encode the PNG");

        string tmp = path + ".tmp-" + Guid.NewGuid().ToString("N")[..8];
        try
        {
            using (var fs = File.Create(tmp)) encoded.SaveTo(fs);
            File.Move(tmp, path, overwrite: true);
        }
        finally
        {
            try { if (File.Exists(tmp)) File.Delete(tmp); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        }
    }
}
