using MedRecon.Core;
using MedRecon.Operators;
using MedRecon.Solvers.Internal;
using TorchSharp;
using static TorchSharp.torch;

namespace MedRecon.Solvers;

/// <summary>
/// Conjugate gradient on the normal equations (AᴴA + λI) x = Aᴴy (CG-SENSE for MRI, CGLS-equivalent for CT).
/// Works for real and complex images: inner products are Re⟨·,·⟩ in double precision, which is exact for a Hermitian
/// operator (⟨p, Np⟩ is real).
/// </summary>
public static class ConjugateGradient
{
    /// <summary>
    /// Solves (AᴴA + λI) x = Aᴴy. <paramref name="lambda"/> is an absolute Tikhonov weight on the scale of AᴴA
    /// (‖A‖² = 1 for a masked unitary FFT; it does not depend on the data's scale). Starts at
    /// <paramref name="initial"/> (default 0) and stops after <paramref name="iterations"/> iterations or when the
    /// relative residual ‖b − (AᴴA + λI)x‖/‖b‖ drops below <paramref name="tolerance"/>.
    /// </summary>
    /// <exception cref="ArgumentException">Shape mismatch, or NaN/Inf in y.</exception>
    public static Tensor Reconstruct(LinearOperator a, Tensor y, int iterations = 30, double lambda = 0.0,
        double tolerance = 1e-6, Tensor? initial = null, IProgress<SolverProgress>? progress = null)
    {
        SolverInput.CheckMeasurements(a, y);
        SolverInput.CheckIterations(iterations);
        SolverInput.CheckLambda(lambda);
        if (initial is not null) SolverInput.CheckImage(a, initial, nameof(initial));
        using var scope = NewDisposeScope();
        var rhs = a.Adjoint(y);
        var x0 = initial is null ? torch.zeros_like(rhs) : initial;
        Func<Tensor, Tensor> normal = lambda == 0.0
            ? a.Normal
            : x =>
            {
                using var s = NewDisposeScope();
                return a.Normal(x).add(x, alpha: lambda).MoveToOuterDisposeScope();
            };
        return Solve(normal, rhs, x0, iterations, tolerance, progress).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Generic CG for a Hermitian positive (semi)definite operator: solves applyNormal(x) = rhs, starting at
    /// <paramref name="initial"/>. Stops after <paramref name="iterations"/> iterations, when the relative residual
    /// ‖rhs − applyNormal(x)‖/‖rhs‖ ≤ <paramref name="tolerance"/>, or when a search direction has no positive
    /// curvature (the operator is singular along it). Reports the relative residual after each iteration.
    /// The result has rhs's dtype (a real initial guess is promoted for a complex right-hand side).
    /// </summary>
    public static Tensor Solve(Func<Tensor, Tensor> applyNormal, Tensor rhs, Tensor initial, int iterations,
        double tolerance = 1e-6, IProgress<SolverProgress>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(applyNormal);
        ArgumentNullException.ThrowIfNull(rhs);
        ArgumentNullException.ThrowIfNull(initial);
        SolverInput.CheckIterations(iterations);
        if (!initial.shape.SequenceEqual(rhs.shape))
            throw new ArgumentException(
                $"initial guess has shape {Tensors.ShapeString(initial.shape)}, right-hand side {Tensors.ShapeString(rhs.shape)}",
                nameof(initial));
        if (!Tensors.AllFinite(rhs)) throw new ArgumentException("right-hand side contains NaN/Inf", nameof(rhs));

        using var outer = NewDisposeScope();
        var x = initial.to(rhs.dtype).clone();
        double bNorm = Tensors.Norm(rhs);
        if (bNorm == 0) return torch.zeros_like(rhs).MoveToOuterDisposeScope();

        var r = rhs - applyNormal(x);
        var p = r.clone();
        double rr = Tensors.InnerReal(r, r);
        for (int k = 1; k <= iterations && Math.Sqrt(rr) / bNorm > tolerance; k++)
        {
            Tensor xn, rn, pn;
            double rrNew;
            using (var scope = NewDisposeScope())
            {
                var ap = applyNormal(p);
                double pap = Tensors.InnerReal(p, ap);
                if (!(pap > 0)) break; // no curvature left along p (singular operator or exact convergence)
                double alpha = rr / pap;
                xn = x.add(p, alpha: alpha);
                rn = r.add(ap, alpha: -alpha);
                rrNew = Tensors.InnerReal(rn, rn);
                pn = rn.add(p, alpha: rrNew / rr);
                xn.MoveToOuterDisposeScope();
                rn.MoveToOuterDisposeScope();
                pn.MoveToOuterDisposeScope();
            }
            x.Dispose(); r.Dispose(); p.Dispose();
            x = xn; r = rn; p = pn;
            rr = rrNew;
            progress?.Report(new SolverProgress(k, iterations, Math.Sqrt(rr) / bNorm));
        }
        return x.MoveToOuterDisposeScope();
    }
}
