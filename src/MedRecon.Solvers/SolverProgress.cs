namespace MedRecon.Solvers;

/// <summary>
/// Progress of an iterative solver: iteration (1-based), the iteration budget, and a solver-specific value
/// (CG: relative residual ‖r‖/‖b‖; TV and wavelet-ℓ1: relative change of the iterate ‖xₖ − xₖ₋₁‖/‖xₖ‖).
/// </summary>
public readonly record struct SolverProgress(int Iteration, int Total, double Value);
