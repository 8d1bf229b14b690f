#!/usr/bin/env bash
# bench/gpu/pack.sh <dir> [build folder, default build/release] — gathers test_cuda and bench_gpu,
# built on a machine with the CUDA toolkit but no GPU, into <dir> with the shared libraries they
# need that a GPU machine may lack (HDF5 and what it links, Boost.Test, libgomp, zlib, ...) in
# <dir>/lib, for `BASIN_PREBUILT=<dir> bench/gpu/run.sh` there.
#
# Left out: the C library and the compiler's runtime (libc, libm, libstdc++, libgcc_s, the
# loader: a GPU machine's own are as new or newer) and the CUDA libraries (cuBLAS alone is over
# 500 MB; run.sh takes them from the GPU machine's toolkit). Prints the size gathered.
set -euo pipefail
dir=${1:?usage: bench/gpu/pack.sh <dir> [build folder]}
build=${2:-build/release}
t=$build/tests/gpu/test_cuda
b=$build/bench/gpu/bench_gpu
for f in "$t" "$b"; do
  [ -x "$f" ] || { echo "pack.sh: $f is missing: cmake --build --preset release --target test_cuda bench_gpu" >&2; exit 1; }
done
mkdir -p "$dir/lib"
cp -f "$t" "$b" "$dir/"
# Their symbol tables are most of their size (test_cuda: 21 of 33 MB) and nothing needs them to
# run; the device code (.nv_fatbin) stays. The device tool carries 64 MiB in all.
strip --strip-unneeded "$dir/test_cuda" "$dir/bench_gpu"
skip='^(linux-vdso|ld-linux|libc\.so|libm\.so|libdl\.so|libpthread\.so|librt\.so|libresolv\.so|libutil\.so|'
skip+='libstdc\+\+\.so|libgcc_s\.so|libcuda\.so|libcudart\.so|libcublas\.so|libcublasLt\.so|libnvidia)'
ldd "$t" "$b" | awk '$2 == "=>" && $3 ~ /^\// {print $1, $3}' | sort -u | while read -r name path; do
  if [[ $name =~ $skip ]]; then continue; fi
  cp -fL "$path" "$dir/lib/$name"
done
if ldd "$t" "$b" | grep -q "not found"; then
  echo "pack.sh: a library is missing here:" >&2
  ldd "$t" "$b" | grep "not found" >&2
  exit 1
fi
echo "pack.sh: $(ls "$dir/lib" | wc -l) libraries, $(du -sh "$dir" | cut -f1) in $dir"
if [ "$(du -sm "$dir" | cut -f1)" -gt 56 ]; then
  echo "pack.sh: over 56 MiB: with the working tree it may not fit the 64 MiB a device run carries" >&2
fi
