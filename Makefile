# dnafam build. `make` builds bin/dna (CPU backend); `make test` builds and runs every test;
# `make bench` runs the benchmarks; `make fuzz` builds the fuzz targets (tests/fuzz, clang).
# Toggles: SANITIZE=1 (ASan+UBSan, own build dir), DEBUG=1 (-O0 -g), CUDA=1 (adds the CUDA
# backend and bin test_gpu; own build dir build/cuda with its binaries in build/cuda/bin;
# CUDA_HOME picks the toolkit).
CC      := mpicc
PKGS    := hdf5 libcjson openblas
ARCH    ?= -march=native
# -fno-math-errno -fno-trapping-math change no result (we never read errno or FP flags) but
# let GCC vectorise loops with compares, sqrt and rounding.
CFLAGS  := -std=c11 -D_GNU_SOURCE -Wall -Wextra -fopenmp -fno-math-errno -fno-trapping-math $(ARCH) -Isrc \
           $(shell pkg-config --cflags $(PKGS))
LDLIBS  := $(shell pkg-config --libs $(PKGS)) -lz -lm
LDFLAGS := -fopenmp
GIT_REV := $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)

ifeq ($(SANITIZE),1)
  MODE    := san
  CFLAGS  += -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
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
  NVCC      := $(CUDA_HOME)/bin/nvcc
  # SASS for H100/H200 plus PTX that newer GPUs compile at load time
  CUDA_GENCODE ?= -gencode arch=compute_90,code=sm_90 -gencode arch=compute_90,code=compute_90
  NVFLAGS   := -O3 -std=c++17 -lineinfo $(CUDA_GENCODE) -Xcompiler -Wall,-Wextra
  CFLAGS    += -I$(CUDA_HOME)/include -Ikernels -DDNA_CUDA
  # NCCL for rank groups when its header is there (NCCL=0 forces without: groups then sum
  # gradients through host memory and MPI)
  NCCL      ?= $(if $(wildcard $(CUDA_HOME)/include/nccl.h /usr/include/nccl.h),1,0)
  ifeq ($(NCCL),1)
    CFLAGS  += -DDNA_NCCL
    LDLIBS  += -lnccl
  endif
  LDLIBS    += -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcudnn -lcublas -lcudart -lstdc++
  OBJ       := build/cuda$(if $(filter release,$(MODE)),,-$(MODE))
  BIN       := $(OBJ)/bin
endif

LIB_SRC   := $(wildcard src/core/*.c src/tensor/*.c src/backend/*.c src/backend/cpu/*.c src/nn/*.c \
                        src/nas/*.c src/io/*.c src/train/*.c src/stages/*.c src/par/*.c)
LIB_OBJ   := $(LIB_SRC:%.c=$(OBJ)/%.o)
ifeq ($(CUDA),1)
  LIB_OBJ += $(patsubst %.c,$(OBJ)/%.o,$(wildcard src/backend/cuda/*.c)) \
             $(patsubst %.cu,$(OBJ)/%.o,$(wildcard kernels/*.cu))
endif
UNIT_SRC  := $(wildcard tests/unit/*.c tests/ops/*.c)
BENCH_SRC := $(wildcard tests/bench/*.c)

.PHONY: all test bench clean format FORCE
all: $(BIN)/dna

$(OBJ)/%.o: %.c Makefile
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

ifeq ($(CUDA),1)
all: $(BIN)/test_gpu

$(OBJ)/kernels/%.o: kernels/%.cu Makefile
	@mkdir -p $(dir $@)
	$(NVCC) $(NVFLAGS) -MMD -MP -c $< -o $@

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

test: $(BIN)/dna $(BIN)/test_unit $(BIN)/test_mpi $(BIN)/test_leaks
	tests/run.sh $(BIN)

bench: $(BENCH_SRC:tests/bench/%.c=$(BIN)/%)
	tests/bench/run.sh $(BIN)

format:
	clang-format -i $(shell git ls-files '*.c' '*.h')

clean:
	rm -rf build bin

-include $(shell find build -name '*.d' 2>/dev/null)
