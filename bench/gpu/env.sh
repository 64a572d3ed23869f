# bench/gpu/env.sh: sourced by the GPU scripts. Sets DCGAN (the dcgan binary) and BIN (the folder of
# the test programs): the bundle that tools/gpu_bundle.sh made on the development machine when it
# is there (unpacked into /tmp), else a build here; and LD_LIBRARY_PATH for the bundle's libraries
# and, where /usr/local/cuda has no cuDNN (or the system no NCCL), those of PyTorch's wheels.
if [ -f gpu-bundle/dcgan-gpu.tar.gz ]; then
    # unpacked once per bundle: a warm machine's second call may carry a rebuilt one
    sum=$(cksum <gpu-bundle/dcgan-gpu.tar.gz)
    if [ ! -x /tmp/dcgan-gpu/bin/dcgan ] || [ "$(cat /tmp/dcgan-gpu/.bundle-sum 2>/dev/null)" != "$sum" ]; then
        rm -rf /tmp/dcgan-gpu && tar -C /tmp -xzf gpu-bundle/dcgan-gpu.tar.gz && echo "$sum" >/tmp/dcgan-gpu/.bundle-sum || return 1
    fi
    export LD_LIBRARY_PATH=/tmp/dcgan-gpu/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
    DCGAN=/tmp/dcgan-gpu/bin/dcgan
    BIN=/tmp/dcgan-gpu/bin
else
    make -j"$(nproc)" dcgan build/tests/test_cuda build/tests/test_layers build/tests/test_train build/tests/test_gradcheck \
        build/tests/test_ops || return 1
    DCGAN=./dcgan
    BIN=build/tests
fi
sp=$(python3 -c 'import site; print(site.getsitepackages()[0])' 2>/dev/null)
if [ ! -e /usr/local/cuda/lib64/libcudnn.so.9 ]; then
    export LD_LIBRARY_PATH=$LD_LIBRARY_PATH:$sp/nvidia/cudnn/lib:$sp/nvidia/cu13/lib:$sp/nvidia/cublas/lib:$sp/nvidia/cuda_runtime/lib
fi
# NCCL, opened at run time by the CUDA plugin: PyTorch's wheel where the system has none
if ! ldconfig -p 2>/dev/null | grep -q libnccl.so.2 && [ ! -e /usr/local/cuda/lib64/libnccl.so.2 ] && [ -n "$sp" ]; then
    export LD_LIBRARY_PATH=$LD_LIBRARY_PATH:$sp/nvidia/nccl/lib:$sp/nvidia/cu13/lib
fi
