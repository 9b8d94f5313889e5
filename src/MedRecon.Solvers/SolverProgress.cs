namespace MedRecon.Solvers;

/// <summary>
/// Progress of an iterative solver: iteration (1-based), the iteration budget, and a solver-specific value
/// (CG: relative residual ‖r‖/‖b‖; TV and wavelet-ℓ1: relative change of the iterate ‖xₖ − xₖ₋₁‖/‖xₖ‖).
/// <paramref name="Stage"/> names the part of a multi-stage solver (e.g. the zero-shot loop's TV start, then its network
/// evaluations); <paramref name="ValueName"/> says what <paramref name="Value"/> is when it is not the default above.
/// </summary>
public readonly record struct SolverProgress(int Iteration, int Total, double Value, string? Stage = null, string? ValueName = null);

/// <summary>Forwards a sub-solver's progress with its stage name (and value name) set.</summary>
public sealed class StageProgress(IProgress<SolverProgress> inner, string stage, string? valueName = null) : IProgress<SolverProgress>
{
    public void Report(SolverProgress p) => inner.Report(p with { Stage = stage, ValueName = valueName ?? p.ValueName });

    /// <summary>Null when there is nothing to forward to.</summary>
    public static IProgress<SolverProgress>? For(IProgress<SolverProgress>? inner, string stage, string? valueName = null) =>
        inner is null ? null : new StageProgress(inner, stage, valueName);
}
