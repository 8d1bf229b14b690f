#!/usr/bin/env bash
# bench/gpu/run.sh — on a machine with a GPU: run basin's GPU tests, time basin's GPU training
# steps and sweeps against PyTorch on the same GPU, and print a short table last.
#
# Either builds here (needs CMake, nvcc, Eigen, Boost.Test, Google Benchmark, HDF5, zlib and
# Thrust), or, with BASIN_PREBUILT=<dir> holding test_cuda, bench_gpu and a lib/ folder of their
# shared libraries (built on a CPU machine with the CUDA toolkit and gathered by
# bench/gpu/pack.sh <dir>: see README.md, "GPU"), runs those. The binaries find cuBLAS in
# <dir>/lib, else in this machine's CUDA toolkit or its pip-installed nvidia-cublas; the library
# path is set for them alone, so python3 and PyTorch keep their own. Fits in 10 minutes, the build
# included: the whole run has 570 s (BASIN_GPU_SECONDS), each step a limit of its own within what
# is left, the float tests and the timings first and the TF32 tests last, so that a slow step
# costs itself and what comes after it only, and says that it was stopped.
set -uo pipefail
deadline=$((SECONDS + ${BASIN_GPU_SECONDS:-570}))
prebuilt=
if [ -n "${BASIN_PREBUILT:-}" ]; then  # (relative to where run.sh was called)
  prebuilt=$(cd -- "$BASIN_PREBUILT" >/dev/null 2>&1 && pwd) ||
    { echo "run.sh: BASIN_PREBUILT=$BASIN_PREBUILT is not a folder" >&2; exit 1; }
