using MedRecon.Core.IO;
using TorchSharp;
using static TorchSharp.torch;

namespace MedRecon.Model.Training;

/// <summary>One normalised training volume: slices [S, H, W] float32 in network units, which slices are held out, and
/// its sampling weight (a slice of it is drawn Weight times as often as a slice of a weight-1 volume).</summary>
public sealed record TrainingVolume(string Source, Tensor Slices, IReadOnlyList<int> HeldOut, string Normalisation, double Weight = 1.0)
{
    public IEnumerable<int> TrainingSlices => Enumerable.Range(0, (int)Slices.shape[0]).Where(i => !HeldOut.Contains(i));
}

/// <summary>
/// What the trainer samples patches from: real slices (never the held-out ones) and, optionally, synthetic images
/// from a seeded source (e.g. random-ellipse phantoms supplied by the CLI: the Model layer does not reference
/// Phantoms). A synthetic image must already be normalised to network units.
/// </summary>
public sealed class TrainingData
{
    public TrainingData(IReadOnlyList<TrainingVolume> volumes, Func<int, Tensor>? synthetic = null, double syntheticFraction = 0.0,
        int syntheticPool = 512, string syntheticName = "")
    {
        Volumes = volumes;
        Synthetic = synthetic;
        SyntheticFraction = synthetic == null ? 0 : syntheticFraction;
        SyntheticPool = syntheticPool;
        SyntheticName = syntheticName;
        foreach (var v in volumes)
        {
            if (!(v.Weight > 0) || !double.IsFinite(v.Weight))
                throw new ArgumentException($"{v.Source}: sampling weight {v.Weight}; it must be positive");
            foreach (int s in v.TrainingSlices)
            {
                slices.Add(v.Slices[s].DetachFromDisposeScope());
                cumulativeWeight.Add((cumulativeWeight.Count == 0 ? 0 : cumulativeWeight[^1]) + v.Weight);
            }
        }
        uniform = volumes.Select(v => v.Weight).Distinct().Count() <= 1;
        if (slices.Count == 0 && Synthetic == null) throw new ArgumentException("no training slices (all held out?) and no synthetic source");
        if (slices.Count == 0) SyntheticFraction = 1.0;
    }

    readonly List<Tensor> slices = new();
    readonly List<double> cumulativeWeight = new();
    readonly bool uniform;
    readonly Dictionary<int, Tensor> syntheticCache = new();

    public IReadOnlyList<TrainingVolume> Volumes { get; }
    public Func<int, Tensor>? Synthetic { get; }
    public double SyntheticFraction { get; }
    public int SyntheticPool { get; }
    public string SyntheticName { get; }
    public int SliceCount => slices.Count;

    /// <summary>A random image: a training slice, or a synthetic image with probability SyntheticFraction.</summary>
    internal Tensor Pick(Random rng)
    {
        if (Synthetic != null && (slices.Count == 0 || rng.NextDouble() < SyntheticFraction))
        {
            int i = rng.Next(SyntheticPool);
            lock (syntheticCache)
            {
                if (!syntheticCache.TryGetValue(i, out var img))
                {
                    // Cached across steps: detach from whatever dispose scope the caller runs in.
                    using (var scope = NewDisposeScope())
                        img = Synthetic(i).to(ScalarType.Float32).DetachFromDisposeScope();
                    syntheticCache[i] = img;
                }
                return img;
            }
        }
        // Equal weights keep the original draw (one rng.Next), so runs recorded before weights existed resume identically.
        if (uniform) return slices[rng.Next(slices.Count)];
        double u = rng.NextDouble() * cumulativeWeight[^1];
        int at = cumulativeWeight.BinarySearch(u);
        at = at < 0 ? ~at : at + 1;
        return slices[Math.Min(at, slices.Count - 1)];
    }

    /// <summary>
    /// Loads a volume file (.nrrd/.nhdr, .nii/.nii.gz, .npy, .npz — the largest array) as [S, H, W], normalises it for the modality
    /// and holds out the last <paramref name="holdOutFraction"/> of its slices (at least one when it has more than one).
    /// A 2-D array is one slice. DICOM folders need the DICOM layer and are rejected here with a clear message.
    /// </summary>
    /// <param name="otherReader">Reads sources this layer does not know (DICOM folders/files: the Model layer does not
    /// depend on the DICOM layer, so the caller supplies it); returns null when it does not recognise the path.
    /// Values must be in modality units (HU for CT).</param>
    public static TrainingVolume LoadVolume(string path, string modality, double holdOutFraction = 0.2, Func<string, Tensor?>? otherReader = null,
        double weight = 1.0)
    {
        string ext = Nifti.IsNiftiPath(path) ? ".nii" : Path.GetExtension(path).ToLowerInvariant();
        Tensor raw = ext switch
        {
            ".nrrd" or ".nhdr" => Nrrd.Read(path).Data,
            ".nii" => Nifti.Read(path).Data,
            ".npy" => Npy.Read(path),
            ".npz" => Npz.Read(path).Values.OrderByDescending(t => t.numel()).First(),
            _ => otherReader?.Invoke(path)
                 ?? throw new InvalidInputFileException(path, $"unsupported training source '{path}' (.nrrd, .nhdr, .nii, .nii.gz, .npy, .npz or a DICOM folder/file)"),
        };
        if (raw.is_complex()) raw = raw.abs();
        if (raw.dim() == 2) raw = raw.unsqueeze(0);
        if (raw.dim() != 3) throw new InvalidInputFileException(path, $"expected a 2-D image or 3-D volume, got shape [{string.Join(",", raw.shape)}]");
        var norm = Normalization.Normalise(modality, raw);
        int n = (int)norm.shape[0];
        int hold = n <= 1 ? 0 : Math.Max(1, (int)Math.Round(holdOutFraction * n));
        if (holdOutFraction <= 0) hold = 0;
        var held = Enumerable.Range(n - hold, hold).ToArray();
        return new TrainingVolume(path, norm, held, Normalization.Describe(modality), weight);
    }
}
