#!/usr/bin/env bash
# tests/gpu/device_check.sh on this machine dressed as a bare GPU machine, to prove before a
# GPU is lent that the check builds there and gets as far as it can without a device:
#  - PATH: the system's programs without MPI's (mpicc, mpirun, ...), nvcc from CUDA_HOME;
#  - pkg-config knows no package (PKG_CONFIG_LIBDIR an empty folder): no HDF5, OpenBLAS, cJSON;
#  - CUDA_HOME a copy of the toolkit made of links, without any cuDNN or NCCL file;
#  - cuDNN (and NCCL where this machine has it) only as Python wheels on PYTHONPATH:
#    site/nvidia/cudnn (a namespace package, versioned libraries only: libcudnn.so.9) and
#    site/nvidia/nccl (a regular package);
#  - a clean environment (env -i) and a copy of the tree, so a fresh build/device.
# The system's headers and libraries stay visible to the compiler and linker (MPI, HDF5,
# cblas.h, cJSON; on the project machine even cudnn.h in /usr/local/include and libcudnn
# through ld.so.conf), so the build's dependency files (-MD: system headers listed too) and
# ldd of the binaries must show that none of MPI, HDF5, BLAS or cJSON came in, and that
# cuDNN and NCCL came from the wheels (headers, rpath, loaded libraries). device_check.sh must end with exit 3, "no CUDA device visible",
# and for that reason only. Its bench lines' arithmetic is checked on made-up logs.
# Usage: tests/gpu/offline_check.sh   (needs nvcc: CUDA_HOME, default /usr/local/cuda)
set -u
cd "$(dirname "$0")/../.." || exit 1
REAL=$(readlink -f "${CUDA_HOME:-/usr/local/cuda}")
[ -x "$REAL/bin/nvcc" ] || { echo "no nvcc in $REAL: nothing to check"; exit 1; }
TMP=$(mktemp -d /tmp/dna-offline.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
pass=0 fail=0
check() {  # check DESCRIPTION COMMAND...: one result line
    if "${@:2}" >/dev/null 2>&1; then
        pass=$((pass + 1))
        echo "ok   $1"
    else
        fail=$((fail + 1))
        echo "FAIL $1"
    fi
}
none_of() {  # none_of PATTERN FILE...: no line of the files matches
    ! grep -E -q "$1" "${@:2}"
}

# ---- the toolkit without cuDNN and NCCL
C=$TMP/cuda
mkdir -p "$C/bin" "$C/include" "$C/lib" "$C/targets/x86_64-linux"
for f in "$REAL"/bin/*; do ln -s "$f" "$C/bin/"; done
rm "$C/bin/nvcc" && cp "$REAL/bin/nvcc" "$C/bin/nvcc"  # its own folder is the toolkit it uses
for f in "$REAL"/include/*; do
    case $(basename "$f") in cudnn* | nccl*) ;; *) ln -s "$f" "$C/include/" ;; esac
done
for f in "$(readlink -f "$REAL/lib64")"/*; do
    case $(basename "$f") in libcudnn* | libnccl*) ;; *) ln -s "$f" "$C/lib/" ;; esac
done
ln -s lib "$C/lib64"
ln -s "$REAL/nvvm" "$C/nvvm"
ln -s ../../include "$C/targets/x86_64-linux/include"
ln -s ../../lib "$C/targets/x86_64-linux/lib"

# ---- the wheels: headers and the versioned libraries only, as nvidia-cudnn-cu13 ships them
SITE=$TMP/site
W=$SITE/nvidia/cudnn
mkdir -p "$W/include" "$W/lib"
for f in "$REAL"/include/cudnn*; do ln -s "$f" "$W/include/"; done
for f in "$(readlink -f "$REAL/lib64")"/libcudnn*.so.[0-9]*; do ln -s "$f" "$W/lib/"; done
NCCL_H=""
for f in "$REAL/include/nccl.h" /usr/include/nccl.h; do
    [ -z "$NCCL_H" ] && [ -f "$f" ] && NCCL_H=$f
done
if [ -n "$NCCL_H" ]; then
    N=$SITE/nvidia/nccl
    mkdir -p "$N/include" "$N/lib"
    touch "$N/__init__.py"
    for f in "$(dirname "$NCCL_H")"/nccl*; do ln -s "$f" "$N/include/"; done
    for f in "$(readlink -f "$REAL/lib64")"/libnccl.so.[0-9]* /usr/lib/x86_64-linux-gnu/libnccl.so.[0-9]*; do
        [ -e "$f" ] && ln -sf "$f" "$N/lib/"
    done
fi

# ---- PATH without MPI; python3 the interpreter this script's python3 is
P=$TMP/path
mkdir -p "$P" "$TMP/pkgconfig-empty"
for d in /usr/local/sbin /usr/local/bin /usr/sbin /usr/bin /sbin /bin; do
    for f in "$d"/*; do
        b=$(basename "$f")
        case $b in mpi* | ompi* | orte* | opal* | oshrun | oshcc | h5pcc* | nvcc | nvidia-smi) continue ;; esac
        [ -x "$f" ] && [ ! -e "$P/$b" ] && ln -s "$f" "$P/$b"
    done
done
ln -sf "$(python3 -c 'import sys; print(sys.executable)')" "$P/python3"

# ---- a copy of the tree (tracked and new files), so the build starts from nothing
mkdir -p "$TMP/repo"
git ls-files -co --exclude-standard -z | xargs -0 tar -cf - | tar -xf - -C "$TMP/repo"

ENV=(env -i HOME="$HOME" TMPDIR=/tmp LANG=C PATH="$P:$C/bin" CUDA_HOME="$C" PYTHONPATH="$SITE"
     PKG_CONFIG_LIBDIR="$TMP/pkgconfig-empty" PKG_CONFIG_PATH="$TMP/pkgconfig-empty")
echo "== the mimicked machine"
check "no mpicc or mpirun on PATH" "${ENV[@]}" bash -c '! command -v mpicc && ! command -v mpirun'
check "pkg-config knows none of hdf5, openblas, libcjson" "${ENV[@]}" bash -c \
    '! pkg-config --exists hdf5 && ! pkg-config --exists openblas && ! pkg-config --exists libcjson'
check "CUDA_HOME has no cuDNN or NCCL file" bash -c "! ls '$C'/include/ '$C'/lib/ | grep -E -q 'cudnn|nccl'"
check "cuDNN's wheel is a namespace package (no __file__)" "${ENV[@]}" python3 -c \
    'import nvidia.cudnn as m; assert m.__file__ is None'

echo "== tests/gpu/device_check.sh in it"
t=$(date +%s)
(cd "$TMP/repo" && "${ENV[@]}" BUDGET=450 tests/gpu/device_check.sh "$TMP/out") >"$TMP/check.log" 2>&1
rc=$?
secs=$(($(date +%s) - t))
sed -n '/==== dna CUDA device check/,$p' "$TMP/check.log"
echo "(device_check.sh: exit $rc after $secs s)"
O=$TMP/out
D=$TMP/repo/build/device
check "device_check exits 3 (built, no device) and says why" \
    bash -c "[ $rc -eq 3 ] && grep -q '^test: *NO CUDA DEVICE VISIBLE' '$TMP/check.log'"
check "the build succeeded" grep -q '^build: *ok' "$TMP/check.log"
check "discovery found cuDNN in the wheel" grep -q "^discovery: *cuDNN [0-9.]* at $W;" "$TMP/check.log"
if [ -n "$NCCL_H" ]; then
    check "discovery found NCCL in the wheel" grep -q "NCCL [0-9.]* at $N\$" "$TMP/check.log"
fi
check "no apt-get, sudo or mpicc ran" none_of 'apt-get|sudo|mpicc' "$TMP/check.log" "$O/build.log"
check "cuDNN linked as the versioned file (-l:libcudnn.so.9)" grep -q -- '-l:libcudnn\.so\.[0-9]' "$O/build.log"
check "every binary was built" ls "$D/bin/test_gpu" "$D/bin/bench_cell_train" "$D/bin/bench_rate_shared"
find "$D" -name '*.d' -exec cat {} + >"$TMP/deps"  # every object's headers, system ones too
check "the .d files list system headers (so the next check means something)" grep -q '/stdio\.h' "$TMP/deps"
check "no mpi.h, hdf5.h, H5*.h, cblas.h or cJSON.h was included" \
    none_of '(/|^| )(mpi|hdf5|H5[A-Za-z]*|cblas|cJSON)\.h' "$TMP/deps"
check "cudnn.h came from the wheel" grep -q "$W/include/cudnn.h" "$TMP/deps"
grep -oE '[^ ]*/(cudnn|nccl)[^ /]*\.h' "$TMP/deps" | sort -u | grep -v "^$SITE/" >"$TMP/deps.other"
check "no cuDNN or NCCL header came from anywhere else" test ! -s "$TMP/deps.other"
for b in test_gpu bench_cell_train bench_rate_shared; do
    "${ENV[@]}" ldd "$D/bin/$b" >"$TMP/ldd.$b" 2>&1
    check "$b links no MPI, HDF5, OpenBLAS, cJSON or zlib" none_of 'libmpi|libhdf5|libopenblas|libcjson|libz\.' "$TMP/ldd.$b"
    check "$b finds libcudnn in the wheel" grep -q "libcudnn\.so\.[0-9]* => $W/lib/" "$TMP/ldd.$b"
    [ -n "$NCCL_H" ] && check "$b finds libnccl in the wheel" grep -q "libnccl\.so\.[0-9]* => $N/lib/" "$TMP/ldd.$b"
    check "$b's rpath names the wheel" bash -c "readelf -d '$D/bin/$b' | grep -E 'R(UN)?PATH' | grep -q '$W/lib'"
done
check "the test_gpu that ran said no device (skip), nothing else" \
    bash -c "grep -q '^skip gpu: no CUDA device visible' '$O/test_gpu.log' && grep -q '^0 passed, 0 failed, 1 skipped' '$O/test_gpu.log'"
check "the device steps were skipped for want of a device" \
    bash -c "[ \$(grep -c 'skipped (no CUDA device visible)' '$TMP/check.log') -ge 4 ]"

echo "== the bench lines' arithmetic (made-up logs in the programs' formats)"
F=$TMP/fake
mkdir -p "$F"
cat >"$F/bench.log" <<'EOF'
bench cell_train backend=cuda img_per_s=3000.0 ms_per_step=21.3 min_ms=20.0 max_ms=25.0 steps=30 batch=64 first_loss=4.9 last_loss=4.7
bench rate_shared_w3 backend=cuda paths=1296 images=64 shared_s=1.00 paths_per_s=1296.0 layer_evals_per_batch=1554
EOF
echo '{"w1_cell_train": {"images_per_s_median": 2000.0}, "w3_cell_rate_shared": {"paths_per_s": 900.0}, "w3r_cell_rate_shared_recal": {"paths_per_s": 648.0}}' >"$F/anchor_fp32.json"
echo '{"w1_cell_train": {"images_per_s_median": 2400.0}, "w3_cell_rate_shared": {"paths_per_s": 950.0}, "w3r_cell_rate_shared_recal": {"paths_per_s": 720.0}}' >"$F/anchor_tf32.json"
tests/gpu/device_check.sh --ratios "$F" | tee "$TMP/ratios"
check "W1: 3000 vs 2000 FP32 = 1.50x, vs 2400 TF32 = 1.25x" \
    grep -q '^bench_w1 ours 3000.0 img/s: 1.50x PyTorch FP32 (2000.0), 1.25x TF32 (2400.0)' "$TMP/ratios"
check "W3: 1296 vs W3R 648 FP32 = 2.00x, vs 720 TF32 = 1.80x" \
    grep -q '^bench_w3 ours 1296.0 paths/s: 2.00x PyTorch W3R FP32 (648.0), 1.80x TF32 (720.0)' "$TMP/ratios"

echo "offline check: $pass passed, $fail failed (device_check.sh took $secs s)"
[ $fail -eq 0 ]
