# Makefile for dcgan. `make` builds ./dcgan; `make test` builds and runs the tests;
# `make test-asan` runs them under AddressSanitizer + UndefinedBehaviorSanitizer.
# Numeric code never uses fast-math; -ffp-contract=off keeps results identical across call sites.

CC      ?= cc
OPT     ?= -O3 -march=native
CFLAGS  += $(OPT) -fPIC -std=c11 -D_GNU_SOURCE -isystem /usr/include/stb -Wno-format-truncation -Wall -Wextra -Wno-unused-parameter -fopenmp -ffp-contract=off -g
LDLIBS  += -lopenblas -lstb -lgif -lz -lm -lpthread
BUILD   ?= build

# OpenBLAS's OpenMP flavour (Debian's libopenblas-openmp-dev) shares OpenMP's thread pool with our
# own loops and runs single-threaded inside our parallel regions. Debian can install the pthread
# flavour beside it (python3-torch pulls it in) and point the generic libopenblas.so.0 at either,
# so we link the OpenMP one by path and record that path (runpath) in the binary.
ARCH_TRIPLET := $(shell $(CC) -dumpmachine 2>/dev/null | sed 's/-pc-/-/')
BLAS_DIR := $(firstword $(wildcard /usr/lib/$(ARCH_TRIPLET)/openblas-openmp))
BLAS_INC := $(firstword $(wildcard /usr/include/$(ARCH_TRIPLET)/openblas-openmp /usr/include/openblas))
ifneq ($(BLAS_INC),)
CFLAGS  += -I$(BLAS_INC)
endif
ifneq ($(BLAS_DIR),)
LDLIBS  := -L$(BLAS_DIR) -Wl,-rpath,$(BLAS_DIR) $(LDLIBS)
endif

# oneDNN (Debian's libdnnl-dev) for CPU convolutions, when installed and DCGAN_NO_DNNL is not set.
ifeq ($(DCGAN_NO_DNNL),)
HAVE_DNNL := $(wildcard /usr/include/dnnl.h)
endif
ifneq ($(HAVE_DNNL),)
CFLAGS  += -DDCGAN_HAVE_DNNL
LDLIBS  += -ldnnl
endif

# MPI (Debian's libopenmpi-dev) for data-parallel training, when mpicc is there and DCGAN_NO_MPI is
# not set; without it the binary is single-process and refuses a distributed launch.
ifeq ($(DCGAN_NO_MPI),)
MPICC := $(shell command -v mpicc 2>/dev/null)
endif
ifneq ($(MPICC),)
CFLAGS  += -DDCGAN_HAVE_MPI $(shell mpicc --showme:compile)
LDLIBS  += $(shell mpicc --showme:link)
endif

# CUDA (cuDNN, cuBLAS) for --device cuda, when the toolkit is there and DCGAN_NO_CUDA is not set:
# sm_90 machine code (H100, H200) and PTX for newer GPUs. --fmad=false is the GPU's
# -ffp-contract=off; there is no fast-math. The backend is a plugin, libdcgan-cuda.so, that the
# program loads only for --device cuda: the CPU program neither needs the CUDA libraries nor pays
# for loading them.
CUDA_HOME ?= /usr/local/cuda
ifeq ($(DCGAN_NO_CUDA),)
NVCC := $(firstword $(wildcard $(CUDA_HOME)/bin/nvcc))
endif
# A toolkit without cuDNN (a separate install), or older than the backend needs (CUDA 12, cuDNN 9),
# builds the CPU program alone, with one line saying why, instead of failing the whole build.
ifneq ($(NVCC),)
CUDNN_VERSION_H := $(firstword $(wildcard $(CUDA_HOME)/include/cudnn_version.h /usr/include/cudnn_version.h \
	/usr/include/$(ARCH_TRIPLET)/cudnn_version.h))
