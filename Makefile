# dnafam build. `make` builds bin/dna (CPU backend); `make test` builds and runs every test;
# `make bench` runs the benchmarks; `make fuzz` builds the fuzz targets (tests/fuzz, clang).
# Toggles: SANITIZE=1 (ASan+UBSan, own build dir), DEBUG=1 (-O0 -g), CUDA=1 (adds the CUDA
# backend and bin test_gpu; own build dir build/cuda with its binaries in build/cuda/bin;
# CUDA_HOME picks the toolkit; cuDNN and NCCL are looked for in CUDA_HOME, then CUDNN_HOME /
# NCCL_HOME, then the Python wheels nvidia-cudnn-* / nvidia-nccl-* of $(PYTHON), and
# `make CUDA=1 discover` says what was found), DEVICE_ONLY=1 (implies CUDA=1: only what a
# bare GPU machine can build, for tests/gpu/device_check.sh: test_gpu, bench_cell_train and
# bench_rate_shared in build/device/bin, compiled with cc and no MPI (src/par/par_serial.c,
# one rank), OpenBLAS (the plain C GEMM of src/backend/cpu/cpu_gemm.c), HDF5 or cJSON (no
# src/io, stages or readers); -march=x86-64-v3, so it may be built here and carried there).
ifeq ($(DEVICE_ONLY),1)
  ifeq ($(origin CUDA),command line)
    $(if $(filter 1,$(CUDA)),,$(error DEVICE_ONLY=1 is a CUDA build: drop CUDA=$(CUDA)))
  endif
  CUDA    := 1
  CC      := cc
  PKGS    :=
  ARCH    ?= -march=x86-64-v3
  DEPS    := -MD -MP  # system headers too: tests/gpu/offline_check.sh reads what came in
else
  CC      := mpicc
  PKGS    := hdf5 libcjson openblas
  ARCH    ?= -march=native
  DEPS    := -MMD -MP
endif
# -fno-math-errno -fno-trapping-math change no result (we never read errno or FP flags) but
# let GCC vectorise loops with compares, sqrt and rounding.
CFLAGS  := -std=c11 -D_GNU_SOURCE -Wall -Wextra -fopenmp -fno-math-errno -fno-trapping-math $(ARCH) -Isrc \
           $(if $(PKGS),$(shell pkg-config --cflags $(PKGS)))
LDLIBS  := $(if $(PKGS),$(shell pkg-config --libs $(PKGS)) -lz) -lm
LDFLAGS := -fopenmp
# "-dirty" when the tree has uncommitted changes: an output made by such a build says so
GIT_REV := $(shell git describe --always --dirty --abbrev=7 2>/dev/null || echo unknown)

ifeq ($(SANITIZE),1)
  MODE    := san
  # -O2: the tiny run's training stages 15-20% faster than at -O1, every check still on
  CFLAGS  += -O2 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
  LDFLAGS += -fsanitize=address,undefined
else ifeq ($(DEBUG),1)
  MODE    := debug
  CFLAGS  += -O0 -g
else
  MODE    := release
  CFLAGS  += -O3 -g
endif

OBJ := build/$(MODE)
BIN := $(if $(filter release,$(MODE)),bin,build/$(MODE)/bin)

