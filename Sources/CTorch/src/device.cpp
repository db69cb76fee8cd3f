// Devices: the code decoder, loading libtorch's CUDA kernels, moving and querying tensors, autocast, and the switch
// that sends CPU tensors down the libtorch route (for tests).
//
// libtorch registers its CUDA kernels and hooks from static initialisers in libtorch_cuda.so. A binary linked with
// --as-needed against only the symbols it uses (libtorch_cpu, libc10) never loads that library, so CUDA would look
// absent even on a CUDA build. As tch-rs does, the shim makes sure it is loaded: at the first device query it opens
// libtorch_cuda.so from the directory of the libtorch_cpu.so this process runs, RTLD_GLOBAL so that its kernels
// register with the dispatcher everyone shares. A CPU-only libtorch has no such file: CUDA is then a clear error.
#include "internal.h"

#include <ATen/Parallel.h>
#include <ATen/autocast_mode.h>
#include <ATen/detail/CUDAHooksInterface.h>

#include <dlfcn.h>
#include <sys/stat.h>

#include <atomic>
#include <cstring>

namespace {

struct CudaState {
    int device_count = 0;
    std::string problem;  // why CUDA cannot be used ("" when device_count > 0)
};

std::string directory_of(const std::string &path) {
    auto slash = path.rfind('/');
    return slash == std::string::npos ? "." : path.substr(0, slash);
}

CudaState probe_cuda() {
    CudaState state;
    Dl_info info{};
    // Any function defined in libtorch_cpu.so names the file this process loaded it from.
    if (dladdr(reinterpret_cast<void *>(&at::get_num_threads), &info) == 0 || info.dli_fname == nullptr) {
        state.problem = "cannot locate the loaded libtorch_cpu (dladdr failed)";
        return state;
    }
    const std::string cpu_library = info.dli_fname, directory = directory_of(cpu_library);
    const std::string cuda_library = directory + "/libtorch_cuda.so";
    struct stat st {};
    if (stat(cuda_library.c_str(), &st) != 0) {
        state.problem = "this libtorch has no CUDA support (" + cpu_library +
                        " has no libtorch_cuda.so beside it); use a CUDA build via LIBTORCH=DIR (a CUDA libtorch, e.g. the "
                        "torch/ directory of a CUDA build of PyTorch) and scripts/setup.sh, see docs/devices.md";
        return state;
    }
    if (dlopen(cuda_library.c_str(), RTLD_NOW | RTLD_GLOBAL) == nullptr) {
        const char *why = dlerror();
        state.problem = "this libtorch's CUDA part cannot be loaded (" + cuda_library + ": " +
                        (why ? why : "unknown dlopen error") +
                        "); the CUDA runtime libraries it needs (the nvidia-* packages a CUDA PyTorch installs "
                        "beside torch/) must be found";
        return state;
    }
    if (!at::detail::getCUDAHooks().hasCUDA()) {
        state.problem = "libtorch has CUDA support (" + cuda_library +
                        ") but sees no usable GPU (no device visible, or no driver matching its CUDA version)";
        return state;
    }
    state.device_count = at::detail::getCUDAHooks().getNumGPUs();
    if (state.device_count == 0) state.problem = "libtorch has CUDA support but sees no GPU";
    return state;
}

// Probed once, at the first device query: a process that never asks for CUDA never opens libtorch_cuda.
const CudaState &cuda_state() {
    static const CudaState state = probe_cuda();
    return state;
}

std::atomic<bool> shim_kernels{true};

at::DeviceType device_type_of(int code) { return code == MR_DEVICE_CPU ? at::kCPU : at::kCUDA; }

int code_of(const at::Device &device) {
    if (device.is_cpu()) return MR_DEVICE_CPU;
    if (device.is_cuda()) return device.has_index() ? device.index() : 0;
    throw std::invalid_argument("tensor on unsupported device " + device.str());
}

} // namespace

at::Device mr::device_of(int code) {
    if (code == MR_DEVICE_CPU) return at::Device(at::kCPU);
    if (code < 0) throw std::invalid_argument("invalid device code " + std::to_string(code));
    const auto &cuda = cuda_state();
    if (cuda.device_count == 0) throw std::runtime_error("cuda:" + std::to_string(code) + ": " + cuda.problem);
    if (code >= cuda.device_count)
        throw std::invalid_argument("cuda:" + std::to_string(code) + ": only " + std::to_string(cuda.device_count) +
                                    " CUDA device(s) visible (cuda:0 … cuda:" + std::to_string(cuda.device_count - 1) +
                                    ")");
    return at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(code));
}

bool mr::shim_kernels_enabled() { return shim_kernels.load(std::memory_order_relaxed); }

extern "C" {

int mr_cuda_device_count(int *out) {
    PROTECT({
        if (out == nullptr) throw std::invalid_argument("null output pointer");
        *out = cuda_state().device_count;
    })
}

int mr_cuda_problem(char *buffer, size_t capacity) {
    PROTECT({
        if (buffer == nullptr || capacity == 0) throw std::invalid_argument("empty output buffer");
        const std::string &s = cuda_state().problem;
        const size_t n = std::min(s.size(), capacity - 1);
        std::memcpy(buffer, s.data(), n);
        buffer[n] = '\0';
    })
}

int mr_cuda_capability(int device, int *major, int *minor) {
    PROTECT({
        if (major == nullptr || minor == nullptr) throw std::invalid_argument("null output pointer");
        mr::device_of(device);  // loads CUDA and checks the index
        // The CUDA runtime that libtorch_cuda brought in answers through its stable C entry point.
        using Attribute = int (*)(int *, int, int);
        auto attribute = reinterpret_cast<Attribute>(dlsym(RTLD_DEFAULT, "cudaDeviceGetAttribute"));
        if (attribute == nullptr) throw std::runtime_error("the CUDA runtime exports no cudaDeviceGetAttribute");
        constexpr int kMajor = 75, kMinor = 76;  // cudaDevAttrComputeCapabilityMajor / Minor
        if (attribute(major, kMajor, device) != 0 || attribute(minor, kMinor, device) != 0)
            throw std::runtime_error("cudaDeviceGetAttribute failed for cuda:" + std::to_string(device));
    })
}

int mr_tensor_device(mr_tensor t, int *out) {
    PROTECT({
        if (out == nullptr) throw std::invalid_argument("null output pointer");
        *out = code_of(mr::T(t).device());
    })
}

int mr_synchronize(int device) {
    PROTECT({
        const auto d = mr::device_of(device);
        if (d.is_cuda()) at::detail::getCUDAHooks().deviceSynchronize(d.index());
    })
}

int mr_to_device(mr_tensor *out, mr_tensor t, int device) { RETURN_TENSOR(out, mr::T(t).to(mr::device_of(device))) }

int mr_set_autocast(int device, int enabled, int dtype, int *previous) {
    PROTECT({
        const auto type = device_type_of(device);
        if (type == at::kCUDA) mr::device_of(device);  // loads CUDA or explains why not
        if (previous) *previous = at::autocast::is_autocast_enabled(type) ? 1 : 0;
        if (enabled) at::autocast::set_autocast_dtype(type, mr::scalar_type(dtype));
        at::autocast::set_autocast_enabled(type, enabled != 0);
        // Casts cached inside a region belong to it (weights change between steps).
        if (!enabled) at::autocast::clear_cache();
    })
}

int mr_set_shim_kernels(int enabled, int *previous) {
    PROTECT({
        const bool before = shim_kernels.exchange(enabled != 0);
        if (previous) *previous = before ? 1 : 0;
    })
}

} // extern "C"