CUDA_RELEASE := $(shell $(NVCC) --version 2>/dev/null | sed -n 's/.*release \([0-9][0-9]*\)\..*/\1/p')
CUDNN_MAJOR := $(if $(CUDNN_VERSION_H),$(shell awk '$$2 == "CUDNN_MAJOR" { print $$3 }' $(CUDNN_VERSION_H)))
CUDA_SKIP := $(shell \
	if [ -z "$(CUDNN_VERSION_H)" ]; then echo "no cuDNN (cudnn_version.h) beside the CUDA toolkit in $(CUDA_HOME)"; \
	elif [ "$(CUDA_RELEASE)" -lt 12 ] 2>/dev/null || [ -z "$(CUDA_RELEASE)" ]; then echo "$(NVCC) is CUDA $(CUDA_RELEASE), older than 12"; \
	elif [ "$(CUDNN_MAJOR)" -lt 9 ] 2>/dev/null || [ -z "$(CUDNN_MAJOR)" ]; then echo "$(CUDNN_VERSION_H) is cuDNN $(CUDNN_MAJOR), older than 9"; fi)
ifneq ($(CUDA_SKIP),)
$(warning building without the CUDA backend (--device cuda): $(CUDA_SKIP); install CUDA 13 with cuDNN 9 to build it, or set DCGAN_NO_CUDA=1 to silence this)
NVCC :=
endif
endif
NVCCFLAGS ?= -O3 -std=c++17 --fmad=false -gencode arch=compute_90,code=sm_90 -gencode arch=compute_90,code=compute_90 \
	-Xcompiler -fPIC,-fvisibility=hidden,-Wall,-Wno-deprecated-declarations,-Wno-unused-parameter -diag-suppress 1444 -g
CUDA_PLUGIN ?= libdcgan-cuda.so
CUDA_LIBS := -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcudnn -lcublas -lcudart -lstdc++
# NCCL (gradient all-reduce between GPUs under mpirun) when its header is there and DCGAN_NO_NCCL is
# not set. The plugin opens libnccl.so.2 at run time, not at load: where it is missing, ranks average
# gradients through MPI on the host.
ifeq ($(DCGAN_NO_NCCL),)
ifneq ($(wildcard $(CUDA_HOME)/include/nccl.h /usr/include/nccl.h),)
NVCCFLAGS += -DDCGAN_HAVE_NCCL
CUDA_LIBS += -ldl
endif
endif
LDLIBS  += -ldl
ifneq ($(NVCC),)
$(BUILD)/src/backends/registry.o: CFLAGS += -DDCGAN_HAVE_CUDA
$(BUILD)/tests/test_cuda.o: CFLAGS += -DDCGAN_HAVE_CUDA -isystem $(CUDA_HOME)/include
$(BUILD)/tests/test_cuda: LDLIBS += -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcudart
CUDA_TARGET := $(CUDA_PLUGIN)
endif

.DEFAULT_GOAL := all

# What the build was configured with (compilers, flags, and so which of oneDNN, MPI, CUDA and NCCL
# were found), kept in $(BUILD)/config: every object and program depends on it, and it is rewritten
# only when the configuration changes, so that installing a library after a build (or changing OPT)
# rebuilds what was compiled without it instead of linking old objects into a new program.
BUILD_CONFIG := $(BUILD)/config
BUILD_CONFIG_NOW := $(CC) $(CFLAGS) | $(LDLIBS) | $(NVCC) $(NVCCFLAGS) $(CUDA_LIBS) | $(CXX)
ifneq ($(file <$(BUILD_CONFIG)),$(BUILD_CONFIG_NOW))
$(shell mkdir -p $(BUILD))
$(file >$(BUILD_CONFIG),$(BUILD_CONFIG_NOW))
endif

