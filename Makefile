# dnafam build. `make` builds bin/dna (CPU backend); `make test` builds and runs every test;
# `make bench` runs the benchmarks. Toggles: SANITIZE=1 (ASan+UBSan, own build dir),
# DEBUG=1 (-O0 -g). CUDA=1 arrives with the CUDA issue (kernels/README.md).
CC      := mpicc
PKGS    := hdf5 libcjson inih openblas
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

LIB_SRC   := $(wildcard src/core/*.c src/tensor/*.c src/backend/cpu/*.c src/nn/*.c \
                        src/nas/*.c src/train/*.c src/io/*.c src/par/*.c)
LIB_OBJ   := $(LIB_SRC:%.c=$(OBJ)/%.o)
UNIT_SRC  := $(wildcard tests/unit/*.c)
BENCH_SRC := $(wildcard tests/bench/*.c)

.PHONY: all test bench clean format FORCE
all: $(BIN)/dna

$(OBJ)/%.o: %.c Makefile
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(OBJ)/libdna.a: $(LIB_OBJ)
	ar rcs $@ $^

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

$(BIN)/test_mpi: $(OBJ)/tests/mpi/test_mpi.o $(OBJ)/libdna.a
	@mkdir -p $(BIN)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BIN)/bench_%: $(OBJ)/tests/bench/bench_%.o $(OBJ)/libdna.a
	@mkdir -p $(BIN)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

test: $(BIN)/dna $(BIN)/test_unit $(BIN)/test_mpi
	tests/run.sh $(BIN)

bench: $(BENCH_SRC:tests/bench/%.c=$(BIN)/%)
	tests/bench/run.sh $(BIN)

format:
	clang-format -i $(shell git ls-files '*.c' '*.h')

clean:
	rm -rf build bin

-include $(shell find build -name '*.d' 2>/dev/null)
