#!/usr/bin/env bash
# Pack a CUDA build made on the build machine so it runs on a GPU machine that
# has a CUDA toolkit/driver but none of our Debian libraries:
#   bin/      elmrun, elm_cuda_tests, elm_nccl_tests (built where NCCL is found)
#   lib/      every shared library `ldd` names (HDF5, Boost, gtest, libpng, libgomp,
#             libstdc++, ...), except glibc's own (the target's glibc is used) and the
#             CUDA driver; CUDA toolkit libraries (cudart, cublas) only with --cuda-libs
#   golden/   the golden reference cases (shared/golden)
#   analysis/ the PyTorch port and its timing script (the GPU peer)
#   run.sh    wrapper: run.sh PROGRAM ARGS... with LD_LIBRARY_PATH set
# The finished pack is checked (check_pack in gpu_check_lib.sh: every file
# gpu_check needs, every library resolved inside it); --tar also writes
# OUT_DIR.tar.gz, which scripts/gpu_check.sh takes as it is. The archive is
# what travels to a GPU machine that is lent for a few minutes: it must stay
# under the 60 MiB one transfer carries (the directory itself is over 60 MiB).
#
# usage: scripts/gpu_pack.sh [--cuda-libs] [--tar] BUILD_DIR OUT_DIR
set -euo pipefail
cuda_libs=0
tar_too=0
while [[ "${1:-}" == --* ]]; do
  case $1 in
    --cuda-libs) cuda_libs=1 ;;
    --tar) tar_too=1 ;;
    *) echo "gpu_pack: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
if [[ $# -ne 2 ]]; then
  echo "usage: $0 [--cuda-libs] [--tar] BUILD_DIR OUT_DIR" >&2
  exit 2
fi
build=$(cd "$1" && pwd)
out=$2
src=$(cd "$(dirname "$0")/.." && pwd)
shared=${ELM_SHARED_DIR:-$src/../shared}

[[ -x "$build/elmrun" ]] || { echo "gpu_pack: $build/elmrun not found (build first)" >&2; exit 1; }
[[ -x "$build/tests/elm_cuda_tests" ]] || {
  echo "gpu_pack: $build/tests/elm_cuda_tests not found (configure with -DELM_ENABLE_CUDA=ON and build)" >&2
  exit 1
}
rm -rf "$out"
mkdir -p "$out/bin" "$out/lib" "$out/golden" "$out/analysis"
out=$(cd "$out" && pwd)

# What gpu_check runs, nothing more: the CPU test binaries (20 MiB) would push
# the pack over its transfer limit and check nothing the CPU machines do not.
bins=("$build/elmrun" "$build/tests/elm_cuda_tests")
# NCCL on one rank; without it in the build gpu_check names the missing binary.
if [[ -x "$build/tests/elm_nccl_tests" ]]; then bins+=("$build/tests/elm_nccl_tests"); fi
for b in "${bins[@]}"; do cp "$b" "$out/bin/"; done

# Libraries named by ldd. Skipped: the dynamic loader and glibc (must match the
# target's loader), the GPU driver (libcuda, libnvidia-*), and unless asked the
# CUDA toolkit's own libraries (the target has a toolkit; they are large).
skip='^(linux-vdso|ld-linux|libc\.so|libm\.so|libpthread|libdl\.so|librt\.so|libresolv|libutil\.so|libcuda\.so|libnvidia-)'
cuda_re='^(libcudart|libcublas|libcublasLt|libnccl|libnvJitLink)'
declare -A seen=()
for b in "${bins[@]}"; do
  while read -r name path; do
    [[ -z "$name" || -z "$path" || "$path" == "not" ]] && continue
    [[ "$name" =~ $skip ]] && continue
    if [[ "$name" =~ $cuda_re && $cuda_libs -eq 0 ]]; then continue; fi
    [[ -n "${seen[$name]:-}" ]] && continue
    seen[$name]=1
    cp -L "$path" "$out/lib/$name"
  done < <(ldd "$b" | awk '/=>/ {print $1, $3}')
done

if [[ -d "$shared/golden" ]]; then cp "$shared/golden/"*.h5 "$out/golden/"; fi
cp "$src/analysis/elm_torch.py" "$src/analysis/bench_torch_reference.py" "$out/analysis/"
# The GPU-vs-CPU training check (scripts/gpu_train_check.sh): its config, and the
# head of Debian's Fashion-MNIST files (12000 training, 2000 test images, still
# IDX and gzip) to prepare its store from, small enough for the pack.
mkdir -p "$out/scripts" "$out/configs" "$out/data/fashion-mnist"
cp "$src/scripts/gpu_train_check.sh" "$src/scripts/gpu_pack_sweep_check.sh" "$out/scripts/"
cp "$src/configs/sfmnist_pool2.ini" "$src/configs/synthetic_burst.ini" "$out/configs/"
fmnist_raw=${FMNIST_RAW:-/usr/share/datasets/fashion-mnist}
python3 - "$fmnist_raw" "$out/data/fashion-mnist" <<'PY'
import gzip, struct, sys
src, dst = sys.argv[1], sys.argv[2]
for name, keep in (("train-images-idx3-ubyte", 12000), ("train-labels-idx1-ubyte", 12000),
                   ("t10k-images-idx3-ubyte", 2000), ("t10k-labels-idx1-ubyte", 2000)):
    data = gzip.open(f"{src}/{name}.gz").read()
    ndim = data[3]
    dims = list(struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim]))
    item = 1
    for d in dims[1:]:
        item *= d
    dims[0] = min(dims[0], keep)
    head = data[:4] + struct.pack(f">{ndim}I", *dims)
    body = data[4 + 4 * ndim:4 + 4 * ndim + dims[0] * item]
    with gzip.open(f"{dst}/{name}.gz", "wb") as f:
        f.write(head + body)