# CUDA=1: kernels/*.cu (nvcc) and src/backend/cuda/*.c join the library. Objects and
# binaries go to their own tree, so a CPU build never links a CUDA object or finds a
# CUDA-linked binary in bin/ (make would not relink it: its inputs look older).
ifeq ($(CUDA),1)
  CUDA_HOME ?= /usr/local/cuda
  PYTHON    ?= python3
  NVCC      := $(CUDA_HOME)/bin/nvcc
  # SASS for H100/H200 plus PTX that newer GPUs compile at load time
  CUDA_GENCODE ?= -gencode arch=compute_90,code=sm_90 -gencode arch=compute_90,code=compute_90
  NVFLAGS   := -O3 -std=c++17 -lineinfo $(CUDA_GENCODE) -Xcompiler -Wall,-Wextra
  CFLAGS    += -I$(CUDA_HOME)/include -Ikernels -DDNA_CUDA
  # cuDNN and NCCL: the first of these folders with the header in include/; python runs only
  # when neither CUDA_HOME nor *_HOME has it. A wheel's package may be a namespace package
  # (no __file__), hence __path__.
  comma     := ,
  home_with  = $(firstword $(foreach d,$(2),$(if $(wildcard $(d)/include/$(1)),$(d))))
  wheel_dirs = $(shell $(PYTHON) -c 'import nvidia.$(1) as m; print(*m.__path__)' 2>/dev/null)
  lib_dir    = $(firstword $(foreach l,$(1)/lib64 $(1)/lib,$(if $(wildcard $(l)/lib$(2).so*),$(l))))
  # -lNAME where the unversioned link exists, else the versioned file itself (wheels ship
  # libcudnn.so.9 alone); NAME alone when the library was not found (the linker's defaults)
  lib_link   = $(if $(1),$(if $(wildcard $(1)/lib$(2).so),-l$(2),-l:$(notdir $(firstword \
               $(sort $(wildcard $(1)/lib$(2).so.*))))),-l$(2))
  # -I, and -L with rpath, for a library found outside the toolkit (whose own come first/last)
  inc_path   = $(if $(filter-out $(CUDA_HOME),$(1)),-I$(1)/include)
  lib_path   = $(if $(filter-out $(CUDA_HOME)/lib64,$(1)),-L$(1) -Wl$(comma)-rpath$(comma)$(1))
  CUDNN_HOME_FOUND := $(call home_with,cudnn.h,$(CUDA_HOME) $(CUDNN_HOME))
  ifeq ($(CUDNN_HOME_FOUND),)
    CUDNN_HOME_FOUND := $(call home_with,cudnn.h,$(call wheel_dirs,cudnn))
  endif
  NCCL_HOME_FOUND := $(call home_with,nccl.h,$(CUDA_HOME) $(NCCL_HOME))
  ifeq ($(NCCL_HOME_FOUND),)
    NCCL_HOME_FOUND := $(call home_with,nccl.h,$(call wheel_dirs,nccl))
  endif
  CUDNN_LIB := $(call lib_dir,$(CUDNN_HOME_FOUND),cudnn)
  NCCL_LIB  := $(call lib_dir,$(NCCL_HOME_FOUND),nccl)
  CFLAGS    += $(call inc_path,$(CUDNN_HOME_FOUND))
  LDLIBS    += $(call lib_path,$(CUDNN_LIB)) $(call lib_link,$(CUDNN_LIB),cudnn)
  # NCCL for rank groups when its header is there (NCCL=0 forces without: groups then sum
  # gradients through host memory and MPI)
  NCCL      ?= $(if $(NCCL_HOME_FOUND)$(wildcard /usr/include/nccl.h),1,0)
  ifeq ($(NCCL),1)
    CFLAGS  += -DDNA_NCCL $(call inc_path,$(NCCL_HOME_FOUND))
    LDLIBS  += $(call lib_path,$(NCCL_LIB)) $(call lib_link,$(NCCL_LIB),nccl)
  endif
  LDLIBS    += -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcublas -lcudart -lstdc++
  OBJ       := build/$(if $(filter 1,$(DEVICE_ONLY)),device,cuda)$(if $(filter release,$(MODE)),,-$(MODE))
  BIN       := $(OBJ)/bin
endif