# The CUDA backend emulated on the CPU (tests/cuda_emu): cuda.cu's own kernels and host code built
# by the host C++ compiler against the toolkit's headers, the CUDA runtime and cuBLAS emulated, no
# cuDNN; `make test` runs every op but the convolutions through it on a machine without a GPU.
# Needs only the headers (CUDA 13 with cuDNN 9 in CUDA_HOME).
CXX ?= c++
ifneq ($(wildcard $(CUDA_HOME)/include/cudnn.h),)
ifneq ($(wildcard $(CUDA_HOME)/include/cublas_v2.h),)
CUDA_EMU := $(BUILD)/cuda-emu/libdcgan-cuda.so
endif
endif
EMU_CXXFLAGS := -std=c++17 -O2 -g -fPIC -ffp-contract=off -Wall -Wextra -Wno-unused-parameter -Wno-sign-compare \
	$(filter -fsanitize=% -fno-sanitize-recover=% -fno-omit-frame-pointer,$(OPT)) \
	-DDCGAN_CUDA_EMU -include tests/cuda_emu/cuda_emu.h -isystem $(CUDA_HOME)/include
$(BUILD)/cuda-emu/cuda.o: src/backends/cuda.cu tests/cuda_emu/cuda_emu.h $(wildcard src/*/*.h src/backends/*.h) $(BUILD_CONFIG)
	@mkdir -p $(dir $@)
	$(CXX) $(EMU_CXXFLAGS) -x c++ -c -o $@ $<
$(BUILD)/cuda-emu/emu_runtime.o: tests/cuda_emu/emu_runtime.cpp tests/cuda_emu/cuda_emu.h $(BUILD_CONFIG)
	@mkdir -p $(dir $@)
	$(CXX) $(EMU_CXXFLAGS) -c -o $@ $<
$(BUILD)/cuda-emu/libdcgan-cuda.so: $(BUILD)/cuda-emu/cuda.o $(BUILD)/cuda-emu/emu_runtime.o $(BUILD)/plugin/util.o
	$(CXX) $(filter -fsanitize=%,$(OPT)) -shared -Wl,-Bsymbolic -o $@ $^ -lpthread

LIB_SRC := $(wildcard src/core/*.c src/backends/*.c src/models/*.c src/train/*.c src/data/*.c src/io/*.c src/api/*.c src/dist/*.c src/eval/*.c)
CLI_SRC := $(wildcard src/cli/*.c)
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ := $(CLI_SRC:%.c=$(BUILD)/%.o)
TESTS   := test_layers test_conv_paths test_gradcheck test_train test_data test_eval test_cuda test_ops
TEST_BIN := $(TESTS:%=$(BUILD)/tests/%)
TEST_COMMON := $(BUILD)/tests/fixture.o

.PHONY: all test test-asan clean bench install
all: dcgan libdcgan.so $(CUDA_TARGET)

# libdcgan: the engine as a library (include/dcgan.h is its public API); the dcgan command is
# linked against the same code. The shared library exports only the dcgan_* functions.
LIB_VERSION := 1.0.0
$(BUILD)/libdcgan.a: $(LIB_OBJ)
	rm -f $@ && ar rcs $@ $^

libdcgan.so: $(LIB_OBJ) src/api/libdcgan.map
	$(CC) $(CFLAGS) -shared -Wl,-soname,libdcgan.so.1 -Wl,--version-script=src/api/libdcgan.map -o $@ $(LIB_OBJ) $(LDLIBS)

dcgan: $(CLI_OBJ) $(BUILD)/libdcgan.a
	$(CC) $(CFLAGS) -o $@ $(CLI_OBJ) $(BUILD)/libdcgan.a $(LDLIBS)

# The same program built without MPI (only the distributed layer differs), for the test that such a
# build refuses a distributed launch with one line.
$(BUILD)/nompi/dist.o: src/dist/dist.c src/dist/dist.h $(BUILD_CONFIG)
	@mkdir -p $(dir $@)
	$(CC) $(filter-out -DDCGAN_HAVE_MPI,$(CFLAGS)) -c -o $@ $<
dcgan-nompi: $(CLI_OBJ) $(BUILD)/nompi/dist.o $(BUILD)/libdcgan.a
	$(CC) $(CFLAGS) -o $@ $(CLI_OBJ) $(BUILD)/nompi/dist.o $(BUILD)/libdcgan.a $(LDLIBS)

# The same program built with MPI whatever DCGAN_NO_MPI says (only the distributed layer differs),
# for tools/gpu_bundle.sh, which ships it beside the MPI-less dcgan with an Open MPI of its own.
MPI_COMPILE = $(shell mpicc --showme:compile)
MPI_LINK = $(shell mpicc --showme:link)
DCGAN_MPI_BIN ?= dcgan-mpi
$(BUILD)/mpi/dist.o: src/dist/dist.c src/dist/dist.h $(BUILD_CONFIG)
	@mkdir -p $(dir $@)
	$(CC) $(filter-out -DDCGAN_HAVE_MPI,$(CFLAGS)) -DDCGAN_HAVE_MPI $(MPI_COMPILE) -c -o $@ $<
$(DCGAN_MPI_BIN): $(CLI_OBJ) $(BUILD)/mpi/dist.o $(BUILD)/libdcgan.a
	$(CC) $(CFLAGS) -o $@ $(CLI_OBJ) $(BUILD)/mpi/dist.o $(BUILD)/libdcgan.a $(LDLIBS) $(MPI_LINK)

# The same program built without oneDNN (only the CPU backend differs: im2col + OpenBLAS), for the
# test that such a build compiles, trains and refuses --precision bf16 with one line.
$(BUILD)/nodnnl/cpu.o: src/backends/cpu.c $(wildcard src/*/*.h) $(BUILD_CONFIG)
	@mkdir -p $(dir $@)
	$(CC) $(filter-out -DDCGAN_HAVE_DNNL,$(CFLAGS)) -c -o $@ $<