PY

cat > "$out/run.sh" <<'RUN'
#!/usr/bin/env bash
# run.sh PROGRAM [ARGS...]: a packed binary with the packed libraries first, then the CUDA toolkit's.
here=$(cd "$(dirname "$0")" && pwd)
cuda=${CUDA_HOME:-/usr/local/cuda}
export LD_LIBRARY_PATH="$here/lib:$cuda/lib64:$cuda/lib:${LD_LIBRARY_PATH:-}"
export ELM_GOLDEN_DIR=${ELM_GOLDEN_DIR:-$here/golden}
prog=$1
shift
exec "$here/bin/$prog" "$@"
RUN
chmod +x "$out/run.sh"
{
  echo "packed $(date -u +%Y-%m-%dT%H:%M:%SZ) from $build (git $(git -C "$src" rev-parse --short HEAD 2>/dev/null || echo unknown))"
  echo "binaries: $(cd "$out/bin" && ls | tr '\n' ' ')"
  echo "libraries: $(cd "$out/lib" && ls | tr '\n' ' ')"
} > "$out/MANIFEST"
source "$src/scripts/gpu_check_lib.sh"
if ! problems=$(check_pack "$out" 0); then
  echo "gpu_pack: $out is incomplete:" >&2
  echo "$problems" >&2
  exit 1
fi
du -sh "$out" | awk '{print "gpu_pack: " $2 " (" $1 ")"}'
if [[ $tar_too -eq 1 ]]; then
  tar -czf "$out.tar.gz" -C "$(dirname "$out")" "$(basename "$out")"
  du -sh "$out.tar.gz" | awk '{print "gpu_pack: " $2 " (" $1 ")"}'
  # --cuda-libs packs cuBLAS (hundreds of MiB): over the transfer limit by design.
  if [[ $cuda_libs -eq 0 ]] && ! problems=$(check_archive_size "$out.tar.gz"); then
    echo "gpu_pack: $problems" >&2
    exit 1
  fi
fi