ifeq ($(DEVICE_ONLY),1)
  # what test_gpu and the two benchmarks link, nothing that needs MPI, HDF5, cJSON or BLAS
  LIB_SRC := $(wildcard src/core/*.c src/tensor/*.c src/backend/*.c src/backend/cpu/*.c) \
             src/nn/convbn.c src/nn/mbconv.c src/nn/param.c src/nn/projector.c src/nn/se.c \
             src/nn/tfblock.c src/nn/vitstage.c src/nas/cell.c src/nas/rate.c src/nas/student.c \
             src/nas/vitcell.c src/train/cell_step.c src/train/optim.c src/par/par_serial.c \
             src/par/signals.c
  CFLAGS  += -DDNA_NO_MPI -DDNA_NO_BLAS
  DEVICE_BINS := $(BIN)/test_gpu $(BIN)/bench_cell_train $(BIN)/bench_rate_shared
else
  LIB_SRC := $(filter-out src/par/par_serial.c,$(wildcard src/core/*.c src/tensor/*.c \
               src/backend/*.c src/backend/cpu/*.c src/nn/*.c src/nas/*.c src/io/*.c \
               src/train/*.c src/stages/*.c src/par/*.c))
endif
LIB_OBJ   := $(LIB_SRC:%.c=$(OBJ)/%.o)
ifeq ($(CUDA),1)
  LIB_OBJ += $(patsubst %.c,$(OBJ)/%.o,$(wildcard src/backend/cuda/*.c)) \
             $(patsubst %.cu,$(OBJ)/%.o,$(wildcard kernels/*.cu))
endif
UNIT_SRC  := $(wildcard tests/unit/*.c tests/ops/*.c)
BENCH_SRC := $(wildcard tests/bench/*.c)

.PHONY: all test bench clean format discover FORCE
all: $(if $(DEVICE_BINS),$(DEVICE_BINS),$(BIN)/dna)

$(OBJ)/%.o: %.c Makefile
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(DEPS) -c $< -o $@

# The CPU kernels fuse a * b + c into one FMA instruction (as nvcc does on the GPU): -std=c11
# turns contraction off, which halved the depthwise and BN + swish loops' throughput.
$(OBJ)/src/backend/cpu/%.o: CFLAGS += -ffp-contract=fast

ifeq ($(CUDA),1)
all: $(BIN)/test_gpu

$(OBJ)/kernels/%.o: kernels/%.cu Makefile
	@mkdir -p $(dir $@)
	$(NVCC) $(NVFLAGS) $(DEPS) -c $< -o $@

# what the CUDA build found (tests/gpu/device_check.sh prints it)
discover:
	@echo "nvcc:  $(NVCC)$(if $(wildcard $(NVCC)),, (missing))"
	@echo "cuBLAS: $(or $(firstword $(wildcard $(CUDA_HOME)/lib64/libcublas.so*)),MISSING in $(CUDA_HOME)/lib64)"
	@echo "cuDNN: $(or $(CUDNN_HOME_FOUND),not in CUDA_HOME / CUDNN_HOME / wheels: the compiler's default paths)$(if $(CUDNN_LIB), lib $(CUDNN_LIB))"\
	      "link $(call lib_link,$(CUDNN_LIB),cudnn)"
	@echo "NCCL:  $(if $(filter 1,$(NCCL)),$(or $(NCCL_HOME_FOUND),the compiler's default paths)$(if $(NCCL_LIB), lib $(NCCL_LIB))"\
	      "link $(call lib_link,$(NCCL_LIB),nccl),none: groups sum through host memory)"

$(BIN)/test_gpu: $(patsubst %.c,$(OBJ)/%.o,$(wildcard tests/gpu/*.c tests/ops/*.c)) $(OBJ)/libdna.a
	@mkdir -p $(BIN)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@
endif

$(OBJ)/libdna.a: $(LIB_OBJ)
	rm -f $@ && ar rcs $@ $^

# main.o carries the git revision: rebuilt every time so `dna version` never lies
$(OBJ)/src/main.o: src/main.c Makefile FORCE
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DDNA_GIT_REV='"$(GIT_REV)"' -MMD -MP -c $< -o $@
FORCE:

$(BIN)/dna: $(OBJ)/src/main.o $(OBJ)/libdna.a
	@mkdir -p $(BIN)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BIN)/test_unit: $(UNIT_SRC:%.c=$(OBJ)/%.o) $(OBJ)/libdna.a
	@mkdir -p $(BIN)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

# deliberate leaks for the runner's self-test (tests/run_selftest.sh)
$(BIN)/test_leaks: $(OBJ)/tests/selftest/leaks.o $(OBJ)/tests/unit/harness.o $(OBJ)/libdna.a
	@mkdir -p $(BIN)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BIN)/test_mpi: $(OBJ)/tests/mpi/test_mpi.o $(OBJ)/libdna.a
	@mkdir -p $(BIN)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BIN)/bench_%: $(OBJ)/tests/bench/bench_%.o $(OBJ)/libdna.a
	@mkdir -p $(BIN)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

ifneq ($(DEVICE_ONLY),1)
# make fuzz: the libFuzzer targets of tests/fuzz (one per reader of outside data), built with
# clang, ASan and UBSan in their own tree build/fuzz; the library is instrumented for coverage
# (fuzzer-no-link), each target links libFuzzer's main. tests/fuzz/run.sh runs them.
FUZZ_CC     ?= clang
FUZZ_OBJ    := build/fuzz
FUZZ_SAN    := -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -Wall -Wextra -fopenmp $(ARCH) -O1 -g -fno-omit-frame-pointer \
               -Wno-pass-failed -Wno-missing-field-initializers $(FUZZ_SAN) -Isrc -Itests/fuzz $(shell mpicc -showme:compile 2>/dev/null) \
               $(shell pkg-config --cflags $(PKGS))
FUZZ_LDLIBS := $(shell mpicc -showme:link 2>/dev/null) $(LDLIBS)
FUZZ_LIB    := $(LIB_SRC:%.c=$(FUZZ_OBJ)/%.o)
FUZZ_SRC    := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN    := $(FUZZ_SRC:tests/fuzz/%.c=$(FUZZ_OBJ)/bin/%)

.PHONY: fuzz
fuzz: $(FUZZ_BIN)

$(FUZZ_OBJ)/%.o: %.c Makefile
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

$(FUZZ_OBJ)/libdna.a: $(FUZZ_LIB)
	rm -f $@ && ar rcs $@ $^

$(FUZZ_OBJ)/bin/fuzz_%: $(FUZZ_OBJ)/tests/fuzz/fuzz_%.o $(FUZZ_OBJ)/tests/fuzz/fuzz.o $(FUZZ_OBJ)/libdna.a
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -fopenmp $(FUZZ_SAN) -fsanitize=fuzzer $^ $(FUZZ_LDLIBS) -o $@
endif

# the benchmarks are built by `make test` too, so that a change cannot break them unseen
test: $(BIN)/dna $(BIN)/test_unit $(BIN)/test_mpi $(BIN)/test_leaks $(BENCH_SRC:tests/bench/%.c=$(BIN)/%)
	tests/run.sh $(BIN)

bench: $(BENCH_SRC:tests/bench/%.c=$(BIN)/%)
	tests/bench/run.sh $(BIN)

format:
	clang-format -i $(shell git ls-files '*.c' '*.h')

clean:
	rm -rf build bin

-include $(shell find build -name '*.d' 2>/dev/null)