dcgan-nodnnl: $(CLI_OBJ) $(BUILD)/nodnnl/cpu.o $(BUILD)/libdcgan.a
	$(CC) $(CFLAGS) -o $@ $(CLI_OBJ) $(BUILD)/nodnnl/cpu.o $(BUILD)/libdcgan.a $(LDLIBS)

# make install PREFIX=/usr/local (DESTDIR for staging): the command, the library (shared and
# static), its header, a pkg-config file and the man page.
PREFIX ?= /usr/local
install: dcgan libdcgan.so $(BUILD)/libdcgan.a
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include \
		$(DESTDIR)$(PREFIX)/share/man/man1
	install -m 755 dcgan $(DESTDIR)$(PREFIX)/bin/dcgan
	[ ! -f $(CUDA_PLUGIN) ] || install -m 755 $(CUDA_PLUGIN) $(DESTDIR)$(PREFIX)/lib/libdcgan-cuda.so
	install -m 755 libdcgan.so $(DESTDIR)$(PREFIX)/lib/libdcgan.so.$(LIB_VERSION)
	ln -sf libdcgan.so.$(LIB_VERSION) $(DESTDIR)$(PREFIX)/lib/libdcgan.so.1
	ln -sf libdcgan.so.1 $(DESTDIR)$(PREFIX)/lib/libdcgan.so
	install -m 644 $(BUILD)/libdcgan.a $(DESTDIR)$(PREFIX)/lib/libdcgan.a
	install -m 644 include/dcgan.h $(DESTDIR)$(PREFIX)/include/dcgan.h
	install -m 644 docs/dcgan.1 $(DESTDIR)$(PREFIX)/share/man/man1/dcgan.1
	install -d $(DESTDIR)$(PREFIX)/share/dcgan
	install -m 644 models/*.safetensors $(DESTDIR)$(PREFIX)/share/dcgan/
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(LIB_VERSION)|g' -e 's|@PRIVATE@|$(LDLIBS)|g' \
		tools/dcgan.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/dcgan.pc

$(BUILD)/src/backends/cuda.o: src/backends/cuda.cu $(wildcard src/*/*.h) $(BUILD_CONFIG)
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCCFLAGS) -c -o $@ $<

