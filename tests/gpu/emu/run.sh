#!/usr/bin/env bash
# Runs test_gpu on a machine without a GPU: kernels/*.cu compiled as C++ for the CPU (one
# fiber per CUDA thread), the CUDA runtime, cuDNN, cuBLAS and NCCL replaced by host
# stand-ins (tests/gpu/emu/mock_*.c; NCCL by MPI), everything else the objects of
# `make CUDA=1`. It checks the kernels' indexing, reductions, barriers and the backend's
# sequencing against the CPU backend: streams are deferred and run out of issue order
# where events allow (mock_cudart.c), launch configurations are checked as the driver does
# (cudaGetLastError), pinned memory is known, and convolutions and GEMMs accumulate in
# float. It says nothing about cuDNN, cuBLAS or speed. --asan adds AddressSanitizer to the kernels
# with exact-size allocations (slow: minutes).
# Usage: tests/gpu/emu/run.sh [--asan] [TEST_FILTER]   (after make CUDA=1)
set -eu
cd "$(dirname "$0")/../../.."
CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
asan=0
[ "${1:-}" = --asan ] && asan=1 && shift
W=build/cuda/emu
mkdir -p "$W/k"
python3 tests/gpu/emu/transform.py kernels "$W/k"
cp tests/gpu/emu/emu.h "$W/k/"
SAN=""
[ $asan = 1 ] && SAN="-fsanitize=address -fno-omit-frame-pointer -g"
CXXF="-std=c++17 -O2 -march=native -Wno-unused-parameter -I$W/k -I$CUDA_HOME/include $SAN"
for f in "$W"/k/*.cpp; do g++ $CXXF -c "$f" -o "${f%.cpp}.o"; done
g++ $CXXF -c tests/gpu/emu/emu_sched.cpp -o "$W/emu_sched.o"
for m in tests/gpu/emu/mock_*.c; do
    mpicc -std=c11 -O2 -Wall -Wextra -I"$CUDA_HOME/include" $SAN -c "$m" -o "$W/$(basename "$m" .c).o"
done
objs=$(find build/cuda/src -name '*.o' ! -name main.o)
if [ $asan = 1 ]; then
    gcc -std=c11 -O1 -Isrc -Ikernels -I"$CUDA_HOME/include" $SAN -c tests/gpu/emu/pool_exact.c \
        -o "$W/pool_exact.o"
    objs="$(echo "$objs" | grep -v cuda_pool.o) $W/pool_exact.o"
fi
# shellcheck disable=SC2086
mpicc -fopenmp $SAN $objs build/cuda/tests/gpu/*.o build/cuda/tests/ops/*.o "$W"/k/*.o \
    "$W/emu_sched.o" "$W"/mock_*.o $(pkg-config --libs hdf5 libcjson openblas) -lz -lm -lstdc++ -o "$W/test_gpu_emu"
# the whole program on the emulated device too (tests/gpu/emu/pipeline.sh runs it)
# shellcheck disable=SC2086
mpicc -fopenmp $SAN build/cuda/src/main.o $objs "$W"/k/*.o "$W/emu_sched.o" "$W"/mock_*.o \
    $(pkg-config --libs hdf5 libcjson openblas) -lz -lm -lstdc++ -o "$W/dna"
filter=${1:-}
# the pool tests (gpu_pool_*, gpu_stream_*recycled*) count on its reuse of blocks, which
# exact-size allocation ends
[ $asan = 1 ] && [ -z "$filter" ] &&
    filter=gpu_op_,gpu_conv2d_plan,gpu_memory,gpu_cell
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0} "$W/test_gpu_emu" $filter