fi
cd "$(dirname "$0")/../.."
# within N: N seconds, or what is left of the run when that is less (at least 1).
within() {
  local left=$((deadline - SECONDS))
  local s=$(($1 < left ? $1 : left))
  echo $((s < 1 ? 1 : s))
}
# stopped STATUS WHAT: says so when WHAT ran into its time limit (timeout's 124).
stopped() { if [ "$1" = 124 ]; then echo "== $2: stopped at its time limit"; fi; }
out=${OUT:-/tmp/basin-gpu}
mkdir -p "$out"
libs=${LD_LIBRARY_PATH:-}
if [ -n "$prebuilt" ]; then
  bin=$prebuilt
  libs="$bin/lib:$libs"
  # The toolkit's folders, then pip's nvidia packages wherever they put CUDA 13's libraries
  # (nvidia/cublas/lib, nvidia/cu13/lib, ...).
  pip_dirs=$(python3 -c 'import glob, os, nvidia
print("\n".join(sorted({os.path.dirname(f) for d in nvidia.__path__ for f in
      glob.glob(os.path.join(d, "**", "lib*.so.13"), recursive=True)})))' 2>/dev/null)
  for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib $pip_dirs; do
    if [ -e "$d/libcublas.so.13" ] || [ -e "$d/libcudart.so.13" ]; then libs="$libs:$d"; fi
  done
else
  # A build folder of its own, so that build/release keeps its examples (the cache would keep OFF).
  cmake --preset release -B build/gpu -DBASIN_BUILD_EXAMPLES=OFF >/dev/null &&
    cmake --build build/gpu --parallel --target test_cuda bench_gpu || exit 1
  bin=build/gpu
  [ -x "$bin/tests/gpu/test_cuda" ] && bin_t=$bin/tests/gpu/test_cuda bin_b=$bin/bench/gpu/bench_gpu
fi
t=${bin_t:-$bin/test_cuda}
b=${bin_b:-$bin/bench_gpu}
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | tee "$out/gpu.txt"
# A library the binaries cannot find fails here, in a second, naming it, not at the first test.
for f in "$t" "$b"; do
  [ -x "$f" ] || { echo "run.sh: $f is missing" >&2; exit 1; }
done
if LD_LIBRARY_PATH=$libs ldd "$t" "$b" | grep "not found"; then
  echo "run.sh: the libraries above are missing (library path: $libs)" >&2
  exit 1
fi
echo "== GPU tests (host backend vs CUDA backend)"
LD_LIBRARY_PATH=$libs timeout "$(within 180)" "$t" --color_output=no --log_level=test_suite 2>&1 |
  tee "$out/test_cuda.log" | grep -E "error|Leaving test module|failure|No errors|skipped|cannot open"
stopped "${PIPESTATUS[0]}" "the GPU tests"
echo "== basin"
LD_LIBRARY_PATH=$libs timeout "$(within 240)" "$b" 2>&1 | tee "$out/bench_gpu.log"
stopped "${PIPESTATUS[0]}" "bench_gpu"
echo "== PyTorch peer"
if python3 -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  timeout "$(within 120)" python3 bench/gpu/torch_peer.py 2>&1 | tee "$out/torch_peer.log"
  stopped "${PIPESTATUS[0]}" "the PyTorch peer"
else
  echo "PyTorch with CUDA is not installed here: no peer (its columns read nan)" | tee "$out/torch_peer.log"
fi
echo "== GPU tests with TF32 GEMMs (tolerance 1e-2)"
BASIN_TF32=1 LD_LIBRARY_PATH=$libs timeout "$(within 120)" "$t" --color_output=no 2>&1 | tee "$out/test_cuda_tf32.log" |
  tail -3
stopped "${PIPESTATUS[0]}" "the TF32 tests"
echo "== table"
python3 - "$out/bench_gpu.log" "$out/torch_peer.log" <<'PY'
import re, sys
basin = open(sys.argv[1]).read(); torch = open(sys.argv[2]).read()
def num(pat, text):
    m = re.search(pat, text)
    return float(m.group(1)) if m else float("nan")
gemm = num(r"cuBLAS SGEMM 4096\^3\s+([\d.]+)", basin)
print(f"{'measurement':44s} {'basin':>10s} {'PyTorch':>10s} {'ratio':>7s}")
def best(pat, text):
    v = [float(m) for m in re.findall(pat, text)]
    return max(v) if v else float("nan")
for d in (20, 56):
    for kind, unit in (("train step", "images/s"), ("sweep", "points/s")):
        if kind == "train step":
            b = num(rf"resnet{d}: train step [\d.]+ ms \(([\d.]+)", basin)
            t = num(rf"torch resnet{d} train step.*?\(([\d.]+)", torch)
        else:  # each at its faster batch (500 or 2000 images); basin as sweeps run by default
            b = best(rf"resnet{d}: sweep path \(Winograd, one kernel, tuned per conv[^)]*\) [\d.]+ ms per point \(([\d.]+)",
                     basin)
            t = best(rf"torch resnet{d} sweep[^(]*\(([\d.]+)", torch)
        print(f"resnet{d} {kind} ({unit}){'':{max(0, 26 - len(kind) - len(unit))}s} {b:10.1f} {t:10.1f} {b / t:7.2f}")
rate = best(r"resnet56: sweep path \(Winograd, one kernel, tuned per conv[^)]*\) [\d.]+ ms per point \([\d.]+ points/s, "
            r"([\d.]+) GFLOP/s", basin)
top = best(r"resnet56: sweep path \((?:Winograd, one kernel, variant \d|Winograd, separate kernels|im2col \+ GEMM)"
           r"[^)]*\) [\d.]+ ms per point \(([\d.]+)", basin)
print(f"resnet56 sweep, fastest single way (every conv alike): {top:.1f} points/s")
tuned = best(r"resnet56: sweep path \(Winograd, one kernel, tuned per conv[^)]*\) [\d.]+ ms per point \(([\d.]+)", basin)
strided = best(r"resnet56: sweep path \(strided convs by im2col[^)]*\) [\d.]+ ms per point \(([\d.]+)", basin)
print(f"resnet56 sweep, strided convs by the direct kernel / by im2col + GEMM: {tuned:.1f} / {strided:.1f} points/s "
      f"= {tuned / strided:.2f}x")
print(f"cuBLAS SGEMM 4096^3: {gemm:.0f} GFLOP/s; resnet56 sweep {rate:.0f} GFLOP/s as direct convolution = "
      f"{100 * rate / gemm:.0f}% of it (targets: >= 3x PyTorch's loop for resnet56, >= 50% of SGEMM)")
PY