# The plugin carries its own copy of the error helpers and exports backend_cuda_create alone.
$(BUILD)/plugin/util.o: src/core/util.c src/core/util.h $(BUILD_CONFIG)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fvisibility=hidden -c -o $@ $<
$(CUDA_PLUGIN): $(BUILD)/src/backends/cuda.o $(BUILD)/plugin/util.o
	$(CC) -shared -o $@ $^ $(CUDA_LIBS)

$(BUILD)/%.o: %.c $(wildcard src/*/*.h tests/*.h) $(BUILD_CONFIG)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(TEST_COMMON) $(LIB_OBJ)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

# bench/gpu/kernel_trace.c's report, checked without a GPU or CUPTI (its self-test)
KERNEL_TRACE_TEST := $(BUILD)/tests/kernel_trace_selftest
$(KERNEL_TRACE_TEST): bench/gpu/kernel_trace.c $(BUILD_CONFIG)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DKERNEL_TRACE_SELFTEST -o $@ $<

test: all dcgan-nompi dcgan-nodnnl $(TEST_BIN) $(KERNEL_TRACE_TEST) $(CUDA_EMU) fuzz
	@bash tests/run_tests.sh $(BUILD) ./dcgan $(FUZZ_BUILD)

# The same tests with sanitizers, in their own build folder and binary.
test-asan:
	$(MAKE) BUILD=build-asan OPT="-O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all" \
		DCGAN_BIN=dcgan-asan build-asan-all
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 DCGAN_TEST_SANITIZED=1 \
		bash tests/run_tests.sh build-asan ./dcgan-asan

DCGAN_BIN ?= dcgan
build-asan-all: $(TEST_BIN) $(KERNEL_TRACE_TEST) $(CLI_OBJ) $(LIB_OBJ) $(CUDA_EMU)
	$(CC) $(CFLAGS) -o $(DCGAN_BIN) $(CLI_OBJ) $(LIB_OBJ) $(LDLIBS)

clean:
	rm -rf build build-asan build-fuzz dcgan dcgan-asan dcgan-nompi dcgan-nodnnl dcgan-mpi libdcgan.so libdcgan-cuda.so

# ---- fuzzing (libFuzzer, clang) ----
# `make fuzz` builds one target per parser of outside input; `make fuzz-smoke` runs each for
# FUZZ_SECONDS from its committed seed corpus (tests/fuzz/corpus/NAME); a finding fails the run.
FUZZERS := fuzz_idx fuzz_image fuzz_checkpoint fuzz_npy fuzz_cli fuzz_safetensors
FUZZ_SECONDS ?= 5
FUZZ_BUILD := build-fuzz
FUZZ_CFLAGS := -O1 -g -std=c11 -D_GNU_SOURCE -isystem /usr/include/stb -fopenmp -ffp-contract=off \
	-fsanitize=address,undefined -fno-sanitize-recover=all $(filter -I% -D%,$(CFLAGS))
FUZZ_LIB_OBJ := $(LIB_SRC:%.c=$(FUZZ_BUILD)/%.o) $(FUZZ_BUILD)/src/cli/opts.o

$(FUZZ_BUILD)/%.o: %.c $(wildcard src/*/*.h) $(BUILD_CONFIG)
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZ_BUILD)/%: tests/fuzz/%.c $(FUZZ_LIB_OBJ) tests/fuzz/fuzz_common.h
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_LIB_OBJ) $(LDLIBS)

.PHONY: fuzz fuzz-smoke
fuzz: $(FUZZERS:%=$(FUZZ_BUILD)/%)

fuzz-smoke: fuzz
	@bash tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZERS)
